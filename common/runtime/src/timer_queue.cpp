// timer_queue.cpp — see timer_queue.h. Cancelled entries stay in the heap until they surface
// or until the heap grows to twice the live timers, when it is rebuilt.
#include "timer_queue.h"

#include <climits>

namespace behavior::detail {

uint64_t TimerQueue::add(int64_t deadline_ns, Timer t) {
  uint64_t id = next_id_++;
  t.deadline_ns = deadline_ns;
  timers_.emplace(id, std::move(t));
  heap_.emplace(deadline_ns, id);
  if (heap_.size() > 2 * timers_.size() + 1024) compact();
  return id;
}

bool TimerQueue::cancel(uint64_t id) { return timers_.erase(id) > 0; }

int64_t TimerQueue::next_deadline() {
  while (!heap_.empty()) {
    auto [deadline, id] = heap_.top();
    auto it = timers_.find(id);
    if (it != timers_.end() && it->second.deadline_ns == deadline) return deadline;
    heap_.pop();  // cancelled, or a stale entry of a re-armed periodic timer
  }
  return INT64_MAX;
}

size_t TimerQueue::fire_due(int64_t now_ns, const std::function<void(uint64_t, Timer&)>& fire) {
  size_t fired = 0;
  while (next_deadline() <= now_ns) {
    uint64_t id = heap_.top().second;
    heap_.pop();
    auto it = timers_.find(id);
    ++fired;
    if (it->second.period_ns == 0) {
      Timer t = std::move(it->second);
      timers_.erase(it);
      fire(id, t);
      continue;
    }
    // Periodic ticks carry no body; fire a copy, as fire() may add timers (rehashing).
    Timer tick{it->second.target, it->second.proto_id, Body{}, it->second.period_ns, 0,
               it->second.deadline_ns};
    fire(id, tick);
    it = timers_.find(id);  // fire() may have cancelled it
    if (it == timers_.end()) continue;
    int64_t next = it->second.deadline_ns + it->second.period_ns;
    if (next <= now_ns) next = now_ns + it->second.period_ns;  // fell behind: do not burst
    it->second.deadline_ns = next;
    heap_.emplace(next, id);
  }
  return fired;
}

void TimerQueue::compact() {
  std::vector<Entry> live;
  live.reserve(timers_.size());
  for (auto& [id, t] : timers_) live.emplace_back(t.deadline_ns, id);
  heap_ = decltype(heap_)(std::greater<>(), std::move(live));
}

}  // namespace behavior::detail
