// net_loop.h — the node's network thread: one libuv loop for s2s connections, Redis and
// the metrics HTTP port. Other threads hand it work through post() (a closure) or
// send() (a message for another node); both wake it once per batch.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "behavior/message.h"
#include "mpsc_stack.h"

namespace behavior::detail {

class NetLoop {
 public:
  // on_messages runs on the loop thread with the batch of messages sent since the last time
  // (oldest first, linked through Message::next); it owns them.
  explicit NetLoop(std::function<void(Message*)> on_messages);
  ~NetLoop();

  void start();
  // Runs `stop_fn` on the loop thread, then ends the loop once every handle is closed.
  void stop(std::function<void()> stop_fn);
  uv_loop_t* loop() { return &loop_; }
  bool on_loop_thread() const { return std::this_thread::get_id() == thread_id_; }

  void post(std::function<void()> fn);  // any thread
  void send(Message* m);                // any thread

 private:
  static void on_wake(uv_async_t* h);
  uv_loop_t loop_{};
  uv_async_t wake_{};
  std::thread thread_;
  std::thread::id thread_id_;
  std::function<void(Message*)> on_messages_;
  MpscStack<Message, &Message::next> outbox_;
  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;
  std::function<void()> stop_fn_;
  std::atomic<bool> stopping_{false};
};

}  // namespace behavior::detail
