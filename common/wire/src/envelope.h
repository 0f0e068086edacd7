// envelope.h — the s2s frame codec: a Message to and from its wire form (s2s.proto's
// Envelope, written by hand for speed), and a frame reader that cuts a byte stream into
// length-prefixed payloads with a hard size limit. Malformed input is an error, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "behavior/message.h"

namespace behavior::detail {

// Appends `u32 length | Envelope(m)` to out. Fails (appending nothing) when the body has no
// wire form (a plain C++ object) or the frame would exceed max_frame.
Status append_envelope_frame(const Message& m, size_t max_frame, std::string* out);
// Appends `u32 length | payload`.
void append_frame(std::string_view payload, std::string* out);

// Decodes one Envelope payload into a new message (body as bytes).
Result<MessagePtr> decode_envelope(std::string_view payload);

class FrameReader {
 public:
  explicit FrameReader(size_t max_frame) : max_frame_(max_frame) {}
  // Takes data and calls on_frame for each complete payload. Stops at the first error
  // (an oversized frame, or whatever on_frame returns).
  Status feed(const char* data, size_t n, const std::function<Status(std::string_view)>& on_frame);
  size_t buffered() const { return buf_.size(); }
  void set_max_frame(size_t max_frame) { max_frame_ = max_frame; }

 private:
  size_t max_frame_;
  std::string buf_;  // a frame cut by the end of a read, from its length prefix on
};

}  // namespace behavior::detail
