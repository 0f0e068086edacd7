// timer_wheel.h — when each KCP session next needs a flush (the gateway's UDP sessions, the
// bench's UDP clients). A session with data in flight needs a visit only when a
// retransmission or a window probe comes due (ACKs and new data leave at once, on input and
// on send). Visiting every such session every 10 ms cost
// the gateway O(sessions in flight) per tick: with 500k sessions and a round of heartbeats
// through a lossy burst, the ticks took the core the socket needed, the socket dropped
// more, and more sessions waited for retransmissions (a collapse). The wheel makes a tick
// cost O(sessions due in it).
//
// A hashed wheel of `slots` buckets of `tick_ms` each. An item is in at most one bucket: it
// records the tick it waits for in its `wheel_tick` member (0 = none). Scheduling an item
// that already waits for an earlier tick keeps that entry (the visit finds nothing due and
// reschedules); a later entry is moved. Times past the wheel's span wait in the last
// bucket and are rescheduled from there. Not thread-safe: one loop owns it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace behavior {

template <class T>
class TimerWheel {
 public:
  TimerWheel(size_t slots, uint64_t tick_ms) : slots_(slots), tick_ms_(tick_ms) {}

  // The clock's current time, before the first schedule(): the first tick advance() visits
  // is the one after it. (Without it, the first advance() starts the wheel.)
  void start(uint64_t now_ms) {
    if (next_ == 0) next_ = now_ms / tick_ms_ + 1;
  }

  // Visits at or after `at_ms` (loop milliseconds), within a tick.
  void schedule(T* item, uint64_t at_ms) {
    uint64_t tick = (at_ms + tick_ms_ - 1) / tick_ms_;  // the first tick not before at_ms
    if (next_ == 0) start(at_ms);  // not started: at_ms stands for now
    tick = std::clamp(tick, next_, next_ + slots_.size() - 1);
    if (item->wheel_tick != 0) {
      if (item->wheel_tick <= tick) return;
      cancel(item);
    }
    item->wheel_tick = tick;
    slots_[tick % slots_.size()].push_back(item);
    ++size_;
  }

  void cancel(T* item) {
    if (item->wheel_tick == 0) return;
    auto& slot = slots_[item->wheel_tick % slots_.size()];
    if (auto it = std::find(slot.begin(), slot.end(), item); it != slot.end()) {
      *it = slot.back();
      slot.pop_back();
      --size_;
    }
    item->wheel_tick = 0;
  }

  // Calls visit(item) for every item whose tick has come by `now_ms`, its entry already
  // removed (visit may schedule it again, or cancel others).
  template <class Visit>
  void advance(uint64_t now_ms, Visit visit) {
    const uint64_t now_tick = now_ms / tick_ms_;
    start(now_ms);
    // Behind by more than a turn (the loop was stalled): one pass over every bucket.
    if (now_tick >= next_ + slots_.size()) next_ = now_tick + 1 - slots_.size();
    while (next_ <= now_tick) {
      auto& slot = slots_[next_ % slots_.size()];
      due_.swap(slot);
      ++next_;
      for (T* item : due_) item->wheel_tick = 0;
      size_ -= due_.size();
      for (T* item : due_) visit(item);
      due_.clear();
    }
  }

  size_t size() const { return size_; }

 private:
  std::vector<std::vector<T*>> slots_;
  std::vector<T*> due_;  // the bucket being visited
  uint64_t tick_ms_;
  uint64_t next_ = 0;  // the next tick advance() visits
  size_t size_ = 0;
};

}  // namespace behavior
