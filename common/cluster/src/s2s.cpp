// s2s.cpp — see s2s.h. One Link is one TCP connection. A dialed link carries this node's
// envelopes to the peer; an accepted link carries the peer's envelopes to this node. So the
// two directions never race to share a connection, and a reply simply goes out on the
// replier's own dialed link.
#include "s2s.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "behavior/crypto.h"
#include "behavior/logging.h"
#include "behavior/read_stream.h"
#include "s2s.pb.h"

namespace behavior::detail {
namespace {

constexpr size_t kReadBuffer = 64 * 1024;
constexpr size_t kMaxHandshakeFrame = 1024;
constexpr int kMaxBackoffMs = 2000;

std::string node_bytes(uint16_t node) {
  return std::string{static_cast<char>(node >> 8), static_cast<char>(node & 0xFF)};
}

std::string dialer_proof(const std::string& secret, std::string_view listener_nonce, uint16_t dialer) {
  return hmac_sha256(secret, "behavior-s2s-dialer" + std::string(listener_nonce) + node_bytes(dialer));
}

std::string listener_proof(const std::string& secret, std::string_view dialer_nonce, uint16_t listener) {
  return hmac_sha256(secret, "behavior-s2s-listener" + std::string(dialer_nonce) + node_bytes(listener));
}

bool parse_address(const std::string& address, sockaddr_in* out) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  int port = std::atoi(address.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return false;
  return uv_ip4_addr(address.substr(0, colon).c_str(), port, out) == 0;
}

// A peer's address as a key (IPv4 address; IPv6 /64 prefix); never 0.
uint64_t address_key(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 1;
  if (ss.ss_family == AF_INET) return (uint64_t{1} << 32) | reinterpret_cast<sockaddr_in*>(&ss)->sin_addr.s_addr;
  uint64_t prefix = 0;
  std::memcpy(&prefix, reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr.s6_addr, sizeof prefix);
  return prefix | 1;
}

std::string peer_name(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char ip[64] = "?";
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  uv_ip4_name(in, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(in->sin_port));
}

}  // namespace

struct S2s::Link {
  enum State { kConnecting, kHandshake, kReady, kClosing };
  Link(S2s* o, bool is_dialer, size_t max_frame, uint64_t now)
      : owner(o), dialer(is_dialer), born_ms(now), last_in_ms(now), last_out_ms(now), reader(max_frame) {
    tcp.data = this;
    wreq.data = this;
    connect_req.data = this;
  }
  S2s* owner;
  bool dialer;
  uint64_t born_ms, last_in_ms, last_out_ms;  // loop time: keepalive and deadlines
  State state = kConnecting;
  uint16_t peer_node = 0;
  size_t slot = 0;
  std::string my_nonce;
  FrameReader reader;
  std::string pending;
  std::string inflight;
  bool writing = false;
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  uv_write_t wreq{};
  uint64_t peer_key = 0;  // an accepted link's address while it is counted in handshakes_
  // One read buffer for every link of the loop (reads are handled before the next one), so
  // a link costs a few hundred bytes, not 64 KiB: an unauthenticated one above all.
  uv_buf_t read_buffer() { return uv_buf_init(owner->read_buf_.get(), kReadBuffer); }  // read_stream.h
  void on_read(const char* data, ssize_t n);
};

struct RedialTimer {
  uv_timer_t timer{};
  S2s* owner = nullptr;
  uint16_t node = 0;
  size_t slot = 0;
};

S2s::S2s(uv_loop_t* loop, uint16_t node_id, S2sOptions options, Deliver deliver, Bounce bounce)
    : loop_(loop), node_id_(node_id), options_(std::move(options)), deliver_(std::move(deliver)),
      bounce_(std::move(bounce)) {
  if (options_.pool < 1) options_.pool = 1;
  read_buf_ = std::make_unique<char[]>(kReadBuffer);
}

S2s::~S2s() { stop(); }

Status S2s::listen() {
  listener_ = std::make_unique<TcpListener>(loop_, [this](uv_stream_t* server) { accept_link(server); });
  Status s = listener_->listen(options_.host, options_.port, 512);
  port_ = listener_->port();
  if (s.ok() && options_.timeout_ms > 0 && !tick_timer_) {
    tick_timer_ = new uv_timer_t;
    uv_timer_init(loop_, tick_timer_);
    tick_timer_->data = this;
    uv_timer_start(tick_timer_, [](uv_timer_t* t) { static_cast<S2s*>(t->data)->on_tick(); }, tick_ms(), tick_ms());
  }
  return s;
}

// Keepalive, as Erlang's distribution ticks: a quiet ready link gets an empty frame every
// quarter of the timeout, so a link that brings nothing for the whole timeout has lost its
// peer (a partition or a frozen host drops packets silently, and TCP itself would notice
// only after minutes of retransmissions). It is closed; its slot redials with backoff while
// something waits to be sent, and a dial that cannot get through (SYNs dropped) is given up
// after the same timeout instead of the kernel's two minutes.
void S2s::on_tick() {
  const uint64_t now = uv_now(loop_);
  const uint64_t timeout = static_cast<uint64_t>(options_.timeout_ms);
  std::vector<std::pair<Link*, std::string>> expired;
  for (Link* l : links_) {
    if (l->state == Link::kClosing) continue;
    if (l->state != Link::kReady) {
      // An accepted link must prove the secret sooner than a dial must get through.
      const uint64_t limit = l->dialer ? timeout : std::min<uint64_t>(timeout, options_.handshake_timeout_ms);
      if (now - l->born_ms > limit) {
        expired.emplace_back(l, std::string(l->state == Link::kConnecting ? "connect" : "handshake") + " took over " +
                                    std::to_string(limit) + " ms");
      }
    } else if (now - l->last_in_ms > timeout) {
      expired.emplace_back(l, "nothing received for " + std::to_string(now - l->last_in_ms) + " ms");
    } else if (now - l->last_out_ms >= tick_ms() && l->pending.empty() && !l->writing) {
      write_frames(l, std::string_view("\0\0\0\0", 4));  // a tick: an empty frame
    }
  }
  for (auto& [l, why] : expired) {
    ++stats_.timeouts;
    static LogThrottle throttle;
    if (uint64_t left_out; throttle.allow(&left_out)) {
      spdlog::warn("s2s: link {} node {} ({}): {}; closing it{}", l->dialer ? "to" : "from", l->peer_node,
                   peer_name(&l->tcp), why, left_out_note(left_out));
    }
    close_link(l, why.c_str());
  }
}

void S2s::accept_link(uv_stream_t* server) {
  if (stopped_) return;
  auto* link = new Link(this, false, kMaxHandshakeFrame, uv_now(loop_));
  uv_tcp_init(loop_, &link->tcp);
  links_.insert(link);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&link->tcp)) != 0) {
    close_link(link, "accept failed");
    return;
  }
  // Handshakes in progress are bounded, in all and per address: a flood of connections that
  // never prove the secret costs a bounded amount. One address over its share is refused.
  // When all slots are taken the oldest handshake gives way: a real peer proves the secret
  // in a round trip, so it gets through a flood that would have to refill every slot faster.
  const uint64_t key = address_key(&link->tcp);
  if (handshakes_by_peer_[key] >= options_.max_handshakes_per_address) {
    ++stats_.refused_busy;
    close_link(link, "too many handshakes in progress from its address");
    return;
  }
  if (handshakes_ >= options_.max_handshakes) {
    Link* oldest = nullptr;
    for (Link* l : links_) {
      if (l->peer_key != 0 && (!oldest || l->born_ms < oldest->born_ms)) oldest = l;
    }
    if (oldest) {
      ++stats_.refused_busy;
      close_link(oldest, "too many handshakes in progress: the oldest gives way");
    }
  }
  ++handshakes_;
  ++handshakes_by_peer_[key];
  link->peer_key = key;
  uv_tcp_nodelay(&link->tcp, 1);
  link->state = Link::kHandshake;
  link->my_nonce = random_bytes(32);
  pb::Challenge c;
  c.set_node_id(node_id_);
  c.set_nonce(link->my_nonce);
  start_read(link);
  std::string f;
  append_frame(c.SerializeAsString(), &f);
  write_frames(link, f);
}

