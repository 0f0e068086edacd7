// mpsc_stack.h — the lock-free queue between threads: many producers push with one CAS,
// the single consumer takes everything at once and reverses it into arrival order. Taking
// in batches amortizes the cache-line handoff that dominates cross-worker sends.
#pragma once

#include <atomic>

namespace behavior::detail {

template <class T, std::atomic<T*> T::*Next>
class MpscStack {
 public:
  // Any thread.
  void push(T* node) {
    T* head = head_.load(std::memory_order_relaxed);
    do {
      (node->*Next).store(head, std::memory_order_relaxed);
    } while (!head_.compare_exchange_weak(head, node, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  }

  // Consumer only: everything pushed so far, oldest first (linked through `next`).
  // An empty queue is seen with a plain load: the exchange would take the cache line away
  // from the producers for nothing, on every turn of the consumer's loop.
  T* take_all() {
    if (head_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    T* node = head_.exchange(nullptr, std::memory_order_seq_cst);
    T* fifo = nullptr;
    while (node) {
      T* next = (node->*Next).load(std::memory_order_relaxed);
      (node->*Next).store(fifo, std::memory_order_relaxed);
      fifo = node;
      node = next;
    }
    return fifo;
  }

  bool empty() const { return head_.load(std::memory_order_seq_cst) == nullptr; }
  bool maybe_nonempty_relaxed() const { return head_.load(std::memory_order_relaxed) != nullptr; }

 private:
  alignas(64) std::atomic<T*> head_{nullptr};
};

}  // namespace behavior::detail
