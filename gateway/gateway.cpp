// gateway.cpp — see gateway.h. One libuv loop on a thread of its own holds every client
// socket. A connection is an Endpoint address of this node (Pid on the external shard), so
// the user's process writes to it like to any process: its messages arrive through
// deliver() → the loop's queue → on_messages(). The path of a player's frame:
//   on_read → decoder (TCP frames or WebSocket messages) → on_frame → forward →
//   Runtime::route (s2s to the user's node)
// and back: send_to_client in the user's process → s2s → Runtime::route → deliver →
// on_messages → send_frame → write.
#include "gateway.h"

#include <behavior/crypto.h>
#include <behavior/http_request_parser.h>
#include <behavior/json_map.h>
#include <behavior/kcp.h>
#include <behavior/ticket.h>
#include <behavior/websocket.h>
#include <spdlog/spdlog.h>

#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "net_loop.h"
#include "redis_client.h"
#include "runtime.h"
#include "system.pb.h"
#include "tcp_listener.h"
#include "timer_wheel.h"

namespace behavior::gateway {
namespace {

using detail::RedisClient;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr size_t kMaxEarlyFrames = 32;  // frames a client may send while its process is being ensured
constexpr uint64_t kSweepMs = 200;
constexpr uint64_t kKcpTickMs = 10;  // one timer drives every UDP session with data in flight
constexpr size_t kKcpWheelSlots = 1024;  // of kKcpTickMs: retransmissions up to ~10 s ahead
constexpr int kUdpSocketBuffer = 4 << 20;  // bytes asked for the shared UDP socket, each way
constexpr uint32_t kUdpMtu = 1200;    // below any path MTU a player is likely to have

// Error codes of kError frames (body: pb::ErrorFrame), for clients to act on.
enum ErrorCode : uint32_t {
  kErrUnauthenticated = 401,  // no, bad, expired, foreign or reused ticket; or AUTH not first
  kErrBadFrame = 400,         // malformed or reserved protoID
  kErrRateLimited = 429,
  kErrProcessGone = 410,      // the user's process ended: log in again
  kErrUnavailable = 503,      // Redis or the user's node unreachable: retry
};

bool same_address(const sockaddr_in& a, const sockaddr* b) {
  if (b->sa_family != AF_INET) return false;
  auto* in = reinterpret_cast<const sockaddr_in*>(b);
  return a.sin_port == in->sin_port && a.sin_addr.s_addr == in->sin_addr.s_addr;
}

struct WsState {
  explicit WsState(size_t max_frame) : upgrade(HttpLimits{}), frames(true, max_frame) {}
  HttpRequestParser upgrade;
  ws::FrameDecoder frames;
  bool open = false;        // the 101 was sent
  bool close_sent = false;  // our close frame is queued: nothing may follow it
};

}  // namespace

class Gateway::Impl final : public Endpoint {
 public:
  Impl(Node& node, const ClusterOptions& co, GatewayOptions o)
      : rt_(node.runtime()), cluster_options_(co), options_(std::move(o)),
        net_([this](Message* batch) { on_messages(batch); }, options_.io_on_worker ? rt_.shard(0) : nullptr) {
    if (options_.public_host.empty()) options_.public_host = options_.host;
    for (const char* reason : {"not_first", "invalid", "expired", "other_gateway", "replayed", "timeout"}) {
      auth_failures_.emplace(reason, std::make_unique<std::atomic<uint64_t>>(0));  // fixed keys: read from any thread
    }
  }

  Status start() {
    if (cluster_options_.secret.empty()) return Status::invalid_argument("the cluster secret is not set");
    if (Status s = net_.start([this] { return start_on_loop(); }, [this] { stop_on_loop(); }); !s.ok()) return s;
    rt_.add_endpoint(this, kControlSerial);  // operator requests (kKickUser)
    running_ = true;
    spdlog::info("gateway: tcp {} ws {} (node {})", tcp_port_.load(), ws_port_.load(), rt_.node_id());
    return {};
  }

  void stop() {
    if (!running_.exchange(false)) return;
    rt_.remove_endpoint(control_pid(rt_.node_id()));
    net_.stop([this] { stop_on_loop(); });
  }

  // Endpoint: a message for one of our connections, from any thread.
  void deliver(Message* m) override { net_.send(m); }

  std::map<std::string, std::string> attributes() const {
    std::map<std::string, std::string> a;
    if (tcp_port_ > 0) a["tcp"] = options_.public_host + ":" + std::to_string(tcp_port_);
    if (ws_port_ > 0) a["ws"] = options_.public_host + ":" + std::to_string(ws_port_);
    if (udp_port_ > 0) a["udp"] = options_.public_host + ":" + std::to_string(udp_port_);
    return a;
  }
  int tcp_port() const { return tcp_port_; }
  int ws_port() const { return ws_port_; }
  int udp_port() const { return udp_port_; }
  uint64_t connections() const { return connections_; }