S2s::Peer& S2s::peer(uint16_t node) {
  Peer& p = peers_[node];
  if (p.slots.empty()) {
    p.node = node;
    p.slots.resize(static_cast<size_t>(options_.pool));
    p.inbound.resize(static_cast<size_t>(options_.pool));
  }
  return p;
}

// The same slot for a->b and b->a: one connection carries a call and its reply.
size_t S2s::slot_of(const Message& m, size_t pool) {
  uint64_t a = m.from().raw(), b = m.to().raw();
  if (a > b) std::swap(a, b);
  return std::hash<uint64_t>{}(a * 0x9E3779B97F4A7C15ull ^ b) % pool;
}

void S2s::send(uint16_t node, const std::string& address, Message* m) {
  if (stopped_) {
    bounce_(m, Status::shutdown("node is stopping"));
    return;
  }
  Peer& p = peer(node);
  p.address = address;
  size_t i = slot_of(*m, p.slots.size());
  Slot& s = p.slots[i];
  if (!s.link && !s.timer && p.inbound[i]) s.link = p.inbound[i];  // the peer's connection for this slot
  if (s.link && s.link->state == Link::kReady) {
    if (s.link->pending.size() > options_.max_backlog) {
      bounce_(m, Status::unavailable("s2s backlog to node " + std::to_string(node) + " is full"));
      return;
    }
    enqueue(s.link, m);
    return;
  }
  if (p.queued_bytes > options_.max_backlog) {
    bounce_(m, Status::unavailable("s2s backlog to node " + std::to_string(node) + " is full"));
    return;
  }
  p.queued_bytes += sizeof(Message) + m->body().raw().size();
  s.queue.push_back(m);
  if (!s.link && !s.timer) dial(p, i);
}

