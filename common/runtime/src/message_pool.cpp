// message_pool.cpp — where Messages come from. A message is often made on one thread and
// freed on another (a plain thread feeding a worker, one worker answering another), which
// is glibc malloc's slowest path: 40% of the time of the `counting` benchmark went to
// _int_malloc/_int_free. So each thread keeps a cache of free messages, hands surplus to a
// shared pool in batches, and refills from it in batches: one lock per 256 messages.
// Under AddressSanitizer the pool is off, so use-after-free stays visible.
#include <mutex>
#include <new>
#include <vector>

#include "behavior/message.h"

#if defined(__SANITIZE_ADDRESS__)
#define BEHAVIOR_NO_MESSAGE_POOL 1
#endif

namespace behavior {
namespace {

struct FreeNode {
  FreeNode* next;
};

constexpr unsigned kBatch = 256;
constexpr size_t kMaxPooledBatches = 1024;  // at most ~256k idle messages kept in the pool

class SharedPool {
 public:
  // A chain of kBatch nodes, or nullptr.
  FreeNode* take() {
    std::lock_guard lock(mu_);
    if (batches_.empty()) return nullptr;
    FreeNode* b = batches_.back();
    batches_.pop_back();
    return b;
  }
  // Keeps a chain of nodes, or frees it when the pool is full.
  void give(FreeNode* chain) {
    {
      std::lock_guard lock(mu_);
      if (batches_.size() < kMaxPooledBatches) {
        batches_.push_back(chain);
        return;
      }
    }
    free_chain(chain);
  }
  static void free_chain(FreeNode* n) {
    while (n) {
      FreeNode* next = n->next;
      ::operator delete(n);
      n = next;
    }
  }
  ~SharedPool() {
    for (FreeNode* b : batches_) free_chain(b);
  }

 private:
  std::mutex mu_;
  std::vector<FreeNode*> batches_;
};

SharedPool& shared_pool() {
  static SharedPool* pool = new SharedPool();  // never destroyed: threads may outlive statics
  return *pool;
}

struct Cache {
  FreeNode* head = nullptr;
  unsigned count = 0;
  bool dead = false;
  ~Cache() {
    dead = true;
    SharedPool::free_chain(head);
  }
  // Splits kBatch nodes off the front and hands them to the shared pool.
  void spill() {
    FreeNode* first = head;
    FreeNode* last = head;
    for (unsigned i = 1; i < kBatch; ++i) last = last->next;
    head = last->next;
    last->next = nullptr;
    count -= kBatch;
    shared_pool().give(first);
  }
};
thread_local Cache cache;

}  // namespace

void* Message::operator new(std::size_t size) {
#ifndef BEHAVIOR_NO_MESSAGE_POOL
  if (size == sizeof(Message) && !cache.dead) {
    if (!cache.head) {
      cache.head = shared_pool().take();
      cache.count = cache.head ? kBatch : 0;
    }
    if (cache.head) {
      FreeNode* n = cache.head;
      cache.head = n->next;
      --cache.count;
      return n;
    }
  }
#endif
  return ::operator new(size);
}

void Message::operator delete(void* p, std::size_t size) noexcept {
#ifndef BEHAVIOR_NO_MESSAGE_POOL
  if (size == sizeof(Message) && !cache.dead) {
    auto* n = static_cast<FreeNode*>(p);
    n->next = cache.head;
    cache.head = n;
    if (++cache.count >= 2 * kBatch) cache.spill();
    return;
  }
#endif
  (void)size;
  ::operator delete(p);
}

}  // namespace behavior
