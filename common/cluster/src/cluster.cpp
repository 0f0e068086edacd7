// cluster.cpp — the cluster layer on the node's network thread (see cluster.h): the wiring
// of its concerns, each in a file of its own:
//   membership.cpp      this node's registration and heartbeat, the view of the others,
//                       death, cleanup and fencing
//   directory.cpp       cluster-wide names: activation once, lookups, releases, republishing
//   remote_tracker.cpp  calls and watches on other nodes, answered when a node goes down
//   s2s.cpp             the links to other nodes (handshake, framing, keepalive)
// Here: start and stop, messages leaving for other nodes (route_out) and arriving from them
// (on_inbound), the cluster service's calls (ensure, lookup), and the node's metrics.
//
// Redis keys (prefix P, default "behavior:"):
//   P node:<id>        hash: id kind s2s metrics version capacity live load busy cpu lag_ms [udp_drops] started_ms
//                      heartbeat_ms draining connections a.<attribute>...; PEXPIRE ttl,
//                      refreshed each heartbeat
//   P drain:<id>       string: present while an operator has the node drained (name server)
//   P nodes            zset: node id → last heartbeat (ms); the list of members
//   P node:<id>:names  set: the directory names that node owns (for cleanup)
//   P dir:<name>       string "<node>:<pid>": where a cluster-wide name lives (claimed once)
//   P dead:<id>        string: set by the cleanup of a dead node, taken by its next heartbeat
//   P events           pub/sub channel: "up <id>", "down <id>", "left <id>"
#include "behavior/cluster.h"
#include "behavior/logging.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "behavior/clock.h"
#include "behavior/http_server.h"
#include "behavior/inbox.h"
#include "behavior/metrics.h"
#include "behavior/net_loop.h"
#include "behavior/redis_client.h"
#include "directory.h"
#include "envelope.h"
#include <behavior/system.pb.h>
#include "membership.h"
#include "remote_tracker.h"
#include "runtime.h"
#include "s2s.h"
#include "state_store.h"

namespace behavior::detail {
namespace {

constexpr uint64_t kServiceSerial = service::kCluster;
// Evacuation (proto::kEvacuate): at most this many moves ordered and not yet done at once; an
// order not done after kEvacuateRetryMs is given again.
constexpr size_t kEvacuateInFlight = 256;
constexpr int64_t kEvacuateRetryMs = 15000;


}  // namespace

class ClusterImpl final : public RemoteRoute, public Endpoint {
 public:
  ClusterImpl(Node& node, ClusterOptions o)
      : rt_(runtime_of(node)), options_(std::move(o)),
        net_([this](Message* batch) { on_outbound(batch); }, options_.io_on_worker ? &node : nullptr) {}

  ~ClusterImpl() override { stop(); }

  Status start() {
    if (options_.secret.empty()) return Status::invalid_argument("the cluster secret is not set");
    if (!rt_.running()) return Status::invalid_argument("start the node before the cluster");
    service_pid_ = Pid(rt_.node_id(), Pid::kExternalShard, kServiceSerial);
    if (Status s = net_.start([this] { return start_on_loop(); }, [this] { stop_on_loop(); }); !s.ok()) return s;
    rt_.add_endpoint(this, kServiceSerial);
    rt_.set_remote(this);
    running_ = true;
    spdlog::info("cluster: node {} s2s {}:{} redis {} prefix {}{}", rt_.node_id(), options_.s2s_host,
                 s2s_port_.load(),
                 options_.redis_sentinels.empty()
                     ? options_.redis_host + ":" + std::to_string(options_.redis_port)
                     : "master '" + options_.redis_master_name + "' of " + std::to_string(options_.redis_sentinels.size()) +
                           " sentinels",
                 options_.prefix,
                 metrics_port_ >= 0 ? " metrics port " + std::to_string(metrics_port_.load()) : "");
    return {};
  }

