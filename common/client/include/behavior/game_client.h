// game_client.h — a small blocking client for the platform, as a game client sees it:
// login() asks a name server for a ticket, GameClient connects to the gateway over TCP,
// WebSocket or UDP (a KCP session, plus unreliable datagrams), authenticates with the
// ticket, and sends and receives {protoID, body} frames. Given a client TlsContext, login()
// speaks HTTPS and a WebSocket client wss:// (TLS under the same frames).
// Used by the tests and the bot; one client per thread (no locking inside).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "behavior/client_frame.h"
#include "behavior/kcp.h"
#include "behavior/options.h"
#include "behavior/status.h"
#include "behavior/tls.h"
#include "behavior/websocket.h"

namespace behavior {

struct ClientFrame {
  uint32_t proto_id = 0;
  std::string body;
};

struct LoginResult {
  std::string user;
  uint16_t node = 0;
  uint16_t gateway_id = 0;
  std::string gateway_tcp, gateway_udp, gateway_ws;  // host:port ("" when not offered)
  std::string gateway_wss;   // host:port of a WebSocket port that speaks TLS ("" when none)
  std::string gateway_tcps;  // host:port of a TCP port that speaks TLS ("" when none)
  std::string ticket;
  int64_t expires_at = 0;
};

// One HTTP request on a fresh connection to host:port (IPv4), over TLS when `tls` is given
// (the name checked being host); the whole answer, read until the server closes. For
// requests with "Connection: close".
Result<std::string> http_exchange(const std::string& host, int port, const std::string& request,
                                  Millis timeout = Millis(5000), const TlsContext* tls = nullptr);

// POST /v1/login on the name server at host:port (HTTPS when `tls` is given: a client
// context, the name checked being `host`). Errors carry the server's message; the code says
// why (kUnauthenticated 401, kUnavailable 503/429, kInvalidArgument 400...).
Result<LoginResult> login(const std::string& host, int port, const std::string& user,
                          const std::string& password = "", Millis timeout = Millis(5000),
                          const TlsContext* tls = nullptr);

class GameClient {
 public:
  enum class Transport { kTcp, kWebSocket, kUdp };

  // address: "host:port" (IPv4). tls (a client context): the stream speaks TLS, the name
  // checked being the host (wss:// for kWebSocket); not for kUdp.
  static Result<std::unique_ptr<GameClient>> connect(Transport transport, const std::string& address,
                                                     Millis timeout = Millis(5000), const TlsContext* tls = nullptr);
  ~GameClient();
  GameClient(const GameClient&) = delete;
  GameClient& operator=(const GameClient&) = delete;

  // Sends AUTH{ticket}; the gateway answers AUTH{the user's process pid} or an error frame.
  Result<std::string> auth(const std::string& ticket, Millis timeout = Millis(5000));
  Status send(uint32_t proto_id, std::string_view body);
  // UDP: one datagram outside the KCP session, may be lost or reordered (state updates).
  // Other transports: the same as send().
  Status send_unreliable(uint32_t proto_id, std::string_view body);
  // The next frame. kTimeout when none came in time; kUnavailable once the gateway closed
  // the connection (its last error frame, if any, is returned before that).
  Result<ClientFrame> receive(Millis timeout = Millis(5000));
  // Leaves politely, so the gateway forgets the connection at once (rather than at its idle
  // timeout) and the user's process is told: UDP sends what KCP still holds and a BYE,
  // WebSocket a close frame (1000), TCP shuts down its side. Then the socket is closed;
  // destroying a client without close() drops it like a crash would.
  void close();
  // For tests of bad input: bytes exactly as given.
  Status send_raw(std::string_view bytes);
  // The gateway drains and asks this client to move (a RECONNECT frame, docs/protocol.md):
  // receive() returns the frame as any other (protoID kReconnectFrame, body: the reason) and
  // from then on reconnect_requested() is true. What to do: log in again (login(), which
  // names another gateway), connect there, auth() with the new ticket, close() this client;
  // the user's process lives on and is found again. Until then this connection still relays.
  static constexpr uint32_t kReconnectFrame = 0xFFFF0015u;  // proto::kReconnect
  bool reconnect_requested() const { return reconnect_requested_; }
  const std::string& reconnect_reason() const { return reconnect_reason_; }
  // The WebSocket close code the gateway sent (0 if none).
  uint16_t close_code() const { return close_code_; }
  Transport transport() const { return transport_; }
  uint32_t conv() const { return conv_; }  // UDP: the session's KCP conv, once authenticated
  int fd() const { return fd_; }

 private:
  GameClient(int fd, Transport transport);
  Status fill(Millis timeout);  // reads once and decodes into ready_
  Status fill_udp(Millis timeout);
  Result<std::string> auth_udp(const std::string& ticket, Millis timeout);

  int fd_;
  Transport transport_;
  std::unique_ptr<TlsStream> tls_;  // set: every byte on fd_ is TLS
  ClientFrameDecoder tcp_;
  ws::FrameDecoder ws_;
  std::deque<ClientFrame> ready_;
  std::unique_ptr<Kcp> kcp_;
  uint32_t conv_ = 0;
  // UDP: when the gateway was last heard from (any datagram). UDP has no FIN or RST to rely
  // on: ICMP port-unreachable is rate limited (one a second per peer address) and filtered on
  // real networks. With data waiting for an acknowledgement and nothing at all from the
  // gateway for kUdpSilenceMs (it acknowledges every segment at once), or KCP's dead link,
  // the session counts as closed.
  static constexpr int kUdpSilenceMs = 3000;
  std::chrono::steady_clock::time_point heard_at_{};
  bool closed_ = false;
  uint16_t close_code_ = 0;
  bool reconnect_requested_ = false;
  std::string reconnect_reason_;
};

}  // namespace behavior
