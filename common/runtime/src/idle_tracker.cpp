// idle_tracker.cpp — see idle_tracker.h.
#include "idle_tracker.h"

namespace behavior::detail {

void IdleTracker::link_tail(List& l, Actor* a) {
  a->idle_prev_ = l.tail;
  a->idle_next_ = nullptr;
  if (l.tail) {
    l.tail->idle_next_ = a;
  } else {
    l.head = a;
  }
  l.tail = a;
}

void IdleTracker::unlink(List& l, Actor* a) {
  if (a->idle_prev_) {
    a->idle_prev_->idle_next_ = a->idle_next_;
  } else {
    l.head = a->idle_next_;
  }
  if (a->idle_next_) {
    a->idle_next_->idle_prev_ = a->idle_prev_;
  } else {
    l.tail = a->idle_prev_;
  }
  a->idle_prev_ = a->idle_next_ = nullptr;
}

void IdleTracker::add(Actor* a, int64_t now_ns) {
  size_t i = 0;
  while (i < lists_.size() && lists_[i].idle_ns != a->idle_ns_) ++i;
  if (i == lists_.size()) lists_.push_back(List{a->idle_ns_});
  a->idle_list_ = static_cast<uint16_t>(i);
  a->last_active_ns_ = now_ns;
  link_tail(lists_[i], a);
  ++size_;
}

void IdleTracker::touch(Actor* a, int64_t now_ns) {
  a->last_active_ns_ = now_ns;
  List& l = lists_[a->idle_list_];
  if (l.tail == a) return;
  unlink(l, a);
  link_tail(l, a);
}

void IdleTracker::remove(Actor* a) {
  unlink(lists_[a->idle_list_], a);
  --size_;
}

void IdleTracker::expired(int64_t now_ns, double scale, std::vector<Actor*>* out) {
  for (List& l : lists_) {
    auto limit = static_cast<int64_t>(static_cast<double>(l.idle_ns) * scale);
    while (l.head && now_ns - l.head->last_active_ns_ >= limit) {
      Actor* a = l.head;
      unlink(l, a);
      --size_;
      a->idle_ns_ = 0;  // no longer tracked
      out->push_back(a);
    }
  }
}

}  // namespace behavior::detail
