// transport.h — the seam between a client's bytes and its session (the model: Redis's
// ConnectionType, CAF's lower and upper layers). Below it, one adapter per transport turns
// bytes into client frames and frames into bytes: TCP (length-prefixed frames, batched
// writes), WebSocket (upgrade, frames, closing handshake) and UDP (a KCP session plus
// control datagrams). Above it, the Session (session.h) is one client's life and never asks
// which transport it runs on.
//
// Lifetimes: a Transport belongs to its Session until one of them ends it. The Session ends
// it with close() or close_after_write(); the transport ends itself when the client leaves
// or the socket fails, and then tells the Session once, through on_closed(). After either,
// the Session no longer touches it; the transport frees itself when its handles are closed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace behavior::gateway {

enum class TransportKind : uint8_t { kTcp, kWebSocket, kUdp };
const char* transport_name(TransportKind kind);  // "tcp", "ws", "udp": metric labels

// Why a connection ends. The transport acts on it (a UDP BYE goes out unless the client
// said BYE itself); the Session counts it; logs print describe().
enum class CloseReason : uint8_t {
  kClientLeft,     // EOF, a WebSocket close frame, a UDP BYE
  kNetworkError,   // the socket failed
  kNoAcks,         // a UDP client stopped acknowledging (KCP dead link)
  kSlowReader,     // output queued past GatewayOptions::max_output_bytes
  kBadFrame,       // input that breaks the protocol
  kAuthFailed,     // a refused ticket, or a frame before AUTH
  kAuthTimeout,    // no AUTH in time
  kIdle,           // silent past the idle timeout
  kKicked,         // logged in elsewhere, or an operator's kick
  kProcessEnded,   // the user's process ended
  kUnavailable,    // Redis or the user's node could not be reached: retry
  kStopping,       // the gateway stops
};
const char* describe(CloseReason why);

// The upper layer, as a transport sees it.
class TransportUser {
 public:
  // One client frame. The body is valid during the call only.
  virtual void on_frame(uint32_t proto, std::string_view body) = 0;
  // Input the transport could not turn into frames and does not answer by itself.
  virtual void on_bad_input(const std::string& why) = 0;
  // A control frame the transport answers by itself (a WebSocket ping) arrived: false when
  // the connection's frame rate limit says to drop it unanswered.
  virtual bool allow_control() = 0;
  // Input that proves the client alive without completing a frame (a KCP segment).
  virtual void on_alive() = 0;
  // The client's protocol ends the connection (a WebSocket close frame: kClientLeft; or a
  // WebSocket protocol error: kBadFrame, the close code it calls for and what was wrong):
  // the user closes it politely, after an error frame for a protocol error.
  virtual void on_end(CloseReason why, uint16_t ws_code, const std::string& reason) = 0;
  // The transport ended itself (see above); it is not to be called again.
  virtual void on_closed(CloseReason why) = 0;

 protected:
  ~TransportUser() = default;
};

// The lower layer, as the Session sees it.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual TransportKind kind() const = 0;
  void set_user(TransportUser* user) { user_ = user; }

  // One frame to the client, written at the end of the current loop callback. An unreliable
  // frame may be dropped (UDP sends it as a datagram of its own; the others send it
  // reliably). A client that does not read is cut: on_closed(kSlowReader).
  virtual void write_frame(uint32_t proto, std::string_view body, bool unreliable) = 0;
  // The answer to a successful AUTH, naming the user's process (TCP and WebSocket: an AUTH
  // frame; UDP: a control datagram with the session's conv, repeated to a resent AUTH).
  virtual void write_auth_ok(const std::string& pid) = 0;
  // Lets what is queued reach the client, then closes (a WebSocket client gets a close frame
  // with ws_code). on_closed(why) follows when it is done, perhaps before this returns.
  virtual void close_after_write(CloseReason why, uint16_t ws_code) = 0;
  // Closes at once; no on_closed.
  virtual void close(CloseReason why) = 0;

 protected:
  TransportUser* user_ = nullptr;
};

}  // namespace behavior::gateway
