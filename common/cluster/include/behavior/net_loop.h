// net_loop.h — where the node's network I/O runs: s2s connections, Redis and the metrics
// HTTP port. Either a thread of its own, or hosted on a worker's loop (worker 0 by
// default, as Erlang's schedulers do their own I/O): then a message that arrives from
// another node is handed to a process on that worker without any wake-up, and a reply
// leaves from the same thread that produced it. Other threads hand it work through
// post() (a closure) or send() (a message for another node); both wake it once per batch.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "behavior/message.h"
#include "behavior/mpsc_stack.h"

namespace behavior {

class Node;
namespace detail {
class Shard;
}

class NetLoop {
 public:
  // on_messages runs on the loop thread with the batch of messages sent since the last time
  // (oldest first, linked through Message::next); it owns them. With a host node, the loop
  // is its worker 0's loop (the node must be running from start() until stop() returns);
  // without, a thread of its own.
  explicit NetLoop(std::function<void(Message*)> on_messages, Node* host = nullptr);
  ~NetLoop();

  void start();
  // start(), then runs `setup` on the loop thread and returns its status; if it fails, the
  // loop is stopped again with `teardown` (which closes what setup opened).
  Status start(const std::function<Status()>& setup, std::function<void()> teardown);
  // Runs `stop_fn` on the loop thread, then returns once every handle is closed. On a
  // worker's loop (shared) stop_fn must close every handle it opened; on a loop of its own
  // whatever it leaves open is closed for it.
  void stop(std::function<void()> stop_fn);
  uv_loop_t* loop() { return loop_; }
  bool on_loop_thread() const { return std::this_thread::get_id() == thread_id_; }

  void post(std::function<void()> fn);  // any thread
  void send(Message* m);                // any thread

 private:
  static void on_wake(uv_async_t* h);
  static void flush_local(void* self);
  static bool has_pending(void* self);  // the host looks before it sleeps
  Message* take_batch();
  void close_handles();

  detail::Shard* host_;
  uv_loop_t own_loop_{};
  uv_loop_t* loop_;
  uv_async_t wake_{};
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::function<void(Message*)> on_messages_;
  detail::MpscStack<Message, &Message::next> outbox_;  // from other threads
  Message* local_head_ = nullptr;  // from the host's own thread (loop thread only)
  Message* local_tail_ = nullptr;
  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;
  std::function<void()> stop_fn_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace behavior