  std::string metrics_text() const {
    std::string out;
    auto line = [&out](std::string_view name, const std::string& labels, uint64_t v) {
      append_metric(&out, name, labels, v);
    };
    line("behavior_gateway_connections", "transport=\"tcp\"", tcp_conns_);
    line("behavior_gateway_connections", "transport=\"ws\"", ws_conns_);
    line("behavior_gateway_connections", "transport=\"udp\"", udp_conns_);
    line("behavior_gateway_udp_dropped_total", "reason=\"malformed\"", udp_bad_);
    line("behavior_gateway_udp_dropped_total", "reason=\"unknown_conv\"", udp_unknown_);
    line("behavior_gateway_udp_dropped_total", "reason=\"other_address\"", udp_spoofed_);
    line("behavior_gateway_udp_unreliable_out_total", "", udp_unreliable_out_);
    line("behavior_gateway_accepted_total", "", accepted_);
    line("behavior_gateway_authenticated_total", "", authenticated_);
    for (const auto& [reason, counter] : auth_failures_) {
      line("behavior_gateway_auth_failures_total", "reason=\"" + std::string(reason) + "\"", counter->load());
    }
    line("behavior_gateway_kicks_total", "", kicks_);
    line("behavior_gateway_frames_in_total", "", frames_in_);
    line("behavior_gateway_frames_out_total", "", frames_out_);
    line("behavior_gateway_bytes_in_total", "", bytes_in_);
    line("behavior_gateway_bytes_out_total", "", bytes_out_);
    line("behavior_gateway_drops_total", "reason=\"rate_limited\"", dropped_rate_);
    line("behavior_gateway_refused_frames_total", "reason=\"reserved_proto\"", refused_reserved_);
    line("behavior_gateway_disconnects_total", "reason=\"slow_reader\"", cut_slow_);
    line("behavior_gateway_disconnects_total", "reason=\"idle\"", cut_idle_);
    line("behavior_gateway_disconnects_total", "reason=\"bad_frame\"", cut_bad_);
    return out;
  }

 private:
  struct Conn;
  struct List {
    Conn* head = nullptr;
    Conn* tail = nullptr;
    int64_t timeout_ms = 0;  // the same for every entry, so the list stays in deadline order
  };
  struct Conn {
    explicit Conn(Impl* g, bool websocket, size_t max_frame)
        : gw(g), ws(websocket), decoder(max_frame), wsx(websocket ? new WsState(max_frame) : nullptr) {}
    uv_tcp_t tcp{};
    Impl* gw;
    enum class State : uint8_t { kAuth, kEnsuring, kReady, kClosing } state = State::kAuth;
    bool ws;
    bool released = false;
    Pid pid;   // this connection's address
    Pid user;  // the user's process, once ensured
    uint64_t ensure_ref = 0;
    uint64_t monitor_ref = 0;
    int64_t deadline = 0;  // loop ms: the auth deadline, then the idle deadline
    List* list = nullptr;  // the deadline list it is in, if any
    Conn* prev = nullptr;
    Conn* next = nullptr;
    double tokens = 0;
    int64_t tokens_at = 0;
    int64_t last_error_at = -1000000;
    ClientFrameDecoder decoder;       // TCP
    std::unique_ptr<WsState> wsx;     // WebSocket
    struct Udp {
      sockaddr_in peer{};
      uint32_t conv = 0;
      std::unique_ptr<Kcp> kcp;
      std::string nonce;       // of the ticket: a repeated AUTH is answered, not refused
      std::string auth_reply;  // the answer, once ready
    };
    std::unique_ptr<Udp> udp;        // UDP (tcp is unused then)
    uint64_t wheel_tick = 0;         // UDP: the KCP wheel's tick it waits for (0 = none)
    std::vector<std::pair<uint32_t, std::string>> early;
    std::string user_name;
    std::string out;     // queued for this callback's flush_writes()
    bool dirty = false;  // in dirty_
  };
  struct WriteReq {
    uv_write_t req;
    std::string data;
  };

  // -------------------------------------------------------------------------------------
  // Setup and teardown (loop thread).

  Status start_on_loop() {
    detail::RedisOptions ro;
    ro.host = cluster_options_.redis_host;
    ro.port = cluster_options_.redis_port;
    ro.password = cluster_options_.redis_password;
    redis_ = std::make_unique<RedisClient>(net_.loop(), ro, "gateway");
    redis_->start();
    if (options_.tcp_port >= 0) {
      tcp_listener_ = std::make_unique<detail::TcpListener>(net_.loop(), [this](uv_stream_t* s) { accept(s, false); });
      if (Status s = tcp_listener_->listen(options_.host, options_.tcp_port, 4096); !s.ok()) return s;
      tcp_port_ = tcp_listener_->port();
    }
    if (options_.udp_port >= 0) {
      if (Status s = listen_udp(); !s.ok()) return s;
    }
    if (options_.ws_port >= 0) {
      ws_listener_ = std::make_unique<detail::TcpListener>(net_.loop(), [this](uv_stream_t* s) { accept(s, true); });
      if (Status s = ws_listener_->listen(options_.host, options_.ws_port, 4096); !s.ok()) return s;
      ws_port_ = ws_listener_->port();
    }
    uv_timer_init(net_.loop(), &sweep_timer_);
    sweep_open_ = true;
    sweep_timer_.data = this;
    uv_timer_start(&sweep_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->sweep(); }, kSweepMs, kSweepMs);
    return {};
  }

  void stop_on_loop() {
    if (tcp_listener_) tcp_listener_->close();
    if (ws_listener_) ws_listener_->close();
    std::vector<Conn*> all;
    for (auto& [serial, c] : conns_) all.push_back(c);
    for (Conn* c : all) close(c, "the gateway is stopping");
    bury();
    if (redis_) redis_->stop();
    // On a shared loop (a worker's) every handle must be closed here.
    auto close_handle = [](void* h) { uv_close(static_cast<uv_handle_t*>(h), nullptr); };
    if (sweep_open_) close_handle(&sweep_timer_);
    if (udp_open_) {
      close_handle(&udp_);
      close_handle(&kcp_timer_);
    }
    sweep_open_ = udp_open_ = false;
  }

  // -------------------------------------------------------------------------------------
  // UDP: control datagrams (conv 0) for AUTH, unreliable frames and BYE; everything else is
  // KCP for a session's conv, accepted only from the address that authenticated it.