  void stop() {
    if (!running_.load()) return;
    // Durable processes end first, while the cluster still runs: each saves its state and
    // releases its name.
    rt_.passivate_durable(std::chrono::seconds(10));
    if (!running_.exchange(false)) return;
    rt_.set_remote(nullptr);
    rt_.remove_endpoint(service_pid_);
    // Their last saves are acknowledged before the node leaves; bounded, for a Redis that
    // does not answer.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.redis_timeout_ms + 1000);
    while (state_.in_flight() > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // Leave gracefully: remove our registration and names now rather than after the TTL.
    auto left = std::make_shared<std::promise<void>>();
    net_.post([this, left] {
      if (!redis_->connected()) {
        left->set_value();
        return;
      }
      membership_.leave([left] { left->set_value(); });
    });
    left->get_future().wait_for(std::chrono::seconds(2));
    net_.stop([this] { stop_on_loop(); });
  }

  // RemoteRoute: any thread.
  Status route_remote(Message* m) override {
    net_.send(m);
    return {};
  }
  Status route_named(std::string name, Message* m) override {
    net_.post([this, name = std::move(name), m] { directory_.route_named(name, m); });
    return {};
  }
  void name_released(const std::string& name, Pid pid) override {
    net_.post([this, name, pid] { directory_.released(name, pid); });
  }
  void before_shutdown() override { stop(); }
  // A message for a process that moved, relayed by its old pid `via`: wrapped as the body of
  // a kForwarded from `via` (so the receiving node's check that a sender is on the link's node
  // holds), unwrapped there with its own sender. One pid pair, one s2s slot: relayed messages
  // keep their order. Encoded here, on the relaying worker, so they enter the loop's queue in
  // the order they were relayed.
  Status forward(Message* m, Pid via) override {
    std::string frame;
    if (Status s = append_envelope_frame(*m, options_.max_frame, &frame); !s.ok()) {
      rt_.bounce(MessagePtr(m), s);
      return s;
    }
    const Pid to = m->to();
    delete m;
    net_.send(new Message(to, via, Kind::kInfo, proto::kForwarded, Body::bytes(frame.substr(4))));
    return {};
  }
  // Endpoint: the cluster service; any thread.
  void deliver(Message* m) override {
    if (m->proto_id() == proto::kSaveState) {
      state_.arriving();
      net_.post([this, m] { state_.save(MessagePtr(m), service_pid_); });
      return;
    }
    net_.post([this, m] { serve(MessagePtr(m)); });
  }

  int s2s_port() const { return s2s_port_; }
  int metrics_port() const { return metrics_port_; }
  bool redis_connected() const { return membership_.redis_connected(); }
  bool ready(std::string* why) const { return running_ && membership_.ready(why); }
  HttpResponse readiness_response() const {
    std::string why;
    if (ready(&why)) return HttpResponse{200, "text/plain", "ready\n", {}};
    return HttpResponse{503, "text/plain", "not ready: " + why + "\n", {}};
  }
  std::vector<ClusterNodeInfo> view() const { return membership_.view(); }
  std::string metrics_text() {
    if (!running_) return "";  // the loop may be gone with the workers
    std::promise<std::string> p;
    net_.post([this, &p] { p.set_value(metrics_on_loop()); });
    return p.get_future().get();
  }

 private:
  Status start_on_loop() {
    register_metrics();
    S2sOptions so;
    so.host = options_.s2s_host;
    so.port = options_.s2s_port;
    so.secret = options_.secret;
    so.max_frame = options_.max_frame;
    so.pool = options_.s2s_pool;
    so.timeout_ms = static_cast<int>(options_.s2s_timeout.count());
    s2s_ = std::make_unique<S2s>(
        net_.loop(), rt_.node_id(), so, [this](MessagePtr m, uint16_t from) { on_inbound(std::move(m), from); },
        [this](Message* m, const Status& why) { rt_.bounce(MessagePtr(m), why); });
    if (Status s = s2s_->listen(); !s.ok()) return s;
    s2s_port_ = s2s_->port();
    if (options_.metrics_port >= 0) {
      http_ = std::make_unique<HttpServer>(net_.loop());
      http_->route("GET", "/metrics", [this](const HttpRequest&) {
        return HttpResponse{200, "text/plain; version=0.0.4", metrics_on_loop(), {}};
      });
      http_->route("GET", "/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok\n", {}}; });
      http_->route("GET", "/readyz", [this](const HttpRequest&) { return readiness_response(); });
      if (options_.reload) {
        http_->route_async("POST", "/v1/reload", [this](const HttpRequest& req, HttpServer::Respond done) {
          admin_reload(req, std::move(done));
        });
      }
      if (Status s = http_->listen(options_.metrics_host, options_.metrics_port); !s.ok()) return s;
      metrics_port_ = http_->port();
    }
    const RedisOptions ro = options_.redis();
    redis_ = std::make_unique<RedisClient>(net_.loop(), ro, "directory");
    directory_.set_redis(redis_.get());
    state_redis_ = std::make_unique<RedisClient>(net_.loop(), ro, "state");
    state_.set_redis(state_redis_.get());
    state_.set_replica_wait(options_.redis_wait_ms >= 0 ? options_.redis_wait_ms
                                                        : (options_.redis_sentinels.empty() ? 0 : 100));
    directory_.set_state_redis(state_redis_.get());
    sub_ = std::make_unique<RedisClient>(net_.loop(), ro, "events");
    membership_.set_redis(redis_.get());
    membership_.set_addresses(
        options_.s2s_host + ":" + std::to_string(s2s_port_.load()),
        metrics_port_ >= 0 ? options_.metrics_host + ":" + std::to_string(metrics_port_.load()) : "");
    redis_->on_connected([this] {
      heartbeat();
      directory_.republish();
    });
    sub_->subscribe(options_.prefix + "events", [this](std::string_view msg) { membership_.on_event(msg); });
    redis_->start();
    state_redis_->start();
    sub_->start();
    uv_timer_init(net_.loop(), &heartbeat_timer_);
    heartbeat_open_ = true;
    heartbeat_timer_.data = this;
    uint64_t period = static_cast<uint64_t>(options_.heartbeat.count());
    uv_timer_start(&heartbeat_timer_, [](uv_timer_t* t) { static_cast<ClusterImpl*>(t->data)->heartbeat(); }, period,
                   period);
    // The loop's lag probe: how late a 50 ms timer fires is how long work waits for this loop.
    uv_timer_init(net_.loop(), &lag_timer_);
    lag_timer_.data = this;
    lag_last_ns_ = uv_hrtime();
    uv_timer_start(&lag_timer_, [](uv_timer_t* t) { static_cast<ClusterImpl*>(t->data)->lag_probe(); }, kLagProbeMs,
                   kLagProbeMs);
    return {};
  }

