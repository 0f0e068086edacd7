// fuzz_websocket.cpp — libFuzzer target for the WebSocket side of the gateway: the first
// byte picks server or client rules and a split point; the rest is frames. Messages never
// exceed the maximum, control frames never exceed 125 bytes, and the buffer stays bounded.
#include <behavior/websocket.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool server = data[0] & 1;
  const char* p = reinterpret_cast<const char*>(data) + 1;
  const size_t n = size - 1;
  const size_t split = n ? (data[0] >> 1) % (n + 1) : 0;
  behavior::ws::FrameDecoder d(server, 4096);
  auto check = [](behavior::ws::Opcode op, std::string_view payload) {
    const bool control = static_cast<uint8_t>(op) & 0x08;
    if (control ? payload.size() > 125 : payload.size() > 4096) __builtin_trap();
    return true;
  };
  if (d.feed(p, split, check).ok()) (void)d.feed(p + split, n - split, check);
  if (d.buffered() > 2 * 4096 + 14) __builtin_trap();
  return 0;
}