void S2s::enqueue(Link* link, Message* m) {
  Status st = append_envelope_frame(*m, options_.max_frame, &link->pending);
  if (!st.ok()) {
    bounce_(m, st);
    return;
  }
  ++stats_.frames_out;
  delete m;
  dirty_.insert(link);
}

void S2s::flush() {
  for (Link* link : dirty_) write_pending(link);
  dirty_.clear();
}

void S2s::write_frames(Link* link, std::string_view frames) {
  link->pending.append(frames);
  write_pending(link);
}

void S2s::write_pending(Link* link) {
  if (link->writing || link->pending.empty() || link->state == Link::kClosing) return;
  link->last_out_ms = uv_now(loop_);
  // Most of the time the socket takes everything at once: no write request, no callback
  // in a later loop pass. What it does not take goes through uv_write.
  uv_buf_t now = uv_buf_init(link->pending.data(), static_cast<unsigned>(link->pending.size()));
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&link->tcp), &now, 1);
  if (n < 0 && n != UV_EAGAIN) {
    close_link(link, uv_strerror(n));
    return;
  }
  if (n > 0) {
    stats_.bytes_out += static_cast<uint64_t>(n);
    if (static_cast<size_t>(n) == link->pending.size()) {
      link->pending.clear();
      return;
    }
    link->pending.erase(0, static_cast<size_t>(n));
  }
  link->inflight.swap(link->pending);
  uv_buf_t buf = uv_buf_init(link->inflight.data(), static_cast<unsigned>(link->inflight.size()));
  link->writing = true;
  int r = uv_write(&link->wreq, reinterpret_cast<uv_stream_t*>(&link->tcp), &buf, 1, [](uv_write_t* req, int status) {
    auto* l = static_cast<Link*>(req->data);
    l->writing = false;
    if (status < 0) {
      l->owner->close_link(l, uv_strerror(status));
      return;
    }
    l->owner->stats_.bytes_out += l->inflight.size();
    l->inflight.clear();
    l->owner->write_pending(l);
  });
  if (r != 0) {
    link->writing = false;
    close_link(link, uv_strerror(r));
  }
}

void S2s::dial(Peer& p, size_t slot) {
  sockaddr_in addr{};
  Slot& s = p.slots[slot];
  if (!parse_address(p.address, &addr)) {
    Status why = Status::unavailable("node " + std::to_string(p.node) + " has no usable s2s address");
    for (Message* m : s.queue) bounce_(m, why);
    s.queue.clear();
    return;
  }
  auto* link = new Link(this, true, kMaxHandshakeFrame, uv_now(loop_));
  link->peer_node = p.node;
  link->slot = slot;
  uv_tcp_init(loop_, &link->tcp);
  uv_tcp_nodelay(&link->tcp, 1);
  links_.insert(link);
  s.link = link;
  int r = uv_tcp_connect(&link->connect_req, &link->tcp, reinterpret_cast<const sockaddr*>(&addr),
                         [](uv_connect_t* req, int status) {
                           auto* l = static_cast<Link*>(req->data);
                           if (l->state == Link::kClosing) return;
                           if (status < 0) {
                             l->owner->close_link(l, uv_strerror(status));
                             return;
                           }
                           l->state = Link::kHandshake;
                           l->owner->start_read(l);
                         });
  if (r != 0) close_link(link, uv_strerror(r));
}

void S2s::start_read(Link* link) { read_stream<Link>(reinterpret_cast<uv_stream_t*>(&link->tcp)); }

void S2s::Link::on_read(const char* data, ssize_t n) {
  if (n < 0) {
    owner->close_link(this, n == UV_EOF ? "closed by peer" : uv_strerror(static_cast<int>(n)));
  } else {
    owner->on_read(this, data, static_cast<size_t>(n));
  }
}

