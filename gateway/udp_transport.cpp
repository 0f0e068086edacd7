// udp_transport.cpp — see udp_transport.h.
#include "udp_transport.h"

#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <behavior/clock.h>
#include <behavior/client_frame.h>
#include <behavior/crypto.h>
#include <behavior/message.h>
#include <behavior/ticket.h>
#include <behavior/system.pb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace behavior::gateway {
namespace {

constexpr uint64_t kKcpTickMs = 10;      // one timer drives every UDP session with data in flight
constexpr size_t kKcpWheelSlots = 1024;  // of kKcpTickMs: retransmissions up to ~10 s ahead
constexpr int kUdpSocketBuffer = 4 << 20;  // bytes asked for the shared socket, each way
constexpr uint32_t kUdpMtu = 1200;       // below any path MTU a player is likely to have

bool same_address(const sockaddr_in& a, const sockaddr* b) {
  if (b->sa_family != AF_INET) return false;
  auto* in = reinterpret_cast<const sockaddr_in*>(b);
  return a.sin_port == in->sin_port && a.sin_addr.s_addr == in->sin_addr.s_addr;
}


}  // namespace

// -----------------------------------------------------------------------------------------
// One client's session.

UdpTransport::UdpTransport(UdpEndpoint& endpoint, const sockaddr_in& peer, uint32_t conv)
    : ep_(endpoint), peer_(peer), conv_(conv), kcp_(conv, [this](std::string_view d) { ep_.send(peer_, d); }) {
  kcp_.set_nodelay(true, kKcpTickMs, 2, true);
  kcp_.set_windows(256, 256);
  (void)kcp_.set_mtu(kUdpMtu);
}

void UdpTransport::write_frame(uint32_t proto, std::string_view body, bool unreliable) {
  if (closed_) return;
  if (!open_) {  // refused before the session existed: only the error, as a control datagram
    if (proto == proto::kError) send_unopened(udp_control(kUdpError, 0, body));
    return;
  }
  std::string payload;
  append_client_frame(proto, body, &payload);
  std::string_view message = std::string_view(payload).substr(4);
  if (unreliable) {
    ++ep_.stats_.udp_unreliable_out;
    ep_.send(peer_, udp_control(kUdpData, conv_, message));
    return;
  }
  if (!kcp_.send(message).ok() || kcp_.waiting_to_send() * kUdpMtu > ep_.options_.max_output_bytes) {
    fail(CloseReason::kSlowReader);
    return;
  }
  ep_.touch(this);
}

void UdpTransport::write_auth_ok(const std::string& pid) {
  open_ = true;
  auth_reply_ = udp_control(kUdpAuth, conv_, pid);
  ep_.send(peer_, auth_reply_);
}

void UdpTransport::send_unopened(std::string_view datagram) {
  if (datagram.size() > reply_budget_) return;
  reply_budget_ -= datagram.size();
  ep_.send(peer_, datagram);
}

void UdpTransport::input(std::string_view segment) {
  if (!kcp_.input(segment, ep_.now32()).ok()) {
    ++ep_.stats_.udp_malformed;
    return;
  }
  std::string message;
  while (!closed_ && kcp_.receive(&message)) {
    uint32_t proto;
    std::string_view body;
    if (!split_client_payload(message, &proto, &body)) {
      user_->on_bad_input("a message is u32 protoID | body");
      break;
    }
    if (message.size() > ep_.options_.max_frame) {  // the limit TCP and WebSocket hold
      user_->on_bad_input("a message of " + std::to_string(message.size()) + " bytes is over the limit of " +
                          std::to_string(ep_.options_.max_frame));
      break;
    }
    user_->on_frame(proto, body);
  }
  if (closed_) return;
  // Any KCP segment from the session's own address proves the client alive (a client
  // retransmitting a large message through heavy loss may not finish a frame for a while);
  // a client that sends nothing still times out.
  user_->on_alive();
  if (!closed_) ep_.touch(this);  // acknowledge at once
}

