// task.h — Task<T>, the lazy C++20 coroutine type handlers return. A router's route() is a
// Task<>; inside it `co_await actor().call(...)` suspends the process (not the worker
// thread) until the reply or the timeout, and `co_await other_task()` nests.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace behavior {

namespace detail {
// Coroutine frames come from a small per-thread pool: a handler's frame is made and freed
// on its shard's thread for every message, and malloc's slow paths showed in profiles.
void* frame_alloc(std::size_t size);
void frame_free(void* p, std::size_t size) noexcept;

struct PromiseBase {
  std::coroutine_handle<> continuation;
  std::exception_ptr error;

  static void* operator new(std::size_t size) { return frame_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      auto c = h.promise().continuation;
      return c ? c : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};
}  // namespace detail

template <class T = void>
class Task;

namespace detail {
// What a Task<T>'s coroutine returns into: a value, or nothing for Task<void>.
template <class T>
struct ValuePromise : PromiseBase {
  std::optional<T> value;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
};
template <>
struct ValuePromise<void> : PromiseBase {
  void return_void() noexcept {}
};
}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::ValuePromise<T> {
    Task get_return_object() { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
  };

  Task() = default;
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~Task() {
    if (h_) h_.destroy();
  }

  // Awaiting a task starts it and resumes the awaiter when it finishes (symmetric transfer).
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    h_.promise().continuation = awaiter;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    if constexpr (!std::is_void_v<T>) return std::move(*h_.promise().value);
  }

  std::coroutine_handle<promise_type> handle() const { return h_; }
  // Hands the frame to the runtime, which destroys it when the handler finishes.
  std::coroutine_handle<promise_type> release() { return std::exchange(h_, {}); }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

}  // namespace behavior