void S2s::on_read(Link* link, const char* data, size_t n) {
  stats_.bytes_in += n;
  link->last_in_ms = uv_now(loop_);
  Status st = link->reader.feed(data, n, [&](std::string_view payload) { return on_frame(link, payload); });
  if (!st.ok()) {
    ++stats_.bad_frames;
    static LogThrottle throttle;
    if (uint64_t left_out; throttle.allow(&left_out)) {
      spdlog::warn("s2s: closing link {} (node {}): {}{}", peer_name(&link->tcp), link->peer_node, st.to_string(),
                   left_out_note(left_out));
    }
    close_link(link, "bad input");
  }
}

Status S2s::on_frame(Link* link, std::string_view payload) {
  if (link->state == Link::kClosing) return Status::shutdown("closing");
  if (link->state == Link::kReady) {
    if (payload.empty()) return {};  // a keepalive tick
    Result<MessagePtr> m = decode_envelope(payload);
    if (!m.ok()) return m.status();
    if ((*m)->to().node() != node_id_) return Status::invalid_argument("envelope for another node");
    ++stats_.frames_in;
    deliver_(std::move(*m), link->peer_node);
    return {};
  }
  // Handshake.
  if (link->dialer) {
    if (link->my_nonce.empty()) {
      pb::Challenge c;
      if (!c.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        return Status::invalid_argument("bad challenge");
      }
      if (c.node_id() != link->peer_node) {
        return Status::invalid_argument("dialed node " + std::to_string(link->peer_node) + " but found node " +
                                        std::to_string(c.node_id()));
      }
      link->my_nonce = random_bytes(32);
      pb::Hello h;
      h.set_node_id(node_id_);
      h.set_nonce(link->my_nonce);
      h.set_proof(dialer_proof(options_.secret, c.nonce(), node_id_));
      h.set_slot(static_cast<uint32_t>(link->slot));
      std::string f;
      append_frame(h.SerializeAsString(), &f);
      write_frames(link, f);
      return {};
    }
    pb::Welcome w;
    if (!w.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
        !constant_time_equal(w.proof(), listener_proof(options_.secret, link->my_nonce, link->peer_node))) {
      ++stats_.refused_handshakes;
      return Status::invalid_argument("node " + std::to_string(link->peer_node) +
                                      " did not prove the cluster secret");
    }
    on_link_ready(link);
    return {};
  }
  pb::Hello h;
  if (!h.ParseFromArray(payload.data(), static_cast<int>(payload.size())) || h.node_id() == 0 ||
      h.node_id() > 65535 ||
      !constant_time_equal(h.proof(), dialer_proof(options_.secret, link->my_nonce, static_cast<uint16_t>(h.node_id())))) {
    ++stats_.refused_handshakes;
    static LogThrottle throttle;
    if (uint64_t left_out; throttle.allow(&left_out)) {
      spdlog::warn("s2s: refused a peer from {}: it did not prove the cluster secret{}", peer_name(&link->tcp),
                   left_out_note(left_out));
    }
    return Status::invalid_argument("handshake refused");
  }
  link->peer_node = static_cast<uint16_t>(h.node_id());
  pb::Welcome w;
  w.set_proof(listener_proof(options_.secret, h.nonce(), node_id_));
  std::string f;
  append_frame(w.SerializeAsString(), &f);
  write_frames(link, f);
  link->state = Link::kReady;
  link->reader.set_max_frame(options_.max_frame);
  ++stats_.connections;
  if (h.slot() < static_cast<uint32_t>(options_.pool)) {
    link->slot = h.slot();
    Peer& p = peer(link->peer_node);
    p.inbound[link->slot] = link;
    // Whatever waits for that slot (say we dialed at the same moment) goes here now.
    Slot& s = p.slots[link->slot];
    if (!s.link && !s.timer && (!s.queue.empty() || !s.carry.empty())) {
      s.link = link;
      attach_slot(link);
    }
  }
  spdlog::debug("s2s: accepted node {} from {}", link->peer_node, peer_name(&link->tcp));
  return {};
}

// An accepted link's handshake ended (it is ready, or closed): out of the handshake counts.
void S2s::handshake_over(Link* link) {
  if (link->peer_key == 0) return;
  --handshakes_;
  auto it = handshakes_by_peer_.find(link->peer_key);
  if (it != handshakes_by_peer_.end() && --it->second == 0) handshakes_by_peer_.erase(it);
  link->peer_key = 0;
}

