// gateway.cpp — see gateway.h. The wiring: the listeners and the UDP endpoint (below the
// transport seam, transport.h), the table of sessions (above it, session.h) by their
// addresses, the deadlines, the operator's kicks, and the metrics.
//
// Every client socket lives on one libuv loop (worker 0's by default). A session is an
// Endpoint address of this node (a Pid on the external shard): processes write to it like
// to any process, and their messages arrive through deliver() → the loop's queue →
// on_messages() → Session::deliver(). The path of a player's frame over TCP:
//   StreamTransport read → TcpTransport::on_bytes (ClientFrameDecoder) → Session::on_frame
//   → take_frame → Runtime::send (s2s to the user's node)
// and back: send_to_client in the user's process → s2s → Runtime::route → deliver →
// on_messages → Session::deliver → send_frame → TcpTransport::write_frame → flush at the
// end of the callback (StreamTransport::Shared::flush).
#include "gateway.h"

#include <behavior/json_map.h>
#include <behavior/metrics.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <unordered_map>

#include <behavior/net_loop.h>
#include <behavior/redis_client.h>
#include <behavior/tcp_listener.h>

#include "session.h"
#include "stream_transport.h"
#include "udp_transport.h"

namespace behavior::gateway {
namespace {

constexpr uint64_t kSweepMs = 200;
constexpr uint64_t kDrainTickMs = 20;  // how finely the drain spreads its RECONNECTs

// The drain mark (docs/cluster.md: an operator's drain sets <p>drain:<id> to "1" through the
// name server; every heartbeat writes "draining" from it). The gateway's own mark is
// "gateway", expires on its own (a gateway killed mid-drain leaves none for long), never
// replaces an operator's, and the node's hash shows it at once. KEYS: the node's hash, the
// mark; ARGV: its lifetime in ms, the events channel, the node id. The PUBLISH makes every
// node (the name servers) read the cluster's view again now rather than at its next refresh.
constexpr const char* kDrainSelfScript = R"lua(
redis.call('SET', KEYS[2], 'gateway', 'NX', 'PX', ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'draining', '1') end
redis.call('PUBLISH', ARGV[2], 'up ' .. ARGV[3])
return 1
)lua";
// A gateway that starts takes back a mark its predecessor with this node id left.
constexpr const char* kUndrainSelfScript = R"lua(
if redis.call('GET', KEYS[1]) == 'gateway' then return redis.call('DEL', KEYS[1]) end
return 0
)lua";
constexpr int64_t kClosingTimeoutMs = 2000;  // for a client to take our last bytes

// The client connections the descriptor limit allows. The soft RLIMIT_NOFILE is raised to
// the hard one first (the operator's real limit: Docker's and systemd's is the hard one);
// a tenth of it, 64 to 4096, stays for s2s links, Redis, the listeners and the logs, so a
// flood of clients cannot starve the cluster's own connections.
size_t connection_budget(size_t* nofile_out) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  const size_t nofile = rl.rlim_cur == RLIM_INFINITY ? size_t{1} << 20 : static_cast<size_t>(rl.rlim_cur);
  *nofile_out = nofile;
  const size_t reserve = std::clamp<size_t>(nofile / 10, 64, 4096);
  return nofile > reserve + 1 ? nofile - reserve : 1;
}

}  // namespace

class Gateway::Impl final : public Endpoint {
 public:
  Impl(Node& node, const ClusterOptions& co, GatewayOptions o)
      : node_(node), cluster_options_(co), options_(std::move(o)),
        net_([this](Message* batch) { on_messages(batch); }, options_.io_on_worker ? &node : nullptr),
        auth_deadlines_(options_.auth_timeout_ms), idle_deadlines_(options_.idle_timeout_ms),
        closing_deadlines_(kClosingTimeoutMs) {
    if (options_.public_host.empty()) options_.public_host = options_.host;
    ctx_.node = &node_;
    ctx_.cluster = &cluster_options_;
    ctx_.options = &options_;
    ctx_.stats = &stats_;
    ctx_.loop = net_.loop();
    ctx_.auth_deadlines = &auth_deadlines_;
    ctx_.idle_deadlines = &idle_deadlines_;
    ctx_.closing_deadlines = &closing_deadlines_;
    ctx_.find = [this](uint64_t serial) { return find(serial); };
    ctx_.forget = [this](Session* s) { forget(s); };
    ctx_.authenticated = [this](uint64_t peer) {
      --stats_.unauthenticated;
      auto it = unauth_by_peer_.find(peer);
      if (it != unauth_by_peer_.end() && --it->second == 0) unauth_by_peer_.erase(it);
    };
    streams_.loop = net_.loop();
    streams_.stats = &stats_;
    streams_.max_output_bytes = options_.max_output_bytes;
    streams_.max_frame = options_.max_frame;
    streams_.after_read = [this] { flush(); };
    register_metrics();
    ctx_.auth_seconds = &metrics_.histogram(
        "behavior_gateway_login_seconds",
        "From a client's AUTH to its process ensured and attached (ticket checked once in Redis).", kLatencyBuckets);
  }

