// fuzz_envelope.cpp — libFuzzer target for the s2s codec: arbitrary bytes through the frame
// reader (any split) and the envelope decoder; whatever decodes must re-encode and decode
// to the same message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "envelope.h"

using namespace behavior;
using namespace behavior::detail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Result<MessagePtr> m = decode_envelope(in);
  if (m.ok()) {
    std::string frame;
    if (append_envelope_frame(**m, 1 << 24, &frame).ok()) {
      Result<MessagePtr> again = decode_envelope(std::string_view(frame).substr(4));
      if (!again.ok() || (*again)->to() != (*m)->to() || (*again)->body().raw() != (*m)->body().raw()) __builtin_trap();
    }
  }
  FrameReader reader(4096);
  size_t split = size ? data[0] % (size + 1) : 0;
  auto sink = [](std::string_view payload) { return decode_envelope(payload).status(); };
  if (reader.feed(in.data(), split, sink).ok()) reader.feed(in.data() + split, size - split, sink);
  return 0;
}
