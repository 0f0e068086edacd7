// clock.h — the two millisecond clocks the code base reads: the wall clock (what Redis,
// tickets and other nodes agree on) and the steady clock (for intervals on this host).
#pragma once

#include <chrono>
#include <cstdint>

namespace behavior {

inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace behavior