  Status start() {
    if (cluster_options_.secret.empty()) return Status::invalid_argument("the cluster secret is not set");
    size_t nofile = 0;
    const size_t budget = connection_budget(&nofile);
    if (options_.max_connections == 0) {
      options_.max_connections = budget;
    } else if (options_.max_connections > budget) {
      spdlog::warn("gateway: --max-connections {} is more than {} descriptors allow; holding {}",
                   options_.max_connections, nofile, budget);
      options_.max_connections = budget;
    }
    spdlog::info("gateway: at most {} client connections (descriptor limit {})", options_.max_connections, nofile);
    if (Status s = net_.start([this] { return start_on_loop(); }, [this] { stop_on_loop(); }); !s.ok()) return s;
    node_.add_endpoint(this, service::kGatewayControl);  // operator requests (proto::kKickUser)
    running_ = true;
    spdlog::info("gateway: tcp {} ws {} (node {})", tcp_port_.load(), ws_port_.load(), node_.id());
    return {};
  }

  void stop() {
    if (!running_.exchange(false)) return;
    node_.remove_endpoint(service::gateway_control_pid(node_.id()));
    net_.stop([this] { stop_on_loop(); });
  }

  // Endpoint: a message for one of our sessions, from any thread.
  void deliver(Message* m) override { net_.send(m); }

  std::map<std::string, std::string> attributes() const {
    std::map<std::string, std::string> a;
    if (tcp_port_ > 0) a[options_.tcp_tls ? "tcps" : "tcp"] = options_.public_host + ":" + std::to_string(tcp_port_);
    if (ws_port_ > 0) a[options_.ws_tls ? "wss" : "ws"] = options_.public_host + ":" + std::to_string(ws_port_);
    if (udp_port_ > 0) a["udp"] = options_.public_host + ":" + std::to_string(udp_port_);
    return a;
  }
  int tcp_port() const { return tcp_port_; }
  int ws_port() const { return ws_port_; }
  int udp_port() const { return udp_port_; }
  uint64_t connections() const { return stats_.connections; }
  // udp_ is made in start() and kept until the gateway is destroyed (close() leaves it).
  uint32_t udp_socket_drops() const { return udp_started_.load() ? udp_->socket_drops() : 0; }

  std::string metrics_text() const { return metrics_.text(); }

