// websocket.h — RFC 6455 for the gateway and its clients: the opening handshake (checking
// an upgrade request, computing Sec-WebSocket-Accept) and a frame decoder that enforces the
// rules a server must (client frames masked, no reserved bits, control frames short and
// unfragmented, data messages reassembled from fragments up to a maximum size). Which data
// opcode is acceptable (the gateway takes binary only) is the caller's decision.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "behavior/http_types.h"
#include "behavior/status.h"

namespace behavior::ws {

enum class Opcode : uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// Close codes (RFC 6455 §7.4.1).
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseUnsupportedData = 1003;
inline constexpr uint16_t kClosePolicy = 1008;
inline constexpr uint16_t kCloseTooBig = 1009;
inline constexpr uint16_t kCloseTryAgainLater = 1013;  // IANA registry: a temporary condition

// base64(SHA-1(key + the RFC's GUID)).
std::string accept_key(std::string_view client_key);
// A client's Sec-WebSocket-Key: base64 of 16 random bytes.
std::string new_client_key();

// A valid upgrade request (GET, Upgrade: websocket, Connection: upgrade, version 13, a
// 16-byte base64 key) gives the full "101 Switching Protocols" response; otherwise
// kInvalidArgument with what is wrong.
Result<std::string> upgrade_response(const HttpRequest& req);
// The answer to a request upgrade_response() refused (`why`, its error, is the body):
// "426 Upgrade Required" with "Sec-WebSocket-Version: 13" when the request is a WebSocket
// upgrade of another version (RFC 6455 section 4.4: the client may retry with ours), else
// "400 Bad Request". Both close the connection.
std::string refusal_response(const HttpRequest& req, const Status& why);

// One frame (FIN set). `mask` for the client side: a random masking key is applied.
void append_frame(Opcode op, std::string_view payload, bool mask, std::string* out);
// A close frame with a code and a short reason.
void append_close(uint16_t code, std::string_view reason, bool mask, std::string* out);

class FrameDecoder {
 public:
  // Data messages (text/binary, reassembled) and control frames as they arrive. Return
  // false to stop parsing.
  using OnMessage = std::function<bool(Opcode op, std::string_view payload)>;

  // server: frames must be masked (from clients); client: they must not be.
  FrameDecoder(bool server, size_t max_message) : server_(server), max_(max_message) {}

  // On a protocol violation returns kInvalidArgument and close_code() says which code to
  // send; the stream is then unusable.
  Status feed(const char* data, size_t n, const OnMessage& on_message);
  uint16_t close_code() const { return close_code_; }
  size_t buffered() const { return buf_.size() + message_.size(); }

 private:
  Status fail(uint16_t code, std::string what);
  // Parses one frame from [p, p+n): bytes used, 0 when incomplete, SIZE_MAX on error.
  size_t parse_one(const char* p, size_t n, const OnMessage& on_message, bool* stop, Status* error);

  bool server_;
  size_t max_;
  std::string buf_;      // an incomplete frame
  std::string message_;  // fragments of a data message so far
  Opcode message_op_ = Opcode::kContinuation;
  bool in_message_ = false;
  uint16_t close_code_ = 0;
};

}  // namespace behavior::ws
