// fuzz_kcp.cpp — libFuzzer target for KCP input: the input is a sequence of datagrams
// (u16 length-prefixed) fed to one session, interleaved with flushes and reads. Nothing
// crashes, what comes out is bounded by what went in, and after a flush next_timer() never
// asks for a visit now (a timer-wheel driver would spin).
#include <behavior/kcp.h>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t out_bytes = 0;
  behavior::Kcp k(0x01020304, [&](std::string_view d) { out_bytes += d.size(); });
  k.set_nodelay(data && size && (data[0] & 1), 10, 2, true);
  uint32_t now = 1000;
  size_t in_bytes = 0, got = 0;
  for (size_t i = 0; i + 2 <= size;) {
    size_t len = size_t{data[i]} | size_t{data[i + 1]} << 8;
    i += 2;
    if (len > size - i) len = size - i;
    (void)k.input(std::string_view(reinterpret_cast<const char*>(data + i), len), now);
    in_bytes += len;
    i += len;
    now += 7;
    k.update(now);
    if ((len & 3) == 0) {
      // As the gateway drives it: a flush, then the next timed work must lie ahead, or a
      // driver that waits for next_timer() would spin.
      k.flush(now);
      uint32_t in_ms = 0;
      if (k.next_timer(now, &in_ms) && in_ms == 0) __builtin_trap();
    }
    std::string m;
    while (k.receive(&m)) got += m.size();
  }
  if (got > in_bytes) __builtin_trap();
  return 0;
}
