// timer_queue.h — one worker's timers: a min-heap of deadlines plus a map by id, so a timer
// is cancelled in O(1) and one sleep covers them all (no OS timer per process).
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

#include "behavior/message.h"

namespace behavior::detail {

struct Timer {
  Pid target;
  uint32_t proto_id = 0;
  Body body;
  int64_t period_ns = 0;     // > 0: periodic tick
  uint64_t call_request = 0;  // != 0: the timeout of this call of `target`
  int64_t deadline_ns = 0;
};

class TimerQueue {
 public:
  explicit TimerQueue(uint64_t id_base) : next_id_(id_base + 1) {}

  uint64_t add(int64_t deadline_ns, Timer t);
  bool cancel(uint64_t id);
  // Earliest pending deadline, or INT64_MAX.
  int64_t next_deadline();
  // Calls fire(id, timer) for each timer due at `now`; one-shot timers are removed first,
  // periodic ones re-armed after (unless fire cancelled them). Returns how many fired.
  size_t fire_due(int64_t now_ns, const std::function<void(uint64_t, Timer&)>& fire);
  size_t size() const { return timers_.size(); }

 private:
  using Entry = std::pair<int64_t, uint64_t>;  // deadline, id
  void compact();
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
  std::unordered_map<uint64_t, Timer> timers_;
  uint64_t next_id_;
};

}  // namespace behavior::detail
