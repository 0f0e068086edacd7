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

// UDP: a datagram whose first 4 bytes (conv, little-endian) are 0 is a control datagram;
// any other is KCP (kcp.h) for that conv, whose messages are `protoID | body` like a
// WebSocket message's. Control datagrams:
//   0 | kUdpAuth  | ticket                              client → gateway, resent until answered
//   0 | kUdpAuth  | conv (u32 LE) | the process's pid   gateway → client: the session's conv
//   0 | kUdpData  | conv (u32 LE) | protoID | body      unreliable frames, both ways
//   0 | kUdpError | pb::ErrorFrame                      gateway → client: AUTH refused
//   0 | kUdpBye   | conv (u32 LE)                       either way: the session is over
enum UdpControl : uint8_t { kUdpAuth = 1, kUdpData = 2, kUdpError = 3, kUdpBye = 4 };
// 0 | type | (conv, if conv != 0) | rest
std::string udp_control(UdpControl type, uint32_t conv, std::string_view rest);
// Splits a control datagram; false if it is not one (or too short). conv is read for
// every type but kUdpError and the client's kUdpAuth (pass with_conv accordingly).
bool parse_udp_control(std::string_view d, bool with_conv, uint8_t* type, uint32_t* conv, std::string_view* rest);

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
