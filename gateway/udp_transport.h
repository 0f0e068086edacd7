// udp_transport.h — clients over UDP: one shared socket for every client, a KCP session
// (reliable, ordered) per authenticated client, and control datagrams beside it (conv 0:
// AUTH, unreliable frames, errors, BYE; common/include/behavior/client_frame.h).
//
// UdpEndpoint owns the socket and routes each datagram: control datagrams by type, KCP
// segments by conv to the session with that conv, accepted only from the address that
// authenticated it. A client's AUTH opens a UdpTransport and hands it to the gateway like an
// accepted TCP connection; the ticket then reaches the Session as an AUTH frame. Sessions
// with data in flight wait in a timer wheel for their next retransmission, so a tick costs
// only the sessions due in it.
#pragma once

#include <behavior/kcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway_stats.h"
#include <behavior/timer_wheel.h>
#include "transport.h"

namespace behavior::gateway {

class UdpEndpoint;

class UdpTransport final : public Transport {
 public:
  UdpTransport(UdpEndpoint& endpoint, const sockaddr_in& peer, uint32_t conv);
  TransportKind kind() const override { return TransportKind::kUdp; }
  void write_frame(uint32_t proto, std::string_view body, bool unreliable) override;
  void write_auth_ok(const std::string& pid) override;
  void close_after_write(CloseReason why, uint16_t ws_code) override;
  void close(CloseReason why) override;

  uint64_t wheel_tick = 0;  // the KCP wheel's tick it waits for (0 = none; timer_wheel.h)

 private:
  friend class UdpEndpoint;
  void input(std::string_view segment);  // a KCP segment from the client's address
  void flush(uint64_t now);              // KCP's due output, then the next visit in the wheel
  void fail(CloseReason why);            // ends itself and tells the user
  // Before AUTH succeeds every answer comes out of the AUTH datagram's size: an address that
  // is not the sender's (a forged source) gets no more bytes back than were sent.
  void send_unopened(std::string_view datagram);

  UdpEndpoint& ep_;
  sockaddr_in peer_;
  uint32_t conv_;
  Kcp kcp_;
  std::string nonce_;       // of the ticket: a resent AUTH is answered, not refused
  std::string auth_reply_;  // the answer to AUTH, once the session is open
  size_t reply_budget_ = 0;  // bytes it may still send before it is open (send_unopened)
  bool open_ = false;       // AUTH succeeded
  bool closed_ = false;     // in the endpoint's graveyard
};

class UdpEndpoint {
 public:
  struct Options {
    std::string host;
    int port = 0;
    std::string secret;  // to read a resent AUTH's ticket nonce
    size_t max_output_bytes = 0;
    size_t max_frame = 0;  // largest client message (protoID + body), as over TCP
  };
  // A new client's transport, for the gateway to give a Session (false: refused).
  using Accept = std::function<bool(UdpTransport*)>;

  UdpEndpoint(uv_loop_t* loop, GatewayStats& stats, Options options, Accept accept);
  ~UdpEndpoint();
  UdpEndpoint(const UdpEndpoint&) = delete;
  UdpEndpoint& operator=(const UdpEndpoint&) = delete;

  Status listen();
  int port() const { return port_; }
  // Datagrams the kernel dropped on this socket because its receive queue was full (the
  // socket's drop count, SO_MEMINFO): what the gateway could not read in time. A 32-bit
  // count that wraps; 0 while closed. Any thread.
  uint32_t socket_drops() const;
  // Sends what the sessions touched in this loop callback have due (ACKs, new frames).
  void flush();
  // Frees closed sessions (callbacks up the stack may have held them until now).
  void bury();
  // Closes the socket and the timer (the sessions are closed by their Sessions first).
  void close();

 private:
  friend class UdpTransport;
  void on_datagram(const sockaddr* from, std::string_view d);
  void on_auth(const sockaddr_in& from, std::string_view token, size_t datagram_bytes);
  // An AUTH refused before any session exists: a small error, only if it is no larger than
  // the request.
  void refuse_auth(const sockaddr_in& to, GatewayStats::AuthFailure reason, const std::string& why, size_t budget);
  UdpTransport* session(uint32_t conv, const sockaddr* from);
  void send(const sockaddr_in& to, std::string_view datagram);
  void touch(UdpTransport* t) { touched_.push_back(t); }
  void forget(UdpTransport* t);
  void tick();
  uint32_t now32() const { return static_cast<uint32_t>(uv_now(loop_)); }

  uv_loop_t* loop_;
  GatewayStats& stats_;
  Options options_;
  Accept accept_;
  uv_udp_t udp_{};
  uv_timer_t timer_{};
  bool open_ = false;
  int port_ = 0;
  std::atomic<int> fd_{-1};  // the socket, for socket_drops() from other threads
  std::unordered_map<uint32_t, UdpTransport*> by_conv_;
  std::unordered_map<std::string, UdpTransport*> by_nonce_;
  TimerWheel<UdpTransport> wheel_;
  std::vector<UdpTransport*> touched_, graveyard_;
  // Reads take up to kReadBatch datagrams per system call (recvmmsg; libuv gives each
  // 64 KiB of the buffer): under load, one read per datagram left the shared socket's queue
  // full and the kernel dropping (retransmissions, then seconds of delay for every UDP player).
  static constexpr size_t kReadBatch = 16;
  // Datagrams queued by send() for the next send_queued(): addresses, lengths, bytes.
  static constexpr size_t kSendBatch = 64;
  void send_queued();
  std::vector<sockaddr_in> out_to_;
  std::vector<size_t> out_len_;
  std::string out_bytes_;
  std::vector<mmsghdr> out_msgs_;  // send_queued()'s headers, kept between batches
  std::vector<iovec> out_iov_;
  std::unique_ptr<char[]> read_buf_ = std::make_unique<char[]>(kReadBatch * 64 * 1024);
};

}  // namespace behavior::gateway