 private:
  // The counters behind /metrics (GatewayStats, any thread).
  void register_metrics() {
    const GatewayStats& s = stats_;
    auto series = [this](bool counter, const char* name, const char* help, Labels labels,
                         const GatewayStats::Counter& c) {
      auto read = [&c] { return double(c.load(std::memory_order_relaxed)); };
      if (counter) {
        metrics_.counter_fn(name, help, labels, read);
      } else {
        metrics_.gauge_fn(name, help, labels, read);
      }
    };
    const char* conns = "Client connections held, by transport.";
    series(false, "behavior_gateway_connections", conns, {{"transport", "tcp"}}, s.tcp_connections);
    series(false, "behavior_gateway_connections", conns, {{"transport", "ws"}}, s.ws_connections);
    series(false, "behavior_gateway_connections", conns, {{"transport", "udp"}}, s.udp_connections);
    const char* udp = "UDP datagrams dropped before any session saw them, by reason.";
    series(true, "behavior_gateway_udp_dropped_total", udp, {{"reason", "malformed"}}, s.udp_malformed);
    series(true, "behavior_gateway_udp_dropped_total", udp, {{"reason", "unknown_conv"}}, s.udp_unknown_conv);
    series(true, "behavior_gateway_udp_dropped_total", udp, {{"reason", "other_address"}}, s.udp_other_address);
    // The kernel's: the shared socket's receive queue was full (the gateway fell behind).
    metrics_.counter_fn("behavior_gateway_udp_dropped_total", udp, {{"reason", "socket_full"}},
                        [this] { return double(udp_socket_drops()); });
    series(true, "behavior_gateway_udp_unreliable_out_total", "Frames sent to UDP clients as unreliable datagrams.", {},
           s.udp_unreliable_out);
    series(true, "behavior_gateway_accepted_total", "Client connections and UDP sessions opened.", {}, s.accepted);
    series(true, "behavior_gateway_authenticated_total", "Clients whose AUTH succeeded.", {}, s.authenticated);
    for (int r = 0; r < GatewayStats::kAuthFailureCount; ++r) {
      series(true, "behavior_gateway_auth_failures_total", "AUTHs refused, by reason.",
             {{"reason", GatewayStats::kAuthFailureReasons[r]}}, s.auth_failures[r]);
    }
    series(true, "behavior_gateway_kicks_total", "Connections kicked (a second login, an operator).", {}, s.kicks);
    series(true, "behavior_gateway_process_moves_total",
           "Times a connection's user process moved to another node and the connection followed it.", {}, s.moves);
    series(true, "behavior_gateway_reconnects_total",
           "RECONNECT frames sent: the gateway drains and its clients log in again elsewhere.", {}, s.reconnects);
    series(false, "behavior_gateway_draining", "1 while the gateway drains (no new logins, clients told to reconnect).",
           {}, s.draining);
    series(true, "behavior_gateway_frames_in_total", "Frames from clients.", {}, s.frames_in);
    series(true, "behavior_gateway_frames_out_total", "Frames to clients.", {}, s.frames_out);
    series(true, "behavior_gateway_bytes_in_total", "Bytes from clients.", {}, s.bytes_in);
    series(true, "behavior_gateway_bytes_out_total", "Bytes to clients.", {}, s.bytes_out);
    series(true, "behavior_gateway_drops_total", "Client frames dropped, by reason.", {{"reason", "rate_limited"}},
           s.dropped_rate);
    series(true, "behavior_gateway_refused_frames_total", "Client frames refused, by reason.",
           {{"reason", "reserved_proto"}}, s.refused_reserved);
    series(true, "behavior_gateway_refused_frames_total", "Client frames refused, by reason.",
           {{"reason", "heartbeat_too_long"}}, s.refused_heartbeat);
    const char* cut = "Clients the gateway cut off, by reason.";
    series(true, "behavior_gateway_disconnects_total", cut, {{"reason", "slow_reader"}}, s.cut_slow);
    const char* refused = "Client connections refused at accept, by limit.";
    series(true, "behavior_gateway_refused_connections_total", refused, {{"limit", "max_connections"}}, s.refused_full);
    series(true, "behavior_gateway_refused_connections_total", refused, {{"limit", "unauth_per_address"}},
           s.refused_unauth_per_address);
    series(false, "behavior_gateway_unauthenticated", "Stream connections waiting for their AUTH.", {},
           s.unauthenticated);
    series(true, "behavior_gateway_disconnects_total", cut, {{"reason", "idle"}}, s.cut_idle);
    series(true, "behavior_gateway_disconnects_total", cut, {{"reason", "bad_frame"}}, s.cut_bad);
  }

  // ---------------------------------------------------------------------------------------
  // Setup and teardown (loop thread).

