// wakeup.h — how another thread wakes a sleeping worker: an eventfd the worker's libuv loop
// watches, and a flag that lets one waker per sleep write to it.
//
// Why not uv_async_send: its receiving side spins (997 compare-exchanges, then sched_yield,
// in a loop) while the sending thread is between its two steps, and on a busy 2-core
// machine the sender is often preempted right there, inside the write(). In a cross-worker
// pingpong on a loaded machine 56% of the CPU went to that spin (perf, issue 18), and the
// rate fell from 1.4M to 20k msg/s. Here a waker that loses the race does nothing, and the
// sleeper never waits for a waker.
#pragma once

#include <uv.h>

#include <atomic>

namespace behavior::detail {

class Wakeup {
 public:
  // The worker's thread (or before it starts): watch the eventfd on `loop`.
  void open(uv_loop_t* loop);
  // Stops watching; the handle closes on the loop's next run; the fd is closed then.
  void close();

  // The sleeper, Dekker-style with wake(): arm, then look at the queues once more, then
  // sleep in the loop only if they are empty; disarm after.
  void arm() { asleep_.store(true, std::memory_order_seq_cst); }
  void disarm() { asleep_.store(false, std::memory_order_relaxed); }
  // True while the worker sleeps and no wake-up is on its way to it.
  bool asleep() const { return asleep_.load(std::memory_order_relaxed); }

  // Any thread, after it published work (a seq_cst push): wakes the worker if it sleeps.
  // The first waker to see it asleep writes to the eventfd; the others do nothing.
  void wake() {
    if (asleep_.load(std::memory_order_seq_cst) && asleep_.exchange(false, std::memory_order_seq_cst)) {
      signal();
    }
  }
  // Makes the loop's next (or current) wait return, whether or not the worker sleeps.
  void signal();

 private:
  static void on_readable(uv_poll_t* handle, int status, int events);

  alignas(64) std::atomic<bool> asleep_{false};
  int fd_ = -1;
  uv_poll_t poll_{};
};

}  // namespace behavior::detail