void UdpTransport::flush(uint64_t now) {
  kcp_.flush(static_cast<uint32_t>(now));
  if (kcp_.dead()) {
    fail(CloseReason::kNoAcks);
    return;
  }
  uint32_t in_ms;
  if (kcp_.next_timer(static_cast<uint32_t>(now), &in_ms)) ep_.wheel_.schedule(this, now + in_ms);
}

// What is queued goes out once; then the session ends (a BYE tells the client).
void UdpTransport::close_after_write(CloseReason why, uint16_t) {
  if (closed_) return;
  if (open_) kcp_.flush(ep_.now32());
  fail(why);
}

void UdpTransport::close(CloseReason why) {
  if (closed_) return;
  closed_ = true;
  user_ = nullptr;
  if (why != CloseReason::kClientLeft) {
    const std::string bye = udp_control(kUdpBye, conv_, "");
    if (open_) {
      ep_.send(peer_, bye);
    } else {
      send_unopened(bye);
    }
  }
  ep_.forget(this);
}

void UdpTransport::fail(CloseReason why) {
  if (closed_) return;
  TransportUser* user = user_;
  close(why);
  if (user) user->on_closed(why);
}

// -----------------------------------------------------------------------------------------
// The shared socket.

UdpEndpoint::UdpEndpoint(uv_loop_t* loop, GatewayStats& stats, Options options, Accept accept)
    : loop_(loop), stats_(stats), options_(std::move(options)), accept_(std::move(accept)),
      wheel_(kKcpWheelSlots, kKcpTickMs) {}

UdpEndpoint::~UdpEndpoint() {
  bury();
  for (auto& [conv, t] : by_conv_) delete t;  // never closed (the gateway stopped first)
}

Status UdpEndpoint::listen() {
  sockaddr_in addr{};
  if (uv_ip4_addr(options_.host.c_str(), options_.port, &addr) != 0) {
    return Status::invalid_argument("bad UDP listen address " + options_.host);
  }
  uv_udp_init_ex(loop_, &udp_, AF_UNSPEC | UV_UDP_RECVMMSG);
  uv_timer_init(loop_, &timer_);
  open_ = true;  // both handles
  udp_.data = this;
  timer_.data = this;
  if (int r = uv_udp_bind(&udp_, reinterpret_cast<const sockaddr*>(&addr), 0); r != 0) {
    return Status::unavailable(std::string("UDP bind: ") + uv_strerror(r));
  }
  // Every UDP client shares this one socket: a burst (thousands of players reconnecting
  // after an outage, a round of heartbeats) must not overflow the kernel's default 208 KiB
  // and turn into drops and retransmissions. The kernel caps it at net.core.rmem_max.
  int buffer = kUdpSocketBuffer;
  uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&udp_), &buffer);
  buffer = kUdpSocketBuffer;
  uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&udp_), &buffer);
  sockaddr_in bound{};
  int len = sizeof bound;
  uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.sin_port);
  if (uv_os_fd_t fd; uv_fileno(reinterpret_cast<uv_handle_t*>(&udp_), &fd) == 0) fd_.store(fd);
  uv_udp_recv_start(
      &udp_,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<UdpEndpoint*>(h->data);
        *buf = uv_buf_init(self->read_buf_.get(), static_cast<unsigned>(kReadBatch * 64 * 1024));
      },
      [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
        auto* self = static_cast<UdpEndpoint*>(h->data);
        if (n > 0 && from) self->on_datagram(from, std::string_view(buf->base, static_cast<size_t>(n)));
        // One flush per batch (the last call of a recvmmsg has no MMSG_CHUNK flag).
        if (!(flags & UV_UDP_MMSG_CHUNK)) self->flush();
      });
  wheel_.start(uv_now(loop_));
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<UdpEndpoint*>(t->data)->tick(); }, kKcpTickMs, kKcpTickMs);
  return {};
}