  void stop_on_loop() {
    if (heartbeat_open_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_timer_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&lag_timer_), nullptr);
    }
    heartbeat_open_ = false;
    if (s2s_) s2s_->stop();
    if (http_) http_->stop();
    if (redis_) redis_->stop();
    if (state_redis_) state_redis_->stop();
    if (sub_) sub_->stop();
    for (auto& h : unknown_) delete h.m;
    unknown_.clear();
  }

  void lag_probe() {
    const uint64_t now = uv_hrtime();
    const double late_ms = static_cast<double>(now - lag_last_ns_) / 1e6 - kLagProbeMs;
    lag_last_ns_ = now;
    membership_.note_loop_lag(std::max(0.0, late_ms));
  }

  void heartbeat() {
    membership_.heartbeat();
    remote_.prune(wall_ms());
  }

  // A peer is down: the link goes, calls to it fail, monitors and links on it fire, and
  // names cached there are asked again.
  void node_down(uint16_t id, const Status& why) {
    s2s_->drop_peer(id, why);
    remote_.node_down(id, why);
    directory_.node_down(id);
  }

  // Messages held for a node not yet in the view: sent once it is, bounced after two
  // refreshes without it.
  void on_refreshed() {
    if (unknown_.empty()) return;
    std::vector<Message*> known;
    std::vector<Held> still;
    for (auto& h : unknown_) {
      if (membership_.live(h.m->to().node())) {
        known.push_back(h.m);
      } else if (membership_.refreshes() - h.since >= 2) {
        rt_.bounce(MessagePtr(h.m), Status::unavailable("node " + std::to_string(h.m->to().node()) + " is not in the cluster"));
      } else {
        still.push_back(h);
      }
    }
    unknown_.swap(still);
    route_out(known);
  }

  // --- messages to and from other nodes ----------------------------------------------------

  void on_outbound(Message* batch) {
    // The vector's buffer is kept between batches: a fresh one per batch reached the large
    // sizes for which glibc consolidates its fast bins first (malloc_consolidate and a
    // slower _int_malloc for every message body after it: ~20% of an echo's profile).
    std::vector<Message*> msgs;
    msgs.swap(outbound_);  // taken while in use: a re-entrant call would get its own
    for (Message* m = batch; m; m = m->next.load(std::memory_order_relaxed)) msgs.push_back(m);
    route_out(msgs);
    msgs.clear();
    if (msgs.capacity() <= kKeptOutbound) outbound_.swap(msgs);
  }

  void route_out(const std::vector<Message*>& msgs) {
    const int64_t now = wall_ms();
    for (Message* m : msgs) {
      uint16_t node = m->to().node();
      const ClusterNodeInfo* peer = membership_.find(node);
      if (!peer) {
        // Maybe it joined since our last look (a reply to a node that just called us): hold
        // the message for up to two refreshes before giving up on that node.
        unknown_.push_back({m, membership_.refreshes()});
        membership_.refresh();
        continue;
      }
      remote_.outbound(*m, node, now);
      s2s_->send(node, peer->s2s, m);
    }
    s2s_->flush();
  }

  void on_inbound(MessagePtr m, uint16_t from_node) {
    if (m->from().valid() && m->from().node() != from_node) {
      static LogThrottle throttle;
      if (uint64_t left_out; throttle.allow(&left_out)) {
        spdlog::warn("s2s: node {} sent a message claiming to be from {}; dropped{}", from_node, m->from().to_string(),
                     left_out_note(left_out));
      }
      rt_.count_dropped();
      return;
    }
    if (m->proto_id() == proto::kForwarded && m->kind() == Kind::kInfo) {
      // Relayed by the node a process moved from (authenticated by the link): the message
      // inside keeps its own sender.
      Result<MessagePtr> inner = decode_envelope(m->body().raw());
      if (!inner.ok()) {
        rt_.count_dropped();
        return;
      }
      (*inner)->set_to(m->to());
      rt_.route(inner->release());
      return;
    }
    remote_.inbound(*m, from_node);
    rt_.route(m.release());
  }

  // --- the directory ---------------------------------------------------------------------

  // The cluster service (service::kCluster): ensure and lookup calls from any node.
  void serve(MessagePtr m) {
    if (m->kind() != Kind::kCall) return;
    ReplyTo to = m->reply_to();
    auto answer = [this, to, proto_id = m->proto_id()](Result<Pid> where) {
      if (where.ok()) {
        reply(to, proto_id, *where);
      } else {
        reply_error(to, where.status());
      }
    };
    try {
      if (m->proto_id() == proto::kEnsure) {
        auto& req = m->as<JsonMap>();
        auto name = req.get_string("name");
        auto kind = req.get_string("kind");
        if (!name || !kind || name->empty()) {
          reply_error(to, Status::invalid_argument("ensure needs a name and a kind"));
          return;
        }
        const auto* here = req.get("here");
        const bool pinned = here && std::holds_alternative<bool>(*here) && std::get<bool>(*here);
        if (!pinned && m->from().node() == rt_.node_id() && !rt_.names().lookup(*name)) {
          if (uint16_t newer = node_with_newer_kind(*kind); newer != 0) {
            // Passed on whole: the peer answers the caller itself (replies match by request
            // id), and a call pending on it fails at once if it goes down.
            req.set("here", true);
            ++ensures_passed_on_;
            m->set_to(Cluster::service_pid(newer));
            rt_.route(m.release());
            return;
          }
        }
        directory_.ensure(*name, *kind, Pid::from_raw(static_cast<uint64_t>(req.get_int("writer").value_or(0))),
                          answer);
      } else if (m->proto_id() == proto::kLookup) {
        directory_.lookup(std::string(m->body().raw()), answer);
      } else if (m->proto_id() == proto::kMigrate) {
        auto& req = m->as<JsonMap>();
        auto name = req.get_string("name");
        auto dest = req.get_int("to");
        if (!name || !dest || name->empty() || *dest <= 0 || *dest > 65535) {
          reply_error(to, Status::invalid_argument("migrate needs a name and a node id (to)"));
          return;
        }
        if (Status s = migrate(*name, static_cast<uint16_t>(*dest), to, false); !s.ok()) reply_error(to, s);
      } else if (m->proto_id() == proto::kAdopt) {
        auto adopt = m->as<pb::Adopt>();
        if (adopt.check()) {
          directory_.holder(adopt.name(), answer);
        } else {
          directory_.adopt(adopt.name(), adopt.kind(), Pid::from_raw(adopt.writer()), Pid::from_raw(adopt.old_pid()),
                           answer);
        }
      } else if (m->proto_id() == proto::kEvacuate) {
        evacuate(to);
      } else if (m->proto_id() == proto::kReload) {
        auto path = m->as<JsonMap>().get_string("path");
        if (!options_.reload) {
          reply_error(to, Status::invalid_argument("node " + std::to_string(rt_.node_id()) + " reloads no kinds libraries"));
        } else if (!path || path->empty()) {
          reply_error(to, Status::invalid_argument("reload needs a path"));
        } else {
          options_.reload(*path, [this, to](bool, std::string json) { reply(to, proto::kReload, Body::bytes(std::move(json))); });
        }
      } else {
        reply_error(to, Status::invalid_argument("unknown cluster request"));
      }
    } catch (const std::exception& e) {
      reply_error(to, Status::invalid_argument(std::string("bad cluster request: ") + e.what()));
    }
  }

  // --- hot update (docs/hot_update.md) -----------------------------------------------------

  // POST /v1/reload, body: the library's path. 200 with the report when it runs now, 409
  // with the report when it was refused or rolled back.
  void admin_reload(const HttpRequest& req, HttpServer::Respond done) {
    auto answer = [](int status, std::string body) {
      return HttpResponse{status, "application/json", std::move(body) + "\n", {}};
    };
    if (int refused = admin_refusal(req, options_.admin_token); refused == 401) {
      return done(answer(401, R"js({"error":"reload needs the admin token (Authorization: Bearer ...)"})js"));
    } else if (refused == 403) {
      return done(answer(403, R"({"error":"without an admin token, reload is taken from loopback only"})"));
    }
    std::string path = req.body;
    while (!path.empty() && (path.back() == '\n' || path.back() == '\r' || path.back() == ' ')) path.pop_back();
    if (path.empty()) return done(answer(400, R"({"error":"the body is the kinds library's path"})"));
    options_.reload(path, [this, answer, done = std::move(done)](bool ok, std::string json) mutable {
      net_.post([answer, ok, done = std::move(done), json = std::move(json)]() mutable {
        done(answer(ok ? 200 : 409, std::move(json)));
      });
    });
  }

  // --- live migration (docs/durable.md) -------------------------------------------------------

  // Gives the process `name` held here the order to move to node `dest` (into its mailbox:
  // what was queued before is handled first). It answers `caller` itself.
  Status migrate(const std::string& name, uint16_t dest, ReplyTo caller, bool evacuating) {
    if (dest == rt_.node_id()) return Status::invalid_argument(name + " is on node " + std::to_string(dest) + " already");
    const ClusterNodeInfo* target = membership_.find(dest);
    if (!target || !membership_.live(dest)) return Status::unavailable("node " + std::to_string(dest) + " is not live");
    if (target->kind != "local") {
      return Status::invalid_argument("node " + std::to_string(dest) + " is a " + target->kind + ", not a local server");
    }
    auto it = directory_.claimed().find(name);
    if (it == directory_.claimed().end()) {
      return Status::not_found("no process named " + name + " on node " + std::to_string(rt_.node_id()));
    }
    pb::MigrateOrder order;
    order.set_to_node(dest);
    order.set_caller(caller.caller.raw());
    order.set_request_id(caller.request_id);
    order.set_evacuating(evacuating);
    rt_.route(new Message(it->second, service_pid_, Kind::kInfo, proto::kMigrate, Body(std::move(order))));
    return {};
  }

  // A new activation asked of this node by one of its own processes (a player's room) goes
  // to the node that runs the newest version of its kind when that is newer than ours (or we
  // do not run the kind at all): a live local node, not draining, with room (fewer live
  // processes than its capacity), the least loaded of those with that version. 0: here.
  // Ensures from other nodes (a gateway's, to the node the name server placed the player
  // on) and those marked "here" are never passed on, so an ensure moves at most once; the
  // directory's claim still decides who runs the name.
  uint16_t node_with_newer_kind(const std::string& kind) {
    KindRef k = rt_.kind(kind);
    const uint32_t ours = k ? k->options.version : 0;
    uint16_t best = 0;
    uint32_t best_version = 0;
    double best_load = 0;
    for (const auto& n : membership_.view()) {
      if (n.id == rt_.node_id() || n.kind != "local" || n.draining || !membership_.live(n.id)) continue;
      if (!n.kinds || n.capacity == 0 || n.live >= n.capacity) continue;  // unknown kinds: not a target
      auto v = n.kind_version(kind);
      if (!v || *v <= ours) continue;
      const double load = double(n.live) / n.capacity;
      if (best == 0 || *v > best_version || (*v == best_version && load < best_load)) {
        best = n.id;
        best_version = *v;
        best_load = load;
      }
    }
    return best;
  }

  // One step of evacuating this node: every named process held here is ordered to move to a
  // live local node that is not draining (round robin), at most kEvacuateInFlight at once;
  // a process that is not durable stops gracefully instead. The caller polls until none is
  // left ("names" 0).
  void evacuate(ReplyTo to) {
    std::vector<uint16_t> targets;
    for (const auto& n : membership_.view()) {
      if (n.kind == "local" && !n.draining && n.id != rt_.node_id() && membership_.live(n.id)) targets.push_back(n.id);
    }
    const auto& held = directory_.claimed();
    const int64_t now = wall_ms();
    std::erase_if(evacuating_, [&](const auto& e) { return !held.count(e.first) || now - e.second > kEvacuateRetryMs; });
    int64_t ordered = 0;
    for (const auto& [name, pid] : held) {
      if (targets.empty() || evacuating_.size() >= kEvacuateInFlight) break;
      if (evacuating_.count(name)) continue;
      if (migrate(name, targets[evacuate_cursor_++ % targets.size()], {}, true).ok()) {
        evacuating_[name] = now;
        ++ordered;
      }
    }
    if (targets.empty() && !held.empty()) {
      reply_error(to, Status::unavailable("no live local node that is not draining to move " +
                                          std::to_string(held.size()) + " processes to"));
      return;
    }
    JsonMap r;
    r.set("names", static_cast<int64_t>(held.size()))
        .set("durable", static_cast<int64_t>(rt_.stats().durable))
        .set("ordered", ordered)
        .set("moving", static_cast<int64_t>(evacuating_.size()))
        .set("targets", static_cast<int64_t>(targets.size()));
    reply(to, proto::kEvacuate, std::move(r));
  }

  void reply(ReplyTo to, uint32_t proto_id, Body body) {
    auto* r = new Message(to.caller, service_pid_, Kind::kReply, proto_id, std::move(body));
    r->set_request_id(to.request_id);
    rt_.route(r);
  }

  void reply_error(ReplyTo to, const Status& s) {
    rt_.route(Message::error_reply(to.caller, service_pid_, to.request_id, s));
  }

  // The node's families, read from the state they describe when scraped (on this loop).
  void register_metrics() {
    const Labels node = {{"node", std::to_string(rt_.node_id())}};
    auto gauge = [&](const char* name, const char* help, std::function<double()> read) {
      metrics_.gauge_fn(name, help, node, std::move(read));
    };
    auto counter = [&](const char* name, const char* help, std::function<double()> read) {
      metrics_.counter_fn(name, help, node, std::move(read));
    };
    gauge("behavior_processes", "Processes alive on this node.", [this] { return double(rt_.stats().live); });
    counter("behavior_processes_spawned_total", "Processes started.", [this] { return double(rt_.stats().spawned); });
    counter("behavior_processes_exited_total", "Processes ended.", [this] { return double(rt_.stats().exited); });
    counter("behavior_processes_crashed_total", "Processes ended by an exception.",
            [this] { return double(rt_.stats().crashed); });
    counter("behavior_messages_handled_total", "Messages handled by routers.",
            [this] { return double(rt_.stats().messages); });
    counter("behavior_messages_dropped_total", "Messages dropped or refused.",
            [this] { return double(rt_.stats().dropped); });
    counter("behavior_processes_idle_expired_total", "Processes stopped by model clean.",
            [this] { return double(rt_.stats().idle_expired); });
    counter("behavior_processes_moved_total", "Processes moved to the worker that messages them most.",
            [this] { return double(rt_.stats().moved); });
    counter("behavior_s2s_messages_in_total", "Envelopes received from other nodes.",
            [this] { return double(s2s_->stats().frames_in); });
    counter("behavior_s2s_messages_out_total", "Envelopes sent to other nodes.",
            [this] { return double(s2s_->stats().frames_out); });
    counter("behavior_s2s_bytes_in_total", "Bytes received on s2s links.",
            [this] { return double(s2s_->stats().bytes_in); });
    counter("behavior_s2s_bytes_out_total", "Bytes written on s2s links.",
            [this] { return double(s2s_->stats().bytes_out); });
    gauge("behavior_s2s_connections", "Open s2s links (both directions).",
          [this] { return double(s2s_->stats().connections); });
    counter("behavior_s2s_refused_handshakes_total", "Peers that did not prove the cluster secret.",
            [this] { return double(s2s_->stats().refused_handshakes); });
    counter("behavior_s2s_refused_busy_total", "s2s handshakes cut: too many in progress, in all or from one address.",
            [this] { return double(s2s_->stats().refused_busy); });
    counter("behavior_log_lines_suppressed_total", "Repeated warnings left out of the log by its throttle.",
            [] { return double(log_lines_suppressed()); });
    counter("behavior_s2s_bad_frames_total", "Links closed for malformed or oversized frames.",
            [this] { return double(s2s_->stats().bad_frames); });
    counter("behavior_s2s_timeouts_total",
            "Links closed because the peer went silent (no tick) or a dial or handshake took too long.",
            [this] { return double(s2s_->stats().timeouts); });
    gauge("behavior_remote_calls_pending", "Calls to other nodes awaiting a reply.",
          [this] { return double(remote_.pending_calls()); });
    gauge("behavior_redis_connected", "1 when the Redis connection is up.",
          [this] { return redis_->connected() ? 1.0 : 0.0; });
    counter("behavior_redis_reconnects_total", "Redis reconnect attempts.",
            [this] { return double(redis_->reconnects()); });
    gauge("behavior_heartbeat_age_seconds", "Seconds since the last successful heartbeat.", [this] {
      const int64_t ok = membership_.last_heartbeat_ok_ms();
      return ok ? double(wall_ms() - ok) / 1000.0 : -1;
    });
    counter("behavior_heartbeat_failures_total",
            "Heartbeats that Redis did not take (down, stalled, or refusing writes).",
            [this] { return double(membership_.heartbeat_failures()); });
    gauge("behavior_cluster_membership_frozen",
          "1 while this node's own heartbeats fail: no peer is declared dead meanwhile.",
          [this] { return membership_.frozen() ? 1.0 : 0.0; });
    gauge("behavior_cluster_nodes", "Live nodes in this node's view.", [this] { return double(membership_.size()); });
    counter("behavior_cluster_nodes_down_total", "Nodes this node saw fail (declared dead, heartbeat expired).",
            [this] { return double(membership_.nodes_down()); });
    counter("behavior_cluster_nodes_left_total", "Nodes this node saw leave gracefully (stopped, ctl done).",
            [this] { return double(membership_.nodes_left()); });
    counter("behavior_cluster_fenced_total",
            "Times this node found it had been declared dead and dropped its cluster names.",
            [this] { return double(membership_.fenced()); });
    counter("behavior_cluster_ensures_passed_on_total",
            "Activations asked here that went to a node running a newer version of their kind.",
            [this] { return double(ensures_passed_on_); });
    state_.register_metrics(metrics_, node);
    remote_.set_call_histogram(&metrics_.histogram(
        "behavior_remote_call_seconds", "Calls to processes on other nodes, from the call leaving to its reply.",
        kLatencyBuckets, node));
  }

  std::string metrics_on_loop() {
    std::string out = metrics_.text();
    // Read at each scrape: a reload of the kinds library changes them while the node runs.
    MetricsRegistry kinds;
    for (const auto& k : rt_.kinds()) {
      kinds.gauge("behavior_kind_version", "The version of each kind this node runs (as its registration publishes).",
                  {{"node", std::to_string(rt_.node_id())}, {"kind", k->name}})
          .set(k->options.version);
    }
    out += kinds.text();
    if (options_.extra_metrics) out += options_.extra_metrics();
    return out + common_metrics_text({{"node", std::to_string(rt_.node_id())}, {"kind", options_.kind}});
  }

  Runtime& rt_;
  ClusterOptions options_;
  NetLoop net_;
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<RedisClient> sub_;
  std::unique_ptr<RedisClient> state_redis_;  // durable state saves (state_store.h)
  std::unique_ptr<S2s> s2s_;
  std::unique_ptr<HttpServer> http_;
  uv_timer_t heartbeat_timer_{};
  static constexpr uint64_t kLagProbeMs = 50;
  uv_timer_t lag_timer_{};  // open with heartbeat_timer_
  uint64_t lag_last_ns_ = 0;
  bool heartbeat_open_ = false;
  std::atomic<bool> running_{false};
  std::atomic<int> s2s_port_{0};
  std::atomic<int> metrics_port_{-1};
  Pid service_pid_;
  // Loop thread only.
  Membership membership_{rt_, options_,
                        {[this](uint16_t node, const Status& why) { node_down(node, why); },
                         [this] {
                           spdlog::error("cluster: stopping the {} processes with cluster names", directory_.held());
                           directory_.drop_all();
                         },
                         [this] { on_refreshed(); }}};
  struct Held {
    Message* m;
    uint64_t since;  // membership_.refreshes() when it was held
  };
  std::vector<Held> unknown_;  // messages for nodes not (yet) in our view
  static constexpr size_t kKeptOutbound = 64 * 1024;
  std::vector<Message*> outbound_;  // on_outbound's buffer, reused
  Directory directory_{rt_, options_.prefix,
                      {[this](uint16_t node) { return membership_.live(node); },
                       [this](uint16_t node, std::function<void()> done) {
                         membership_.cleanup_node(node, false, std::move(done));
                       }}};
  RemoteTracker remote_{rt_};  // calls and watches on other nodes
  std::unordered_map<std::string, int64_t> evacuating_;  // names ordered to move → wall ms
  size_t evacuate_cursor_ = 0;
  uint64_t ensures_passed_on_ = 0;  // to a node with a newer version of the kind
  StateStore state_{rt_, options_.prefix};  // durable process state
  MetricsRegistry metrics_;
};

}  // namespace behavior::detail

