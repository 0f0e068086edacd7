// id_builder.h — unique, monotonic 64-bit ids (requests, s2s messages, socket names). The
// counter starts at the wall clock in ms shifted left by 20 bits, so a restarted node does
// not reuse ids unless it handed out over ~1M ids per ms on average before.
#pragma once

#include <atomic>
#include <cstdint>

namespace behavior {

class IdBuilder {
 public:
  IdBuilder();
  explicit IdBuilder(uint64_t start) : next_(start) {}
  // Thread-safe; every call returns a larger id than every earlier call.
  uint64_t next() { return next_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> next_;
};

}  // namespace behavior