void S2s::on_link_ready(Link* link) {
  handshake_over(link);
  link->state = Link::kReady;
  link->reader.set_max_frame(options_.max_frame);  // the peer answers on this link too
  ++stats_.connections;
  attach_slot(link);
}

// The link now serves its slot: what the slot carried or queued goes out on it.
void S2s::attach_slot(Link* link) {
  auto it = peers_.find(link->peer_node);
  if (it == peers_.end()) return;
  Slot& s = it->second.slots[link->slot];
  s.backoff_ms = 0;
  if (!s.carry.empty()) {
    link->pending.insert(0, s.carry);
    s.carry.clear();
  }
  for (Message* m : s.queue) {
    it->second.queued_bytes -= std::min(it->second.queued_bytes, sizeof(Message) + m->body().raw().size());
    enqueue(link, m);
  }
  s.queue.clear();
  dirty_.insert(link);
  flush();
}

void S2s::close_link(Link* link, const char* why) {
  if (link->state == Link::kClosing) return;
  if (link->state == Link::kReady) --stats_.connections;
  handshake_over(link);
  spdlog::debug("s2s: link to node {} closed: {}", link->peer_node, why);
  link->state = Link::kClosing;
  dirty_.erase(link);
  uv_close(reinterpret_cast<uv_handle_t*>(&link->tcp), [](uv_handle_t* h) {
    auto* l = static_cast<Link*>(h->data);
    l->owner->on_link_closed(l);
    delete l;
  });
}

void S2s::on_link_closed(Link* link) {
  links_.erase(link);
  if (stopped_) return;
  auto it = peers_.find(link->peer_node);
  if (it == peers_.end() || link->slot >= it->second.slots.size()) return;
  Peer& p = it->second;
  if (p.inbound[link->slot] == link) p.inbound[link->slot] = nullptr;
  Slot& s = p.slots[link->slot];
  if (s.link != link) return;
  s.link = nullptr;
  s.carry += link->pending;  // never handed to the kernel: safe to send again
  if (s.queue.empty() && s.carry.empty()) return;
  // Redial with backoff while there is something to send.
  s.backoff_ms = s.backoff_ms == 0 ? 50 : std::min(s.backoff_ms * 2, kMaxBackoffMs);
  auto* t = new RedialTimer();
  t->owner = this;
  t->node = p.node;
  t->slot = link->slot;
  uv_timer_init(loop_, &t->timer);
  t->timer.data = t;
  s.timer = &t->timer;
  uv_timer_start(
      &t->timer,
      [](uv_timer_t* h) {
        auto* rt = static_cast<RedialTimer*>(h->data);
        S2s* self = rt->owner;
        auto pit = self->peers_.find(rt->node);
        if (pit != self->peers_.end()) {
          Slot& slot = pit->second.slots[rt->slot];
          slot.timer = nullptr;
          if (!slot.link) self->dial(pit->second, rt->slot);
        }
        uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete static_cast<RedialTimer*>(x->data); });
      },
      static_cast<uint64_t>(s.backoff_ms), 0);
}

void S2s::drop_peer(uint16_t node, const Status& why) {
  auto it = peers_.find(node);
  if (it == peers_.end()) return;
  Peer p = std::move(it->second);
  peers_.erase(it);
  for (Slot& s : p.slots) {
    for (Message* m : s.queue) bounce_(m, why);
    if (s.link) close_link(s.link, "peer is down");
    if (s.timer) {
      uv_timer_stop(s.timer);
      uv_close(reinterpret_cast<uv_handle_t*>(s.timer), [](uv_handle_t* x) { delete static_cast<RedialTimer*>(x->data); });
    }
  }
  // Accepted links from that node die with its sockets; close them now too.
  std::vector<Link*> inbound;
  for (Link* l : links_) {
    if (!l->dialer && l->peer_node == node) inbound.push_back(l);
  }
  for (Link* l : inbound) close_link(l, "peer is down");
}

void S2s::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (tick_timer_) {
    uv_timer_stop(tick_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(tick_timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    tick_timer_ = nullptr;
  }
  for (auto& [node, p] : peers_) {
    for (Slot& s : p.slots) {
      for (Message* m : s.queue) delete m;
      s.queue.clear();
      if (s.timer) {
        uv_timer_stop(s.timer);
        uv_close(reinterpret_cast<uv_handle_t*>(s.timer), [](uv_handle_t* x) { delete static_cast<RedialTimer*>(x->data); });
        s.timer = nullptr;
      }
    }
  }
  peers_.clear();
  std::vector<Link*> all(links_.begin(), links_.end());
  for (Link* l : all) close_link(l, "stopping");
  if (listener_) listener_->close();
}

}  // namespace behavior::detail
