// pid.h — a process id: which node, which shard (worker thread) and a serial that is never
// reused while the node runs. A plain 64-bit value, cheap to copy and to send.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace behavior {

class Pid {
 public:
  static constexpr uint8_t kExternalShard = 0xFF;  // an Inbox owned by a non-worker thread

  constexpr Pid() = default;
  constexpr Pid(uint16_t node, uint8_t shard, uint64_t serial)
      : v_((uint64_t{node} << 48) | (uint64_t{shard} << 40) | (serial & kSerialMask)) {}
  static constexpr Pid from_raw(uint64_t v) {
    Pid p;
    p.v_ = v;
    return p;
  }

  constexpr uint64_t raw() const { return v_; }
  constexpr uint16_t node() const { return static_cast<uint16_t>(v_ >> 48); }
  constexpr uint8_t shard() const { return static_cast<uint8_t>(v_ >> 40); }
  constexpr uint64_t serial() const { return v_ & kSerialMask; }
  constexpr bool valid() const { return v_ != 0; }
  explicit constexpr operator bool() const { return valid(); }

  // "<node.shard.serial>", as Erlang prints pids.
  std::string to_string() const;

  friend constexpr bool operator==(Pid a, Pid b) { return a.v_ == b.v_; }
  friend constexpr bool operator<(Pid a, Pid b) { return a.v_ < b.v_; }

 private:
  static constexpr uint64_t kSerialMask = (uint64_t{1} << 40) - 1;
  uint64_t v_ = 0;
};

}  // namespace behavior

template <>
struct std::hash<behavior::Pid> {
  size_t operator()(behavior::Pid p) const noexcept { return std::hash<uint64_t>{}(p.raw()); }
};
