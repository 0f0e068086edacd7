// client_frame.h — the gateway's client protocol on TCP: frames of
//   u32 length (big-endian; counts the bytes after it: 4 + body) | u32 protoID (big-endian) | body
// with a hard maximum frame size. WebSocket carries the same `protoID | body` as one binary
// message (websocket.h). The decoder parses in place when a whole frame is in the chunk and
// keeps only the unfinished tail, so an idle connection holds no buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "behavior/status.h"

namespace behavior {

inline constexpr size_t kDefaultMaxClientFrame = 64 * 1024;  // protoID + body

void append_client_frame(uint32_t proto_id, std::string_view body, std::string* out);

// `protoID | body` (a WebSocket message's payload) → its parts; false when under 4 bytes.
bool split_client_payload(std::string_view payload, uint32_t* proto_id, std::string_view* body);

class ClientFrameDecoder {
 public:
  // Return false to stop (the rest of the chunk is not parsed).
  using OnFrame = std::function<bool(uint32_t proto_id, std::string_view body)>;

  explicit ClientFrameDecoder(size_t max_frame = kDefaultMaxClientFrame) : max_(max_frame) {}

  // kInvalidArgument for a length below 4 or above the maximum (the connection must close:
  // the stream cannot be resynchronised). Once failed, every later feed fails.
  Status feed(const char* data, size_t n, const OnFrame& on_frame);
  size_t buffered() const { return buf_.size(); }

 private:
  // Parses whole frames from [p, p+n); returns bytes consumed, or SIZE_MAX on error/stop.
  size_t parse(const char* p, size_t n, const OnFrame& on_frame, bool* stop);

  size_t max_;
  std::string buf_;
  bool failed_ = false;
};

}  // namespace behavior