  Status start_on_loop() {
    redis_ = std::make_unique<RedisClient>(net_.loop(), cluster_options_.redis(), "gateway");
    ctx_.redis = redis_.get();
    redis_->on_connected([this] {
      if (undrained_ || draining_) return;
      undrained_ = true;
      redis_->command({"EVAL", kUndrainSelfScript, "1", drain_key()}, [](redisReply* r) {
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
          spdlog::info("gateway: removed the drain mark a previous gateway with this node id left");
        }
      });
    });
    redis_->start();
    if (options_.tcp_port >= 0) {
      tcp_listener_ = std::make_unique<TcpListener>(
          net_.loop(), [this](uv_stream_t* s) {
            auto* t = new TcpTransport(streams_);
            if (options_.tcp_tls) t->start_tls(options_.tcp_tls->new_stream());
            accept(s, t);
          });
      if (Status s = tcp_listener_->listen(options_.host, options_.tcp_port, 4096); !s.ok()) return s;
      tcp_port_ = tcp_listener_->port();
    }
    if (options_.udp_port >= 0) {
      UdpEndpoint::Options uo{options_.host, options_.udp_port, cluster_options_.secret, options_.max_output_bytes,
                              options_.max_frame};
      udp_ = std::make_unique<UdpEndpoint>(net_.loop(), stats_, uo,
                                           [this](UdpTransport* t) { return open_session(t) != nullptr; });
      if (Status s = udp_->listen(); !s.ok()) return s;
      udp_port_ = udp_->port();
      udp_started_.store(true);
    }
    if (options_.ws_port >= 0) {
      ws_listener_ = std::make_unique<TcpListener>(
          net_.loop(), [this](uv_stream_t* s) {
            auto* t = new WsTransport(streams_);
            if (options_.ws_tls) t->start_tls(options_.ws_tls->new_stream());  // the pair current now
            accept(s, t);
          });
      if (Status s = ws_listener_->listen(options_.host, options_.ws_port, 4096); !s.ok()) return s;
      ws_port_ = ws_listener_->port();
    }
    uv_timer_init(net_.loop(), &flush_timer_);
    flush_timer_.data = this;
    uv_timer_init(net_.loop(), &sweep_timer_);
    sweep_open_ = true;
    sweep_timer_.data = this;
    uv_timer_start(&sweep_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->sweep(); }, kSweepMs, kSweepMs);
    return {};
  }

  void stop_on_loop() {
    if (drain_timer_open_) uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
    drain_timer_open_ = false;
    if (tcp_listener_) tcp_listener_->close();
    if (ws_listener_) ws_listener_->close();
    std::vector<Session*> all;
    for (auto& [serial, s] : sessions_) all.push_back(s);
    for (Session* s : all) s->close(CloseReason::kStopping);
    bury();
    if (redis_) redis_->stop();
    // On a shared loop (a worker's) every handle must be closed here.
    if (sweep_open_) {
      flush_now();
      uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&flush_timer_), nullptr);
    }
    sweep_open_ = false;
    if (udp_) udp_->close();
  }

  // ---------------------------------------------------------------------------------------
  // The session table.

  // A stream connection: refused when every slot is taken or its address already has
  // max_unauth_per_address connections waiting for AUTH (one address cannot hold every
  // descriptor with connections that never log in).
  void accept(uv_stream_t* server, StreamTransport* t) {
    if (!t->accept(server)) return;  // it freed itself
    if (sessions_.size() >= options_.max_connections) {
      ++stats_.refused_full;
      t->close(CloseReason::kUnavailable);
      return;
    }
    const uint64_t peer = t->peer_key();
    if (peer != 0 && unauth_by_peer_[peer] >= options_.max_unauth_per_address) {
      ++stats_.refused_unauth_per_address;
      t->close(CloseReason::kUnavailable);
      return;
    }
    Session* s = open_session(t);
    if (peer != 0) {
      ++unauth_by_peer_[peer];
      ++stats_.unauthenticated;
      s->count_unauthenticated(peer);
    }
  }

  Session* open_session(Transport* t) {
    if (sessions_.size() >= options_.max_connections) return nullptr;
    auto* s = new Session(ctx_, t, node_.add_endpoint(this));
    t->set_user(s);
    sessions_[s->pid().serial()] = s;
    ++stats_.accepted;
    ++stats_.connections;
    ++stats_.connections_of(static_cast<int>(t->kind()));
    return s;
  }

  // Many connections held, or many waiting for AUTH: new ones get less time to log in.
  bool under_pressure() const {
    return sessions_.size() * 4 >= options_.max_connections * 3 ||
           stats_.unauthenticated.load(std::memory_order_relaxed) * 4 >= options_.max_connections;
  }

  Session* find(uint64_t serial) {
    auto it = sessions_.find(serial);
    return it == sessions_.end() || it->second->state() == Session::State::kClosing ? nullptr : it->second;
  }

  void forget(Session* s) {
    if (sessions_.erase(s->pid().serial())) {
      node_.remove_endpoint(s->pid());
      --stats_.connections;
      --stats_.connections_of(static_cast<int>(s->transport_kind()));
    }
    graveyard_.push_back(s);  // callbacks up the stack may still hold it; freed by bury()
  }

  void bury() {
    if (udp_) udp_->bury();
    for (Session* s : graveyard_) delete s;
    graveyard_.clear();
  }

  // What this loop callback queued for clients, in as few writes and datagrams as fit: now,
  // or with --flush-ms when the coalescing window closes (one timer for all clients).
  void flush() {
    if (options_.flush_ms <= 0) return flush_now();
    if (flush_armed_) return;
    flush_armed_ = true;
    uv_timer_start(&flush_timer_, [](uv_timer_t* t) {
      auto* self = static_cast<Impl*>(t->data);
      self->flush_armed_ = false;
      self->flush_now();
    }, static_cast<uint64_t>(options_.flush_ms), 0);
  }
  void flush_now() {
    if (udp_) udp_->flush();
    streams_.flush();
  }

  // ---------------------------------------------------------------------------------------
  // Messages for sessions (from the users' processes, the runtime, the cluster).

  void on_messages(Message* batch) {
    for (Message* m = batch; m;) {
      Message* next = m->next.load(std::memory_order_relaxed);
      MessagePtr owned(m);
      if (m->to().serial() == service::kGatewayControl) {
        control(std::move(owned));
      } else if (Session* s = find(m->to().serial())) {
        s->deliver(std::move(owned));
      }
      m = next;
    }
    flush();
  }

  // Operator requests to service::gateway_control_pid() (ids.h), from any node of the cluster (s2s peers
  // have proved the cluster secret). Only calls are answered.
  void control(MessagePtr m) {
    if (m->kind() != Kind::kCall) return;
    auto answer = [&](Message* r) {
      r->set_request_id(m->request_id());
      node_.route(r);
    };
    if (m->proto_id() != proto::kKickUser) {
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
    const std::string why = reason && !reason->empty() ? *reason : std::string(proto::kDefaultKickReason);
    // A scan of every session: operators kick rarely, and an index by user would cost memory
    // on every connection.
    std::vector<Session*> hit;
    for (auto& [serial, s] : sessions_) {
      if ((s->state() == Session::State::kReady || s->state() == Session::State::kEnsuring) && s->user_name() == *user) {
        hit.push_back(s);
      }
    }
    for (Session* s : hit) s->kick(why);
    answer(new Message(m->from(), m->to(), Kind::kReply, proto::kKickUser, Body(static_cast<uint64_t>(hit.size()))));
  }

  // ---------------------------------------------------------------------------------------
  // The drain (GatewayOptions::drain_ms): no new clients, and every logged-in one told to
  // log in again elsewhere, spread over a window.

 public:
  void begin_drain() {
    if (!running_) return;
    net_.post([this] { start_drain(); });
  }
  bool drained() const { return drained_; }

 private:
  std::string drain_key() const { return cluster_options_.prefix + "drain:" + std::to_string(node_.id()); }

  void start_drain() {
    if (draining_ || !sweep_open_) return;  // sweep_open_: not stopped yet
    draining_ = true;
    ctx_.draining = true;
    stats_.draining = 1;
    drain_started_ = ctx_.now();
    // New connections are refused by the kernel from now on; AUTH on a connection accepted
    // before is answered 503 (Session::authenticate); UDP AUTHs too (they reach the session).
    if (tcp_listener_) tcp_listener_->close();
    if (ws_listener_) ws_listener_->close();
    const std::string id = std::to_string(node_.id());
    if (redis_->connected()) {
      const int64_t mark_ms = int64_t{options_.drain_timeout_ms} + 2 * cluster_options_.ttl.count() + 1000;
      redis_->command({"EVAL", kDrainSelfScript, "2", cluster_options_.prefix + "node:" + id, drain_key(),
                       std::to_string(mark_ms), cluster_options_.prefix + "events", id},
                      [](redisReply* r) {
                        if (!reply_ok(r)) {
                          spdlog::warn("gateway: could not mark this gateway draining in Redis ({}); the name server "
                                       "may still send it logins, which it refuses",
                                       r && r->str ? r->str : "no answer");
                        }
                      });
    } else {
      spdlog::warn("gateway: Redis is down: this gateway cannot be marked draining; new logins sent here are refused");
    }
    spdlog::info("gateway: draining: {} sessions; RECONNECT to every client over {} ms after {} ms of notice",
                 sessions_.size(), options_.drain_ms, options_.drain_notice_ms);
    uv_timer_init(net_.loop(), &drain_timer_);
    drain_timer_open_ = true;
    drain_timer_.data = this;
    uv_timer_start(&drain_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->drain_tick(); }, kDrainTickMs,
                   kDrainTickMs);
  }

  void drain_tick() {
    const int64_t now = ctx_.now();
    // AUTH is refused while draining: once no client is logged in (or logging in), none
    // will be, and the drain is over, whatever is left of the notice or the window.
    bool left = false;
    for (auto& [serial, s] : sessions_) left |= s->state() != Session::State::kAuth;
    if (left && now - drain_started_ >= options_.drain_notice_ms) {
      if (!spread_started_) {
        spread_started_ = true;
        spread_start_ = now;
        for (auto& [serial, s] : sessions_) {
          if (s->state() == Session::State::kReady || s->state() == Session::State::kEnsuring) to_tell_.push_back(serial);
        }
      }
      const int64_t elapsed = now - spread_start_;
      const bool spread_over = elapsed >= options_.drain_ms;
      // The first k of n clients by now: evenly over the window, the last at its end.
      const size_t due = spread_over ? to_tell_.size()
                                     : static_cast<size_t>(static_cast<double>(to_tell_.size()) *
                                                           static_cast<double>(elapsed) / options_.drain_ms);
      for (; next_to_tell_ < due; ++next_to_tell_) {
        Session* s = find(to_tell_[next_to_tell_]);
        if (s && s->reconnect(options_.drain_reason)) ++told_;
      }
      if (spread_over) {  // those that finished logging in after the spread began, or during their turn
        for (auto& [serial, s] : sessions_) {
          if (s->reconnect(options_.drain_reason)) ++told_;
        }
      }
      flush();
    }
    if (!left && !drained_) {
      drained_ = true;
      spdlog::info("gateway: drained: {} clients told to reconnect; none left {} ms after the drain began", told_,
                   now - drain_started_);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Deadlines.

  void sweep() {
    flush();
    bury();
    const int64_t now = ctx_.now();
    // Under pressure the AUTH deadline shrinks: a session older than the shorter timeout is
    // as late as one past the usual (the list is in deadline order, one timeout for all).
    const int64_t early = under_pressure() ? std::max(0, options_.auth_timeout_ms - options_.auth_timeout_pressure_ms) : 0;
    while (Session* s = auth_deadlines_.pop_expired(now + early)) s->auth_timed_out();
    while (Session* s = idle_deadlines_.pop_expired(now)) s->idle_timed_out();
    while (Session* s = closing_deadlines_.pop_expired(now)) s->release();  // never drained
    flush();
  }

  Node& node_;
  ClusterOptions cluster_options_;
  GatewayOptions options_;
  NetLoop net_;
  GatewayStats stats_;
  MetricsRegistry metrics_;
  DeadlineList<Session> auth_deadlines_, idle_deadlines_, closing_deadlines_;
  std::unordered_map<uint64_t, uint32_t> unauth_by_peer_;  // StreamTransport::peer_key → waiting for AUTH
  SessionContext ctx_;
  StreamTransport::Shared streams_;
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<TcpListener> tcp_listener_, ws_listener_;
  std::unique_ptr<UdpEndpoint> udp_;
  uv_timer_t sweep_timer_{};
  bool sweep_open_ = false;  // flush_timer_ too
  uv_timer_t flush_timer_{};
  bool flush_armed_ = false;
  std::unordered_map<uint64_t, Session*> sessions_;  // by the session address's serial
  std::vector<Session*> graveyard_;
  std::atomic<bool> running_{false};
  // The drain (loop thread, but drained_).
  bool draining_ = false, undrained_ = false, spread_started_ = false, drain_timer_open_ = false;
  int64_t drain_started_ = 0, spread_start_ = 0;
  std::vector<uint64_t> to_tell_;  // sessions logged in when the spread began, by serial
  size_t next_to_tell_ = 0;
  uint64_t told_ = 0;
  uv_timer_t drain_timer_{};
  std::atomic<bool> drained_{false};
  std::atomic<int> tcp_port_{0}, ws_port_{0}, udp_port_{0};
  std::atomic<bool> udp_started_{false};
};

Gateway::Gateway(Node& node, const ClusterOptions& cluster_options, GatewayOptions options)
    : impl_(std::make_unique<Impl>(node, cluster_options, std::move(options))) {}
Gateway::~Gateway() { stop(); }
Status Gateway::start() { return impl_->start(); }
void Gateway::stop() { impl_->stop(); }
void Gateway::begin_drain() { impl_->begin_drain(); }
bool Gateway::drained() const { return impl_->drained(); }
std::map<std::string, std::string> Gateway::attributes() const { return impl_->attributes(); }
int Gateway::tcp_port() const { return impl_->tcp_port(); }
int Gateway::ws_port() const { return impl_->ws_port(); }
int Gateway::udp_port() const { return impl_->udp_port(); }
uint64_t Gateway::connections() const { return impl_->connections(); }
uint32_t Gateway::udp_socket_drops() const { return impl_->udp_socket_drops(); }
std::string Gateway::metrics_text() const { return impl_->metrics_text(); }

}  // namespace behavior::gateway