void UdpEndpoint::close() {
  if (!open_) return;
  send_queued();  // the last BYEs
  open_ = false;
  fd_.store(-1);
  uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

uint32_t UdpEndpoint::socket_drops() const {
  const int fd = fd_.load();
  if (fd < 0) return 0;
  uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) != 0 || len <= SK_MEMINFO_DROPS * sizeof(uint32_t)) return 0;
  return info[SK_MEMINFO_DROPS];
}

// Queued, and sent with the others of this callback in batches of kSendBatch datagrams per
// sendmmsg (flush(), tick(), close()): one system call per datagram was most of the
// gateway's time under a room's fan-out to UDP players.
void UdpEndpoint::send(const sockaddr_in& to, std::string_view d) {
  out_to_.push_back(to);
  out_len_.push_back(d.size());
  out_bytes_.append(d);
  if (out_to_.size() >= kSendBatch) send_queued();
}

void UdpEndpoint::send_queued() {
  const size_t n = out_to_.size();
  uv_os_fd_t fd = -1;
  if (n > 0 && open_ && uv_fileno(reinterpret_cast<uv_handle_t*>(&udp_), &fd) == 0) {
    // The headers point into out_to_, out_iov_ and out_bytes_, which do not change until the
    // clear below (kept between batches: no allocation per flush).
    out_msgs_.resize(n);
    out_iov_.resize(n);
    size_t offset = 0;
    for (size_t i = 0; i < n; ++i) {
      out_iov_[i] = {out_bytes_.data() + offset, out_len_[i]};
      offset += out_len_[i];
      out_msgs_[i] = {};
      out_msgs_[i].msg_hdr.msg_name = &out_to_[i];
      out_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      out_msgs_[i].msg_hdr.msg_iov = &out_iov_[i];
      out_msgs_[i].msg_hdr.msg_iovlen = 1;
    }
    for (size_t sent = 0; sent < n;) {
      const int r = ::sendmmsg(fd, out_msgs_.data() + sent, static_cast<unsigned>(n - sent), MSG_DONTWAIT);
      if (r <= 0) break;  // a full socket buffer drops the rest, like the network would; KCP resends
      for (size_t i = sent; i < sent + static_cast<size_t>(r); ++i) stats_.bytes_out += out_len_[i];
      sent += static_cast<size_t>(r);
    }
  }
  out_to_.clear();
  out_len_.clear();
  out_bytes_.clear();
}

// Control datagrams (conv 0) for AUTH, unreliable frames and BYE; everything else is KCP for
// a session's conv, accepted only from the address that authenticated it.
void UdpEndpoint::on_datagram(const sockaddr* from, std::string_view d) {
  stats_.bytes_in += d.size();
  uint32_t conv = 0;
  if (!Kcp::peek_conv(d, &conv) || from->sa_family != AF_INET) {
    ++stats_.udp_malformed;
    return;
  }
  if (conv != 0) {
    if (UdpTransport* t = session(conv, from)) t->input(d);
    return;
  }
  uint8_t type;
  std::string_view rest;
  if (d.size() >= 5 && static_cast<uint8_t>(d[4]) == kUdpAuth) {
    if (parse_udp_control(d, false, &type, &conv, &rest)) {
      on_auth(*reinterpret_cast<const sockaddr_in*>(from), rest, d.size());
    }
    return;
  }
  if (!parse_udp_control(d, true, &type, &conv, &rest)) {
    ++stats_.udp_malformed;
    return;
  }
  UdpTransport* t = session(conv, from);
  if (!t) return;
  if (type == kUdpData) {
    uint32_t proto;
    std::string_view body;
    if (split_client_payload(rest, &proto, &body)) t->user_->on_frame(proto, body);
  } else if (type == kUdpBye) {
    t->fail(CloseReason::kClientLeft);
  }
}

// The session `conv`, if it exists and `from` is its address; otherwise counted, dropped.
UdpTransport* UdpEndpoint::session(uint32_t conv, const sockaddr* from) {
  auto it = by_conv_.find(conv);
  if (it == by_conv_.end()) {
    ++stats_.udp_unknown_conv;
    return nullptr;
  }
  if (!same_address(it->second->peer_, from)) {
    ++stats_.udp_other_address;
    spdlog::debug("gateway: refused a datagram for conv {} from another address", conv);
    return nullptr;
  }
  return it->second;
}

