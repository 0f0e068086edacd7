// net_loop.cpp — see net_loop.h.
#include "net_loop.h"

namespace behavior::detail {

NetLoop::NetLoop(std::function<void(Message*)> on_messages) : on_messages_(std::move(on_messages)) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &wake_, &NetLoop::on_wake);
  wake_.data = this;
}

NetLoop::~NetLoop() {
  if (thread_.joinable()) {
    stop({});
  } else if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&wake_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);  // never started
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  for (Message* m = outbox_.take_all(); m;) {
    Message* next = m->next.load(std::memory_order_relaxed);
    delete m;
    m = next;
  }
  uv_loop_close(&loop_);
}

void NetLoop::start() {
  thread_ = std::thread([this] {
    thread_id_ = std::this_thread::get_id();
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
}

void NetLoop::stop(std::function<void()> stop_fn) {
  {
    std::lock_guard lock(mu_);
    stop_fn_ = std::move(stop_fn);
  }
  stopping_.store(true);
  uv_async_send(&wake_);
  if (thread_.joinable()) thread_.join();
}

void NetLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(fn));
  }
  uv_async_send(&wake_);
}

void NetLoop::send(Message* m) {
  outbox_.push(m);
  uv_async_send(&wake_);  // coalesces: one wake-up per batch however many sends
}

void NetLoop::on_wake(uv_async_t* h) {
  auto* self = static_cast<NetLoop*>(h->data);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(self->mu_);
    tasks.swap(self->tasks_);
  }
  for (auto& t : tasks) t();
  if (Message* batch = self->outbox_.take_all()) self->on_messages_(batch);
  if (self->stopping_.load()) {
    std::function<void()> stop_fn;
    {
      std::lock_guard lock(self->mu_);
      stop_fn = std::move(self->stop_fn_);
    }
    if (stop_fn) stop_fn();
    uv_close(reinterpret_cast<uv_handle_t*>(&self->wake_), nullptr);
    // Whatever the stop function left open is closed here, so uv_run can return.
    uv_walk(
        &self->loop_,
        [](uv_handle_t* handle, void*) {
          if (!uv_is_closing(handle)) uv_close(handle, nullptr);
        },
        nullptr);
  }
}

}  // namespace behavior::detail