  Status listen_udp() {
    sockaddr_in addr{};
    if (uv_ip4_addr(options_.host.c_str(), options_.udp_port, &addr) != 0) {
      return Status::invalid_argument("bad UDP listen address " + options_.host);
    }
    uv_udp_init(net_.loop(), &udp_);
    uv_timer_init(net_.loop(), &kcp_timer_);
    udp_open_ = true;  // both handles
    udp_.data = this;
    kcp_timer_.data = this;
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
    udp_port_ = ntohs(bound.sin_port);
    uv_udp_recv_start(
        &udp_,
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<Impl*>(h->data);
          *buf = uv_buf_init(self->read_buf_, sizeof self->read_buf_);
        },
        [](uv_udp_t* h, ssize_t n, const uv_buf_t*, const sockaddr* from, unsigned) {
          auto* self = static_cast<Impl*>(h->data);
          if (n > 0 && from) self->on_datagram(from, std::string_view(self->read_buf_, static_cast<size_t>(n)));
        });
    kcp_wheel_.start(uv_now(net_.loop()));
    uv_timer_start(&kcp_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->kcp_tick(); }, kKcpTickMs, kKcpTickMs);
    return {};
  }

  uint32_t now32() { return static_cast<uint32_t>(uv_now(net_.loop())); }

  void send_datagram(const sockaddr_in& to, std::string_view d) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(d.data()), static_cast<unsigned>(d.size()));
    if (uv_udp_try_send(&udp_, &b, 1, reinterpret_cast<const sockaddr*>(&to)) > 0) bytes_out_ += d.size();
    // A full socket buffer drops the datagram, like the network would; KCP resends.
  }

  void on_datagram(const sockaddr* from, std::string_view d) {
    bytes_in_ += d.size();
    uint32_t conv = 0;
    if (!Kcp::peek_conv(d, &conv) || from->sa_family != AF_INET) {
      ++udp_bad_;
      return;
    }
    if (conv == 0) {
      uint8_t type;
      std::string_view rest;
      if (d.size() >= 5 && static_cast<uint8_t>(d[4]) == kUdpAuth) {
        if (parse_udp_control(d, false, &type, &conv, &rest)) udp_auth(*reinterpret_cast<const sockaddr_in*>(from), rest);
        return;
      }
      if (!parse_udp_control(d, true, &type, &conv, &rest)) {
        ++udp_bad_;
        return;
      }
      Conn* c = udp_session(conv, from);
      if (!c) return;
      if (type == kUdpData) {
        uint32_t proto;
        std::string_view body;
        if (split_client_payload(rest, &proto, &body)) on_frame(c, proto, body);
      } else if (type == kUdpBye) {
        close(c, "the client said bye");
      }
      flush_udp();
      return;
    }
    Conn* c = udp_session(conv, from);
    if (!c) return;
    if (!c->udp->kcp->input(d, now32()).ok()) {
      ++udp_bad_;
      return;
    }
    std::string message;
    while (c->state != Conn::State::kClosing && c->udp->kcp->receive(&message)) {
      uint32_t proto;
      std::string_view body;
      if (!split_client_payload(message, &proto, &body)) {
        bad_frame(c, "a message is u32 protoID | body");
        break;
      }
      on_frame(c, proto, body);
    }
    if (c->state != Conn::State::kClosing) {
      // Any KCP segment from the session's own address proves the client alive (a client
      // retransmitting a large message through heavy loss may not finish a frame for a
      // while); a client that sends nothing still times out.
      if (c->state == Conn::State::kReady) touch(c, static_cast<int64_t>(uv_now(net_.loop())));
      udp_touched_.push_back(c);  // acknowledge at once
    }
    flush_udp();
  }

  // The session `conv`, if it exists and `from` is its address; otherwise counted, dropped.
  Conn* udp_session(uint32_t conv, const sockaddr* from) {
    auto it = udp_by_conv_.find(conv);
    if (it == udp_by_conv_.end()) {
      ++udp_unknown_;
      return nullptr;
    }
    if (!same_address(it->second->udp->peer, from)) {
      ++udp_spoofed_;
      spdlog::debug("gateway: refused a datagram for conv {} from another address", conv);
      return nullptr;
    }
    return it->second->state == Conn::State::kClosing ? nullptr : it->second;
  }

  void udp_auth(const sockaddr_in& from, std::string_view token) {
    // A client resends AUTH until it hears back: the same ticket from the same address is
    // the same login, answered again once ready.
    Result<Ticket> peek = verify_ticket(token, cluster_options_.secret, wall_ms());
    if (peek.ok()) {
      if (auto it = udp_by_nonce_.find(peek->nonce); it != udp_by_nonce_.end()) {
        Conn* c = it->second;
        if (same_address(c->udp->peer, reinterpret_cast<const sockaddr*>(&from))) {
          if (!c->udp->auth_reply.empty()) send_datagram(from, c->udp->auth_reply);
          return;
        }
      }
    }
    auto* c = new Conn(this, false, options_.max_frame);
    c->udp = std::make_unique<Conn::Udp>();
    c->udp->peer = from;
    do {
      std::string r = random_bytes(4);
      std::memcpy(&c->udp->conv, r.data(), 4);
    } while (c->udp->conv == 0 || udp_by_conv_.count(c->udp->conv));
    c->udp->kcp = std::make_unique<Kcp>(c->udp->conv, [this, c](std::string_view d) { send_datagram(c->udp->peer, d); });
    c->udp->kcp->set_nodelay(true, kKcpTickMs, 2, true);
    c->udp->kcp->set_windows(256, 256);
    (void)c->udp->kcp->set_mtu(kUdpMtu);
    if (peek.ok()) {
      c->udp->nonce = peek->nonce;
      udp_by_nonce_[peek->nonce] = c;
    }
    udp_by_conv_[c->udp->conv] = c;
    ++accepted_;
    ++connections_;
    ++udp_conns_;
    c->pid = rt_.add_endpoint(this);
    conns_[c->pid.serial()] = c;
    const auto now = static_cast<int64_t>(uv_now(net_.loop()));
    enlist(auth_list_, c, now);
    c->tokens = options_.frame_burst;
    c->tokens_at = now;
    authenticate(c, token);
  }

  // Sends what the sessions touched in this callback have due (ACKs, new frames) at once,
  // then puts each in the wheel for its next retransmission, if any.
  void flush_udp() {
    if (udp_touched_.empty()) return;
    const uint64_t now = uv_now(net_.loop());
    for (Conn* c : udp_touched_) {
      if (c->state != Conn::State::kClosing) kcp_flush(c, now);
    }
    udp_touched_.clear();
  }

  void kcp_flush(Conn* c, uint64_t now) {
    Kcp& k = *c->udp->kcp;
    k.flush(static_cast<uint32_t>(now));
    if (k.dead()) {
      close(c, "the client stopped acknowledging");
      return;
    }
    uint32_t in_ms;
    if (k.next_timer(static_cast<uint32_t>(now), &in_ms)) kcp_wheel_.schedule(c, now + in_ms);
  }

  // Every 10 ms: the sessions whose retransmission or window probe came due. Idle sessions
  // and sessions waiting for a later timeout are not visited at all (timer_wheel.h).
  void kcp_tick() {
    flush_udp();  // anything queued outside a datagram or message callback
    const uint64_t now = uv_now(net_.loop());
    kcp_wheel_.advance(now, [this, now](Conn* c) {
      if (c->state != Conn::State::kClosing) kcp_flush(c, now);
    });
  }

  // -------------------------------------------------------------------------------------
  // Connections.

  void accept(uv_stream_t* server, bool ws) {
    auto* c = new Conn(this, ws, options_.max_frame);
    uv_tcp_init(net_.loop(), &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0 || conns_.size() >= options_.max_connections) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
      return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    ++accepted_;
    ++connections_;
    ++(ws ? ws_conns_ : tcp_conns_);
    c->pid = rt_.add_endpoint(this);
    conns_[c->pid.serial()] = c;
    const auto now = static_cast<int64_t>(uv_now(net_.loop()));
    enlist(auth_list_, c, now);
    c->tokens = options_.frame_burst;
    c->tokens_at = now;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* conn = static_cast<Conn*>(h->data);
          *buf = uv_buf_init(conn->gw->read_buf_, sizeof conn->gw->read_buf_);  // one buffer per loop
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
          auto* conn = static_cast<Conn*>(s->data);
          if (n < 0) {
            conn->gw->close(conn, n == UV_EOF ? "closed by the client" : uv_strerror(static_cast<int>(n)));
          } else if (n > 0) {
            conn->gw->on_read(conn, conn->gw->read_buf_, static_cast<size_t>(n));
            conn->gw->flush_writes();
          }
        });
  }

  void on_read(Conn* c, const char* data, size_t n) {
    if (c->state == Conn::State::kClosing) return;
    bytes_in_ += n;
    if (!c->ws) {
      Status s = c->decoder.feed(data, n, [this, c](uint32_t proto, std::string_view body) {
        on_frame(c, proto, body);
        return c->state != Conn::State::kClosing;
      });
      if (!s.ok()) bad_frame(c, s.message());
      return;
    }
    WsState& w = *c->wsx;
    if (!w.open) {
      auto error = w.upgrade.feed(data, n, [this, c](HttpRequest&& req, bool) {
        Result<std::string> r = ws::upgrade_response(req);
        if (!r.ok()) {
          queue(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                       std::to_string(r.status().message().size()) + "\r\n\r\n" + r.status().message());
          close_after_write(c, "bad WebSocket upgrade");
        } else {
          queue(c, std::move(*r));
          c->wsx->open = true;
        }
        return false;  // nothing after the upgrade request is HTTP
      });
      if (error && c->state != Conn::State::kClosing) {
        queue(c, "HTTP/1.1 " + std::to_string(error->status) + " Bad Request\r\nConnection: close\r\n\r\n");
        close_after_write(c, "malformed WebSocket upgrade");
      }
      return;
    }
    Status s = w.frames.feed(data, n, [this, c](ws::Opcode op, std::string_view payload) {
      switch (op) {
        case ws::Opcode::kBinary: {
          uint32_t proto;
          std::string_view body;
          if (!split_client_payload(payload, &proto, &body)) {
            ws_close(c, ws::kCloseProtocolError, "a message is u32 protoID | body");
            break;
          }
          on_frame(c, proto, body);
          break;
        }
        case ws::Opcode::kText:
          ws_close(c, ws::kCloseUnsupportedData, "binary frames only");
          break;
        case ws::Opcode::kPing: {
          std::string pong;
          ws::append_frame(ws::Opcode::kPong, payload, false, &pong);
          queue(c, std::move(pong));
          break;
        }
        case ws::Opcode::kClose:
          ws_close(c, ws::kCloseNormal, "");
          break;
        default:
          break;  // pong
      }
      return c->state != Conn::State::kClosing;
    });
    if (!s.ok() && c->state != Conn::State::kClosing) ws_close(c, w.frames.close_code(), s.message());
  }

  // One client frame, whatever the transport.
  void on_frame(Conn* c, uint32_t proto, std::string_view body) {
    ++frames_in_;
    take_frame(c, proto, body);
  }

  // A frame as it arrived, or held while the login finished and taken now (counted once).
  void take_frame(Conn* c, uint32_t proto, std::string_view body) {
    const int64_t now = static_cast<int64_t>(uv_now(net_.loop()));
    switch (c->state) {
      case Conn::State::kAuth:
        if (proto != proto::kAuth) {
          auth_failed(c, "not_first", "AUTH must be the first frame");
          return;
        }
        authenticate(c, body);
        return;
      case Conn::State::kEnsuring:
        if (c->early.size() >= kMaxEarlyFrames) {
          bad_frame(c, "too many frames before the login finished");
          return;
        }
        c->early.emplace_back(proto, std::string(body));
        return;
      case Conn::State::kReady:
        break;
      case Conn::State::kClosing:
        return;
    }
    touch(c, now);
    if (proto == proto::kHeartbeat) {
      send_frame(c, proto::kHeartbeat, body.substr(0, 64));
      return;
    }
    if (proto::is_system(proto)) {  // kAttach, kStop, kExit, a second kAuth...: never relayed
      ++refused_reserved_;
      send_error(c, kErrBadFrame, "protoID " + std::to_string(proto) + " is reserved");
      return;
    }
    if (!take_token(c, now)) {
      ++dropped_rate_;
      if (now - c->last_error_at >= 1000) {
        c->last_error_at = now;
        send_error(c, kErrRateLimited, "too many frames; some were dropped");
      }
      return;
    }
    rt_.send(c->pid, c->user, Kind::kInfo, proto, Body::copy_of(body));
  }

  bool take_token(Conn* c, int64_t now) {
    if (options_.frame_rate <= 0) return true;
    c->tokens = std::min(options_.frame_burst, c->tokens + double(now - c->tokens_at) * options_.frame_rate / 1000.0);
    c->tokens_at = now;
    if (c->tokens < 1.0) return false;
    c->tokens -= 1.0;
    return true;
  }

  // -------------------------------------------------------------------------------------
  // AUTH: verify, single use, ensure the user's process, attach.

  void authenticate(Conn* c, std::string_view token) {
    const int64_t now = wall_ms();
    Result<Ticket> t = verify_ticket(token, cluster_options_.secret, now);
    if (!t.ok()) {
      auth_failed(c, t.status().code() == Code::kTimeout ? "expired" : "invalid",
                  t.status().code() == Code::kTimeout ? "the ticket has expired" : "the ticket is not valid");
      return;
    }
    if (t->gateway != std::to_string(rt_.node_id())) {
      auth_failed(c, "other_gateway", "the ticket is for another gateway");
      return;
    }
    if (!redis_->connected()) {
      send_error(c, kErrUnavailable, "tickets cannot be checked now (Redis is down); retry");
      close_after_write(c, "Redis is down", ws::kCloseTryAgainLater);
      return;
    }
    c->state = Conn::State::kEnsuring;
    c->user_name = t->user;
    const uint16_t node = t->node;
    const int64_t ttl = std::max<int64_t>(1000, t->expires_ms - now + 1000);
    // Single use: the first SET NX of the nonce wins; the key outlives the ticket.
    redis_->command({"SET", cluster_options_.prefix + "ticket:" + t->nonce, std::to_string(c->pid.raw()), "NX", "PX",
                     std::to_string(ttl)},
                    [this, serial = c->pid.serial(), node](redisReply* r) {
                      Conn* conn = find(serial);
                      if (!conn) return;
                      if (!r || r->type == REDIS_REPLY_ERROR) {
                        send_error(conn, kErrUnavailable, "tickets cannot be checked now; retry");
                        close_after_write(conn, "Redis failed", ws::kCloseTryAgainLater);
                      } else if (r->type == REDIS_REPLY_NIL) {
                        auth_failed(conn, "replayed", "the ticket was already used");
                      } else {
                        ensure_user(conn, node);
                      }
                      flush_writes();
                    });
  }

  void ensure_user(Conn* c, uint16_t node) {
    auto* m = new Message(Cluster::service_pid(node), c->pid, Kind::kCall, cluster_proto::kEnsure,
                          Body(Cluster::ensure_request(user_process_name(c->user_name), options_.user_kind, c->pid)));
    c->ensure_ref = ++refs_;
    m->set_request_id(c->ensure_ref);
    rt_.route(m);
  }

  void on_ensured(Conn* c, MessagePtr m) {
    Reply r(std::move(m));
    if (!r.ok()) {
      send_error(c, kErrUnavailable, "your process could not be reached: " + r.status().message());
      close_after_write(c, "ensure failed", ws::kCloseTryAgainLater);
      return;
    }
    c->user = r.as<Pid>();
    c->state = Conn::State::kReady;
    ++authenticated_;
    touch(c, static_cast<int64_t>(uv_now(net_.loop())));
    // Watch the process (if it ends, the client must log in again) and become its writer.
    c->monitor_ref = ++refs_;
    rt_.send(c->pid, c->user, Kind::kMonitor, 0, Body(), c->monitor_ref);
    rt_.send(c->pid, c->user, Kind::kInfo, proto::kAttach, Body());
    if (c->udp) {
      c->udp->auth_reply = udp_control(kUdpAuth, c->udp->conv, c->user.to_string());
      send_datagram(c->udp->peer, c->udp->auth_reply);
    } else {
      send_frame(c, proto::kAuth, c->user.to_string());
    }
    auto early = std::move(c->early);
    for (auto& [proto, body] : early) {
      if (c->state != Conn::State::kReady) break;
      take_frame(c, proto, body);
    }
  }

  // -------------------------------------------------------------------------------------
  // Messages for connections (from the user's process, the runtime, the cluster).

  void on_messages(Message* batch) {
    for (Message* m = batch; m;) {
      Message* next = m->next.load(std::memory_order_relaxed);
      MessagePtr owned(m);
      if (m->to().serial() == kControlSerial) {
        control(std::move(owned));
      } else if (Conn* c = find(m->to().serial())) {
        handle(c, std::move(owned));
      }
      m = next;
    }
    flush_udp();  // everything this batch queued for UDP clients, in as few datagrams as fit
    flush_writes();
  }

  void handle(Conn* c, MessagePtr m) {
    if (c->state == Conn::State::kClosing) return;
    switch (m->kind()) {
      case Kind::kClient:  // from the user's process, or any process the cluster trusts (a room)
        if (c->state == Conn::State::kReady) {
          send_frame(c, m->proto_id(), m->body().raw(), m->request_id() == kClientUnreliable);
        }
        return;
      case Kind::kReply:
        if (c->state == Conn::State::kEnsuring && m->request_id() == c->ensure_ref) on_ensured(c, std::move(m));
        return;
      case Kind::kInfo:
        if (m->proto_id() == proto::kKick && m->from() == c->user) {
          ++kicks_;
          send_frame(c, proto::kKick, m->body().raw());
          c->user = Pid();  // the process has a new writer already: no detach
          close_after_write(c, "kicked: logged in elsewhere");
        }
        return;
      case Kind::kDown:
        if (m->request_id() == c->monitor_ref && c->user.valid()) {
          c->user = Pid();
          send_error(c, kErrProcessGone, "your process ended; log in again");
          close_after_write(c, "the user's process ended");
        }
        return;
      default:
        return;
    }
  }

  // Operator requests to control_pid() (gateway.h), from any node of the cluster (s2s peers
  // have proved the cluster secret). Only calls are answered.
  void control(MessagePtr m) {
    if (m->kind() != Kind::kCall) return;
    auto answer = [&](Message* r) {
      r->set_request_id(m->request_id());
      rt_.route(r);
    };
    if (m->proto_id() != kKickUser) {
      answer(Message::error_reply(m->from(), m->to(), m->request_id(),
                                  Status::invalid_argument("unknown gateway request " + std::to_string(m->proto_id()))));
      return;
    }
    std::optional<std::string> user, reason;
    try {
      const JsonMap& req = m->as<JsonMap>();
      user = req.get_string("user");
      reason = req.get_string("reason");
    } catch (const std::exception&) {
      user.reset();
    }
    if (!user || user->empty()) {
      answer(Message::error_reply(m->from(), m->to(), m->request_id(),
                                  Status::invalid_argument("a kick names a user: JsonMap{user, reason}")));
      return;
    }
    const std::string why = reason && !reason->empty() ? *reason : std::string(kDefaultKickReason);
    // A scan of every connection: operators kick rarely, and an index by user would cost
    // memory on every connection.
    std::vector<Conn*> hit;
    for (auto& [serial, c] : conns_) {
      if ((c->state == Conn::State::kReady || c->state == Conn::State::kEnsuring) && c->user_name == *user) {
        hit.push_back(c);
      }
    }
    for (Conn* c : hit) {
      ++kicks_;
      spdlog::info("gateway: kicking user {} ({}): {}", *user, c->pid.to_string(), why);
      send_frame(c, proto::kKick, why);
      close_after_write(c, "kicked by an operator");  // the process is told (kDetach) and lives on
    }
    answer(new Message(m->from(), m->to(), Kind::kReply, kKickUser, Body(static_cast<uint64_t>(hit.size()))));
  }

  // -------------------------------------------------------------------------------------
  // Output.

  void send_frame(Conn* c, uint32_t proto, std::string_view body, bool unreliable = false) {
    if (c->udp) {
      std::string payload;
      append_client_frame(proto, body, &payload);
      std::string_view message = std::string_view(payload).substr(4);
      ++frames_out_;
      if (c->state != Conn::State::kReady) {  // refused before the session existed
        if (proto == proto::kError) send_datagram(c->udp->peer, udp_control(kUdpError, 0, body));
        return;
      }
      if (unreliable) {
        ++udp_unreliable_out_;
        send_datagram(c->udp->peer, udp_control(kUdpData, c->udp->conv, message));
        return;
      }
      Kcp& k = *c->udp->kcp;
      if (!k.send(message).ok() || k.waiting_to_send() * kUdpMtu > options_.max_output_bytes) {
        ++cut_slow_;
        close(c, "slow reader: KCP send queue full");
        return;
      }
      udp_touched_.push_back(c);
      return;
    }
    ++frames_out_;
    if (!c->ws) {
      // Straight into the connection's output: a temporary string per frame (a malloc, a
      // copy and a free) was a visible share of the gateway's time in the echo profile.
      if (c->state == Conn::State::kClosing) return;
      append_client_frame(proto, body, &c->out);
      mark_dirty(c);
      return;
    }
    std::string payload, out;
    append_client_frame(proto, body, &payload);
    ws::append_frame(ws::Opcode::kBinary, std::string_view(payload).substr(4), false, &out);
    queue(c, std::move(out));
  }

  void send_error(Conn* c, uint32_t code, const std::string& message) {
    pb::ErrorFrame e;
    e.set_code(code);
    e.set_message(message);
    send_frame(c, proto::kError, e.SerializeAsString());
  }

  // Output to a client is gathered per connection while a callback runs and written once
  // at its end (flush_writes): one system call for many frames.
  void queue(Conn* c, std::string bytes) {
    if (c->state == Conn::State::kClosing || bytes.empty()) return;
    c->out.append(bytes);
    mark_dirty(c);
  }

  void mark_dirty(Conn* c) {
    if (!c->dirty) {
      c->dirty = true;
      dirty_.push_back(c);
    }
  }

  void flush_writes() {
    // A write may close (release) a connection, which takes it out of dirty_: work on a copy.
    std::vector<Conn*> batch;
    batch.swap(dirty_);
    for (Conn* c : batch) c->dirty = false;
    for (size_t i = 0; i < batch.size(); ++i) {
      Conn* c = batch[i];
      if (c->released || c->out.empty()) continue;
      // Mostly the socket takes it all: then the buffer stays for the next callback's
      // frames (up to kKeptOutput bytes, so a quiet connection holds little). Moving it
      // out every time made the next frames regrow it, and growth past 1 KB makes glibc
      // consolidate its fast bins (malloc_consolidate, then slower mallocs for every
      // message body): a fifth of the gateway's echo profile went to malloc.
      if (c->state == Conn::State::kClosing) continue;
      if (try_write(c, &c->out)) {
        if (c->out.capacity() > kKeptOutput) std::string().swap(c->out);
        c->out.clear();
        continue;
      }
      if (c->state == Conn::State::kClosing) continue;  // the write failed and closed it
      std::string out = std::move(c->out);
      c->out.clear();
      write_now(c, std::move(out), true);  // may release c; later entries are other connections
    }
  }

  // Writes what the socket takes now, if nothing is queued before it; true if it took
  // everything, else `bytes` keeps the rest (a hard error closes c: check its state).
  bool try_write(Conn* c, std::string* bytes) {
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    if (uv_stream_get_write_queue_size(stream) != 0) return false;
    uv_buf_t b = uv_buf_init(bytes->data(), static_cast<unsigned>(bytes->size()));
    int n = uv_try_write(stream, &b, 1);
    if (n == static_cast<int>(bytes->size())) {
      bytes_out_ += bytes->size();
      return true;
    }
    if (n < 0 && n != UV_EAGAIN) {
      close(c, uv_strerror(n));
      return false;
    }
    if (n > 0) {
      bytes_out_ += static_cast<uint64_t>(n);
      bytes->erase(0, static_cast<size_t>(n));
    }
    return false;
  }

  // `tried`: try_write already ran on these bytes.
  void write_now(Conn* c, std::string bytes, bool tried = false) {
    if (c->state == Conn::State::kClosing || bytes.empty()) return;
    if (!tried && try_write(c, &bytes)) return;
    if (c->state == Conn::State::kClosing) return;  // the write failed and closed it
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    if (uv_stream_get_write_queue_size(stream) + bytes.size() > options_.max_output_bytes) {
      ++cut_slow_;
      close(c, "slow reader: output queue full");
      return;
    }
    auto* w = new WriteReq();
    w->data = std::move(bytes);
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, stream, &b, 1, [](uv_write_t* req, int) {
      auto* wr = static_cast<WriteReq*>(req->data);
      static_cast<Conn*>(req->handle->data)->gw->bytes_out_ += wr->data.size();
      delete wr;
    });
    if (rc != 0) {
      delete w;
      close(c, uv_strerror(rc));
    }
  }

  // -------------------------------------------------------------------------------------
  // Endings.

  void auth_failed(Conn* c, const char* reason, const std::string& message) {
    auth_failure(reason);
    spdlog::info("gateway: refused a client ({}): {}", reason, message);
    send_error(c, kErrUnauthenticated, message);
    close_after_write(c, "authentication failed", ws::kClosePolicy);
  }

  void auth_failure(const char* reason) {
    if (auto it = auth_failures_.find(reason); it != auth_failures_.end()) ++*it->second;
  }

  void bad_frame(Conn* c, const std::string& why) {
    ++cut_bad_;
    spdlog::info("gateway: closing a client: {}", why);
    send_error(c, kErrBadFrame, why);
    close_after_write(c, "bad frame", ws::kClosePolicy);
  }

  void ws_close(Conn* c, uint16_t code, const std::string& why) {
    if (code != ws::kCloseNormal) ++cut_bad_;
    std::string out;
    ws::append_close(code, why, false, &out);
    queue(c, std::move(out));
    c->wsx->close_sent = true;
    close_after_write(c, "WebSocket close");
  }

  // Lets what is queued reach the client, then closes (shutdown of our side first). A
  // WebSocket client gets a close frame last (RFC 6455 7.1.2: the server starts the closing
  // handshake), with ws_code and the reason, after the error frame that explains it.
  void close_after_write(Conn* c, const char* why, uint16_t ws_code = ws::kCloseNormal) {
    if (c->state == Conn::State::kClosing) return;
    if (c->ws && c->wsx->open && !c->wsx->close_sent) {
      std::string close;
      ws::append_close(ws_code, why, false, &close);
      queue(c, std::move(close));
      c->wsx->close_sent = true;
    }
    if (c->udp) {  // what is queued goes out once; close() then says BYE
      if (c->state == Conn::State::kReady) c->udp->kcp->flush(now32());
      close(c, why);
      return;
    }
    if (!c->out.empty()) write_now(c, std::move(c->out));
    c->out.clear();
    if (c->state == Conn::State::kClosing) return;  // the write failed and closed it
    auto* req = new uv_shutdown_t();
    req->data = c;
    detach(c);
    c->state = Conn::State::kClosing;
    enlist(closing_list_, c, static_cast<int64_t>(uv_now(net_.loop())));  // a client that never reads
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    spdlog::debug("gateway: closing {}: {}", c->pid.to_string(), why);
    if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&c->tcp), [](uv_shutdown_t* r, int) {
          auto* conn = static_cast<Conn*>(r->data);
          delete r;
          conn->gw->release(conn);
        }) != 0) {
      delete req;
      release(c);
    }
  }

  void close(Conn* c, const char* why) {
    if (c->state == Conn::State::kClosing) return;
    spdlog::debug("gateway: closing {}: {}", c->pid.to_string(), why);
    detach(c);
    if (c->udp && why != std::string_view("the client said bye")) {
      send_datagram(c->udp->peer, udp_control(kUdpBye, c->udp->conv, ""));
    }
    c->state = Conn::State::kClosing;
    release(c);
  }

  // Tells the user's process its client is gone, and stops watching it.
  void detach(Conn* c) {
    if (!c->user.valid()) return;
    rt_.send(c->pid, c->user, Kind::kInfo, proto::kDetach, Body());
    rt_.send(c->pid, c->user, Kind::kDemonitor, 0, Body(), c->monitor_ref);
    c->user = Pid();
  }

  void release(Conn* c) {
    if (c->released) return;
    c->released = true;
    if (c->dirty) {  // its memory goes with the close callback, before the next flush
      std::erase(dirty_, c);
      c->dirty = false;
    }
    c->state = Conn::State::kClosing;
    unlist(c);
    if (conns_.erase(c->pid.serial())) {
      rt_.remove_endpoint(c->pid);
      --connections_;
      --(c->udp ? udp_conns_ : c->ws ? ws_conns_ : tcp_conns_);
    }
    if (c->udp) {
      udp_by_conv_.erase(c->udp->conv);
      if (auto it = udp_by_nonce_.find(c->udp->nonce); it != udp_by_nonce_.end() && it->second == c) {
        udp_by_nonce_.erase(it);
      }
      graveyard_.push_back(c);  // callbacks up the stack may still hold it; freed by bury()
      return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  }

  Conn* find(uint64_t serial) {
    auto it = conns_.find(serial);
    return it == conns_.end() || it->second->state == Conn::State::kClosing ? nullptr : it->second;
  }

  // -------------------------------------------------------------------------------------
  // Deadlines: two lists ordered by deadline (every entry of a list has the same timeout),
  // so the sweep looks only at their heads. A connection is in one of them at a time.

  // (Re)starts c's deadline in list l.
  void enlist(List& l, Conn* c, int64_t now) {
    c->deadline = now + l.timeout_ms;
    if (c->list == &l && l.tail == c) return;
    unlist(c);
    c->prev = l.tail;
    c->next = nullptr;
    (l.tail ? l.tail->next : l.head) = c;
    l.tail = c;
    c->list = &l;
  }
  void unlist(Conn* c) {
    if (!c->list) return;
    List& l = *c->list;
    (c->prev ? c->prev->next : l.head) = c->next;
    (c->next ? c->next->prev : l.tail) = c->prev;
    c->prev = c->next = nullptr;
    c->list = nullptr;
  }
  void touch(Conn* c, int64_t now) { enlist(idle_list_, c, now); }

  void bury() {
    if (graveyard_.empty()) return;
    // The KCP tick's list may still point at them.
    for (Conn* c : graveyard_) kcp_wheel_.cancel(c);
    std::erase_if(udp_touched_, [](Conn* c) { return c->released; });
    for (Conn* c : graveyard_) delete c;
    graveyard_.clear();
  }

  void sweep() {
    flush_writes();
    bury();
    const int64_t now = static_cast<int64_t>(uv_now(net_.loop()));
    while (auth_list_.head && auth_list_.head->deadline <= now) {
      Conn* c = auth_list_.head;
      unlist(c);
      auth_failure("timeout");
      send_error(c, kErrUnauthenticated, "no AUTH in time");
      close_after_write(c, "auth timeout", ws::kClosePolicy);
    }
    while (idle_list_.head && idle_list_.head->deadline <= now) {
      Conn* c = idle_list_.head;
      unlist(c);
      ++cut_idle_;
      send_error(c, kErrBadFrame, "idle for too long (send heartbeats)");
      close_after_write(c, "idle", ws::kClosePolicy);
    }
    while (closing_list_.head && closing_list_.head->deadline <= now) release(closing_list_.head);  // never drained
  }

  detail::Runtime& rt_;
  ClusterOptions cluster_options_;
  GatewayOptions options_;
  detail::NetLoop net_;
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<detail::TcpListener> tcp_listener_, ws_listener_;
  uv_timer_t sweep_timer_{};
  bool sweep_open_ = false, udp_open_ = false;
  std::unordered_map<uint64_t, Conn*> conns_;  // by the connection pid's serial
  uv_udp_t udp_{};
  uv_timer_t kcp_timer_{};
  std::unordered_map<uint32_t, Conn*> udp_by_conv_;
  std::unordered_map<std::string, Conn*> udp_by_nonce_;
  TimerWheel<Conn> kcp_wheel_{kKcpWheelSlots, kKcpTickMs};
  std::vector<Conn*> udp_touched_, graveyard_;
  std::vector<Conn*> dirty_;  // TCP/WebSocket connections with output queued
  static constexpr size_t kKeptOutput = 4096;  // Conn::out's buffer kept between flushes
  List auth_list_{nullptr, nullptr, options_.auth_timeout_ms};
  List idle_list_{nullptr, nullptr, options_.idle_timeout_ms};
  List closing_list_{nullptr, nullptr, 2000};
  uint64_t refs_ = 0;
  char read_buf_[64 * 1024];
  std::atomic<bool> running_{false};
  std::atomic<int> tcp_port_{0}, ws_port_{0}, udp_port_{0};
  std::atomic<uint64_t> udp_conns_{0}, udp_bad_{0}, udp_unknown_{0}, udp_spoofed_{0}, udp_unreliable_out_{0};
  std::atomic<uint64_t> connections_{0}, tcp_conns_{0}, ws_conns_{0}, accepted_{0}, authenticated_{0}, kicks_{0};
  std::atomic<uint64_t> frames_in_{0}, frames_out_{0}, bytes_in_{0}, bytes_out_{0};
  std::atomic<uint64_t> dropped_rate_{0}, cut_slow_{0}, cut_idle_{0}, cut_bad_{0}, refused_reserved_{0};
  std::map<std::string_view, std::unique_ptr<std::atomic<uint64_t>>> auth_failures_;
};

Gateway::Gateway(Node& node, const ClusterOptions& cluster_options, GatewayOptions options)
    : impl_(std::make_unique<Impl>(node, cluster_options, std::move(options))) {}
Gateway::~Gateway() { stop(); }
Status Gateway::start() { return impl_->start(); }
void Gateway::stop() { impl_->stop(); }
std::map<std::string, std::string> Gateway::attributes() const { return impl_->attributes(); }
int Gateway::tcp_port() const { return impl_->tcp_port(); }
int Gateway::ws_port() const { return impl_->ws_port(); }
int Gateway::udp_port() const { return impl_->udp_port(); }
uint64_t Gateway::connections() const { return impl_->connections(); }
std::string Gateway::metrics_text() const { return impl_->metrics_text(); }

}  // namespace behavior::gateway
