// frame_pool.cpp — per-thread free lists for coroutine frames (see task.h). Frames are made
// and freed on the same worker for every handled message; reusing them skips malloc. Under
// AddressSanitizer the pool is off so use-after-free stays visible.
#include <cstddef>
#include <new>

#include "behavior/task.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BEHAVIOR_NO_FRAME_POOL 1
#endif

namespace behavior::detail {
namespace {

constexpr std::size_t kGranule = 64;
constexpr std::size_t kClasses = 16;  // frames up to 1 KiB are pooled
constexpr unsigned kMaxCached = 256;  // per class and thread

struct Pool {
  void* heads[kClasses] = {};
  unsigned counts[kClasses] = {};
  bool dead = false;
  ~Pool() {
    dead = true;
    for (void*& head : heads) {
      while (head) {
        void* next = *static_cast<void**>(head);
        ::operator delete(head);
        head = next;
      }
    }
  }
};
thread_local Pool pool;

}  // namespace

void* frame_alloc(std::size_t size) {
#ifndef BEHAVIOR_NO_FRAME_POOL
  std::size_t c = (size + kGranule - 1) / kGranule;
  if (c >= 1 && c <= kClasses && !pool.dead) {
    void*& head = pool.heads[c - 1];
    if (head) {
      void* p = head;
      head = *static_cast<void**>(p);
      --pool.counts[c - 1];
      return p;
    }
    return ::operator new(c * kGranule);
  }
#endif
  return ::operator new(size);
}

void frame_free(void* p, std::size_t size) noexcept {
#ifndef BEHAVIOR_NO_FRAME_POOL
  std::size_t c = (size + kGranule - 1) / kGranule;
  if (c >= 1 && c <= kClasses && !pool.dead && pool.counts[c - 1] < kMaxCached) {
    *static_cast<void**>(p) = pool.heads[c - 1];
    pool.heads[c - 1] = p;
    ++pool.counts[c - 1];
    return;
  }
#endif
  (void)size;
  ::operator delete(p);
}

}  // namespace behavior::detail
