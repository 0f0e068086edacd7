// idle_tracker.h — model clean for one worker: processes with an idle timeout sit in an
// LRU list per timeout value, so finding the expired ones looks only at list heads and a
// message moves its process to the tail in O(1) — no per-process OS timer.
#pragma once

#include <cstdint>
#include <vector>

#include "behavior/actor.h"

namespace behavior::detail {

class IdleTracker {
 public:
  void add(Actor* a, int64_t now_ns);  // a->idle_ns_ > 0
  void touch(Actor* a, int64_t now_ns);
  void remove(Actor* a);
  // Appends to `out` (and unlinks) every process idle longer than its timeout × scale.
  void expired(int64_t now_ns, double scale, std::vector<Actor*>* out);
  size_t size() const { return size_; }

 private:
  struct List {
    int64_t idle_ns;
    Actor* head = nullptr;
    Actor* tail = nullptr;
  };
  void link_tail(List& l, Actor* a);
  void unlink(List& l, Actor* a);
  std::vector<List> lists_;
  size_t size_ = 0;
};

}  // namespace behavior::detail
