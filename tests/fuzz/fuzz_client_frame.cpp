// fuzz_client_frame.cpp — libFuzzer target for the gateway's TCP framing: any bytes, split
// at a point the input chooses, either give frames within the maximum or break the stream.
#include <behavior/client_frame.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t split = data[0] % size;
  const char* p = reinterpret_cast<const char*>(data) + 1;
  const size_t n = size - 1;
  behavior::ClientFrameDecoder d(4096);
  auto check = [](uint32_t, std::string_view body) {
    if (body.size() + 4 > 4096) __builtin_trap();
    return true;
  };
  if (d.feed(p, split > n ? n : split, check).ok()) (void)d.feed(p + (split > n ? n : split), n - (split > n ? n : split), check);
  if (d.buffered() > 4096 + 4) __builtin_trap();
  return 0;
}