void UdpEndpoint::on_auth(const sockaddr_in& from, std::string_view token, size_t datagram_bytes) {
  // The ticket is checked here before anything is made for it: garbage and forged or
  // expired tickets cost no session, and get at most an error no larger than themselves.
  Result<Ticket> peek = verify_ticket(token, options_.secret, wall_ms());
  if (!peek.ok()) {
    const bool expired = peek.status().code() == Code::kTimeout;
    refuse_auth(from, expired ? GatewayStats::kExpired : GatewayStats::kInvalid,
                expired ? "the ticket has expired" : "the ticket is not valid", datagram_bytes);
    return;
  }
  // A client resends AUTH until it hears back: the same ticket from the same address is the
  // same login, answered again once ready. The same ticket from another address is a
  // replay: dropped without a word, and the login it copies goes on undisturbed.
  if (auto it = by_nonce_.find(peek->nonce); it != by_nonce_.end()) {
    UdpTransport* t = it->second;
    if (same_address(t->peer_, reinterpret_cast<const sockaddr*>(&from))) {
      if (!t->auth_reply_.empty()) send(from, t->auth_reply_);
    } else {
      ++stats_.auth_failures[GatewayStats::kReplayed];
    }
    return;
  }
  uint32_t conv = 0;
  do {
    std::string r = random_bytes(4);
    std::memcpy(&conv, r.data(), 4);
  } while (conv == 0 || by_conv_.count(conv));
  auto* t = new UdpTransport(*this, from, conv);
  t->reply_budget_ = datagram_bytes;
  t->nonce_ = peek->nonce;
  by_nonce_[peek->nonce] = t;
  by_conv_[conv] = t;
  if (!accept_(t)) {
    t->close(CloseReason::kUnavailable);
    return;
  }
  t->user_->on_frame(proto::kAuth, token);  // the ticket, like a TCP client's first frame
}

void UdpEndpoint::refuse_auth(const sockaddr_in& to, GatewayStats::AuthFailure reason, const std::string& why,
                              size_t budget) {
  ++stats_.auth_failures[reason];
  pb::ErrorFrame e;
  e.set_code(401);
  e.set_message(why);
  std::string datagram = udp_control(kUdpError, 0, e.SerializeAsString());
  if (datagram.size() <= budget) send(to, datagram);
}

void UdpEndpoint::flush() {
  if (!touched_.empty()) {
    const uint64_t now = uv_now(loop_);
    std::vector<UdpTransport*> batch;
    batch.swap(touched_);
    for (UdpTransport* t : batch) {
      if (!t->closed_) t->flush(now);
    }
    if (touched_.empty()) {  // keep the buffer
      batch.clear();
      touched_.swap(batch);
    }
  }
  send_queued();
}

void UdpEndpoint::forget(UdpTransport* t) {
  by_conv_.erase(t->conv_);
  if (auto it = by_nonce_.find(t->nonce_); it != by_nonce_.end() && it->second == t) by_nonce_.erase(it);
  graveyard_.push_back(t);  // callbacks up the stack may still hold it; freed by bury()
}

void UdpEndpoint::bury() {
  if (graveyard_.empty()) return;
  for (UdpTransport* t : graveyard_) wheel_.cancel(t);  // the tick's list may still point at them
  std::erase_if(touched_, [](UdpTransport* t) { return t->closed_; });
  for (UdpTransport* t : graveyard_) delete t;
  graveyard_.clear();
}

// Every 10 ms: the sessions whose retransmission or window probe came due. Idle sessions and
// sessions waiting for a later timeout are not visited at all (timer_wheel.h).
void UdpEndpoint::tick() {
  flush();  // anything queued outside a datagram or message callback
  const uint64_t now = uv_now(loop_);
  wheel_.advance(now, [now](UdpTransport* t) {
    if (!t->closed_) t->flush(now);
  });
  send_queued();
}

}  // namespace behavior::gateway
