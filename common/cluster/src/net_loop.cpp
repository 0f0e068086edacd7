// net_loop.cpp — see net_loop.h.
#include "behavior/net_loop.h"

#include <signal.h>

#include <chrono>
#include <future>

#include "runtime.h"
#include "shard.h"

namespace behavior {

NetLoop::NetLoop(std::function<void(Message*)> on_messages, Node* host)
    : host_(host ? detail::runtime_of(*host).shard(0) : nullptr),
      loop_(host_ ? host_->loop() : &own_loop_),
      on_messages_(std::move(on_messages)) {
  wake_.data = this;
  if (!host_) {
    uv_loop_init(&own_loop_);
    uv_async_init(&own_loop_, &wake_, &NetLoop::on_wake);
  }
}

NetLoop::~NetLoop() {
  if (!host_) {
    if (thread_.joinable()) {
      stop({});
    } else if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&wake_))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);  // never started
      uv_run(&own_loop_, UV_RUN_DEFAULT);
    }
  }
  for (Message* m = take_batch(); m;) {
    Message* next = m->next.load(std::memory_order_relaxed);
    delete m;
    m = next;
  }
  if (!host_) uv_loop_close(&own_loop_);
}

void NetLoop::start() {
  if (!host_) {
    // Termination signals are for the thread that waits for them (Node::wait_for_signal).
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    thread_ = std::thread([this] {
      thread_id_ = std::this_thread::get_id();
      uv_run(&own_loop_, UV_RUN_DEFAULT);
    });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return;
  }
  // libuv handles are not thread-safe: the async handle is made on the host's thread.
  std::promise<void> ready;
  host_->post_task([this, &ready] {
    uv_async_init(loop_, &wake_, &NetLoop::on_wake);
    thread_id_ = std::this_thread::get_id();
    host_->add_io_host(&NetLoop::flush_local, &NetLoop::has_pending, this);
    ready.set_value();
  });
  ready.get_future().wait();
  started_ = true;
}

Status NetLoop::start(const std::function<Status()>& setup, std::function<void()> teardown) {
  start();
  std::promise<Status> done;
  post([&] { done.set_value(setup()); });
  Status s = done.get_future().get();
  if (!s.ok()) stop(std::move(teardown));
  return s;
}

void NetLoop::stop(std::function<void()> stop_fn) {
  if (!host_) {
    {
      std::lock_guard lock(mu_);
      stop_fn_ = std::move(stop_fn);
    }
    stopping_.store(true);
    uv_async_send(&wake_);
    if (thread_.joinable()) thread_.join();
    return;
  }
  if (!started_ || stopped_) return;
  stopped_ = true;
  std::promise<void> done;
  host_->post_task([this, &done, &stop_fn] {
    stopping_.store(true);
    on_wake(&wake_);  // what was posted before stop still runs
    if (stop_fn) stop_fn();  // on a shared loop it must close every handle it opened
    host_->remove_io_host(this);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    // Close callbacks run in the loop's closing phase: one pass runs them all.
    uv_run(loop_, UV_RUN_NOWAIT);
    uv_run(loop_, UV_RUN_NOWAIT);
    done.set_value();
  });
  done.get_future().wait();
}

void NetLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(fn));
  }
  if (!stopping_.load(std::memory_order_relaxed) || !host_) uv_async_send(&wake_);
}

void NetLoop::send(Message* m) {
  if (host_ && on_loop_thread()) {
    // The host's own thread (every s2s message in and out, on a gateway or a single-worker
    // node): a plain list, no atomic; the host calls flush_local() after this turn, so no
    // wake-up either. The CAS per message was ~3-4% of the echo profile. Each sender
    // always runs on one thread, so it always uses the same queue: per-pair order holds.
    m->next.store(nullptr, std::memory_order_relaxed);
    if (local_tail_) {
      local_tail_->next.store(m, std::memory_order_relaxed);
    } else {
      local_head_ = m;
    }
    local_tail_ = m;
    return;
  }
  outbox_.push(m);
  if (host_) {
    // The host worker takes the outbox after each of its turns (flush_local), so only a
    // sleeping host needs waking: through its own wake-up, not uv_async_send, whose
    // receiving side spins while a preempted sender is inside its write() (wakeup.h).
    host_->wake();
    return;
  }
  // Coalesces: one wake-up per batch however many sends.
  uv_async_send(&wake_);
}

// Whatever the stop function left open on a loop of its own is closed here, so uv_run can
// return.
void NetLoop::close_handles() {
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_walk(
      loop_,
      [](uv_handle_t* handle, void*) {
        if (!uv_is_closing(handle)) uv_close(handle, nullptr);
      },
      nullptr);
}

// Loop thread: what this thread sent (local list), then what other threads did, as one batch.
Message* NetLoop::take_batch() {
  Message* others = outbox_.maybe_nonempty_relaxed() ? outbox_.take_all() : nullptr;
  Message* batch = local_head_;
  if (!batch) return others;
  local_tail_->next.store(others, std::memory_order_relaxed);
  local_head_ = local_tail_ = nullptr;
  return batch;
}

bool NetLoop::has_pending(void* arg) { return !static_cast<NetLoop*>(arg)->outbox_.empty(); }

void NetLoop::flush_local(void* arg) {
  auto* self = static_cast<NetLoop*>(arg);
  if (Message* batch = self->take_batch()) self->on_messages_(batch);
}

void NetLoop::on_wake(uv_async_t* h) {
  auto* self = static_cast<NetLoop*>(h->data);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(self->mu_);
    tasks.swap(self->tasks_);
  }
  for (auto& t : tasks) t();
  if (Message* batch = self->take_batch()) self->on_messages_(batch);
  if (self->host_ || !self->stopping_.load()) return;
  std::function<void()> stop_fn;
  {
    std::lock_guard lock(self->mu_);
    stop_fn = std::move(self->stop_fn_);
  }
  if (stop_fn) stop_fn();
  self->close_handles();
}

}  // namespace behavior