namespace behavior {

Cluster::Cluster(Node& node, ClusterOptions options)
    : node_(node), impl_(std::make_unique<detail::ClusterImpl>(node, std::move(options))) {}
Cluster::~Cluster() { stop(); }
Status Cluster::start() { return impl_->start(); }
void Cluster::stop() { impl_->stop(); }
int Cluster::s2s_port() const { return impl_->s2s_port(); }
int Cluster::metrics_port() const { return impl_->metrics_port(); }
bool Cluster::redis_connected() const { return impl_->redis_connected(); }
bool Cluster::ready(std::string* why) const { return impl_->ready(why); }
HttpResponse Cluster::readiness_response() const { return impl_->readiness_response(); }
bool Cluster::wait_ready(Millis timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}
std::vector<ClusterNodeInfo> Cluster::nodes() const { return impl_->view(); }
std::string Cluster::metrics_text() const { return impl_->metrics_text(); }

Pid Cluster::service_pid(uint16_t node) { return Pid(node, Pid::kExternalShard, detail::kServiceSerial); }

JsonMap Cluster::ensure_request(const std::string& name, const std::string& kind, Pid writer, bool here) {
  JsonMap m;
  m.set("name", name).set("kind", kind).set("writer", static_cast<int64_t>(writer.raw()));
  if (here) m.set("here", true);
  return m;
}

Result<Pid> Cluster::ensure(const std::string& name, const std::string& kind, uint16_t on_node, Pid writer,
                            Millis timeout) {
  Inbox inbox(node_);
  Reply r = inbox.call(service_pid(on_node ? on_node : node_.id()), proto::kEnsure,
                       ensure_request(name, kind, writer, on_node != 0), timeout);
  if (!r.ok()) return r.status();
  return r.as<Pid>();
}

Result<Pid> Cluster::lookup(const std::string& name, Millis timeout) {
  Inbox inbox(node_);
  Reply r = inbox.call(service_pid(node_.id()), proto::kLookup, std::string(name), timeout);
  if (!r.ok()) return r.status();
  return r.as<Pid>();
}

RedisOptions ClusterOptions::redis() const {
  RedisOptions o;
  o.host = redis_host;
  o.port = redis_port;
  o.password = redis_password;
  o.request_timeout_ms = redis_timeout_ms;
  o.sentinels = redis_sentinels;
  o.master_name = redis_master_name;
  o.sentinel_password = redis_sentinel_password;
  return o;
}

std::string ClusterNodeInfo::to_json(int64_t now_ms, std::string_view extra_members) const {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto text = [&w](const char* key, const std::string& v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  w.Key("id");
  w.Uint(id);
  text("kind", kind);
  text("s2s", s2s);
  text("metrics", metrics);
  text("version", version);
  w.Key("capacity");
  w.Uint(capacity);
  w.Key("processes");
  w.Uint64(live);
  w.Key("connections");
  w.Uint64(connections);
  w.Key("load");
  w.Double(load);
  w.Key("busy");
  w.Double(busy);
  w.Key("cpu");
  w.Double(cpu);
  w.Key("lag_ms");
  w.Double(lag_ms);
  w.Key("udp_drops");
  w.Double(udp_drops);
  w.Key("draining");
  w.Bool(draining);
  w.Key("started_ms");
  w.Int64(started_ms);
  w.Key("heartbeat_ms");
  w.Int64(heartbeat_ms);
  w.Key("heartbeat_age_ms");
  w.Int64(std::max<int64_t>(0, now_ms - heartbeat_ms));
  w.Key("attributes");
  w.StartObject();
  for (const auto& [k, v] : attributes) text(k.c_str(), v);
  w.EndObject();
  w.Key("kinds");
  if (kinds) {
    w.StartObject();
    for (const auto& [k, v] : *kinds) {
      w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
      w.Uint(v);
    }
    w.EndObject();
  } else {
    w.Null();
  }
  w.EndObject();
  std::string out(sb.GetString(), sb.GetSize());
  if (!extra_members.empty()) out.insert(1, std::string(extra_members) + (out.size() > 2 ? "," : ""));
  return out;
}

std::optional<uint32_t> ClusterNodeInfo::kind_version(const std::string& k) const {
  if (!kinds) return 0;
  auto it = kinds->find(k);
  if (it == kinds->end()) return std::nullopt;
  return it->second;
}

namespace {

bool plain_name_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string format_kind_versions(const KindVersions& kinds) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const auto& [name, version] : kinds) {
    if (!out.empty()) out += ',';
    for (char ch : name) {
      const auto c = static_cast<unsigned char>(ch);
      if (plain_name_byte(c)) {
        out += ch;
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
    out += ':';
    out += std::to_string(version);
  }
  return out;
}

std::optional<KindVersions> parse_kind_versions(std::string_view text) {
  KindVersions out;
  if (text.empty()) return out;
  size_t pos = 0;
  while (true) {
    const size_t end = std::min(text.find(',', pos), text.size());
    const std::string_view item = text.substr(pos, end - pos);
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    std::string name;
    for (size_t i = 0; i < colon; ++i) {
      const char c = item[i];
      if (c == '%') {
        if (i + 2 >= colon) return std::nullopt;
        const int hi = hex_value(item[i + 1]), lo = hex_value(item[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        name += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else if (plain_name_byte(static_cast<unsigned char>(c))) {
        name += c;
      } else {
        return std::nullopt;
      }
    }
    const std::string_view digits = item.substr(colon + 1);
    if (digits.empty() || digits.size() > 10) return std::nullopt;
    uint64_t version = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      version = version * 10 + static_cast<uint64_t>(c - '0');
    }
    if (version == 0 || version > UINT32_MAX) return std::nullopt;
    if (!out.emplace(std::move(name), static_cast<uint32_t>(version)).second) return std::nullopt;
    if (end == text.size()) break;
    pos = end + 1;
  }
  return out;
}

void ClusterNodeInfo::set_field(const std::string& k, const std::string& v) {
  if (k == "id") id = static_cast<uint16_t>(std::atoi(v.c_str()));
  else if (k == "kind") kind = v;
  else if (k == "s2s") s2s = v;
  else if (k == "metrics") metrics = v;
  else if (k == "version") version = v;
  else if (k == "capacity") capacity = static_cast<uint32_t>(std::strtoul(v.c_str(), nullptr, 10));
  else if (k == "live") live = std::strtoull(v.c_str(), nullptr, 10);
  else if (k == "load") load = std::atof(v.c_str());
  else if (k == "busy") busy = std::atof(v.c_str());
  else if (k == "cpu") cpu = std::atof(v.c_str());
  else if (k == "lag_ms") lag_ms = std::atof(v.c_str());
  else if (k == "udp_drops") udp_drops = std::atof(v.c_str());
  else if (k == "started_ms") started_ms = std::atoll(v.c_str());
  else if (k == "heartbeat_ms") heartbeat_ms = std::atoll(v.c_str());
  else if (k == "draining") draining = v == "1";
  else if (k == "connections") connections = std::strtoull(v.c_str(), nullptr, 10);
  else if (k == "kinds") kinds = parse_kind_versions(v);
  else if (k.rfind("a.", 0) == 0) attributes[k.substr(2)] = v;
}

}  // namespace behavior
