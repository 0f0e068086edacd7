// name_server.cpp — see name_server.h. Everything runs on one libuv loop (its own thread):
// the HTTP server, a Redis connection for accounts, the directory and drains, and a timer
// that copies the cluster view every view_refresh_ms. Password hashing (PBKDF2, tens of
// milliseconds by design) runs on libuv's thread pool so one login never stalls others.
#include "name_server.h"

#include <behavior/clock.h>
#include <behavior/crypto.h>
#include <behavior/http_server.h>
#include <behavior/metrics.h>
#include <behavior/net_loop.h>
#include <behavior/redis_client.h>
#include <behavior/ticket.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "dashboard.h"
#include "placement.h"
#include "play_page.h"
#include "rate_limiter.h"

namespace behavior::name_server {
namespace {

using behavior::RedisClient;
using behavior::reply_string;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;


HttpResponse json_response(int status, const rapidjson::StringBuffer& body) {
  return HttpResponse{status, "application/json", std::string(body.GetString(), body.GetSize()), {}};
}

// Deletes KEYS[1] if it holds ARGV[1]: takes back a write a stalled Redis ran after its
// request was already answered "retry".
constexpr const char* kDeleteIfEqual =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

HttpResponse error_response(int status, std::string_view message) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("code");
  w.Int(status);
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  return json_response(status, sb);
}

void put(JsonWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

// "<node>:<pid>" (the directory's value) → the node.
std::optional<uint16_t> dir_node(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_STRING) return std::nullopt;
  std::string v = reply_string(r);
  long node = std::strtol(v.c_str(), nullptr, 10);
  if (node <= 0 || node > 65535) return std::nullopt;
  return static_cast<uint16_t>(node);
}

const char* kDrainScript = R"lua(
if ARGV[1] == '1' then redis.call('SET', KEYS[2], '1') else redis.call('DEL', KEYS[2]) end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'draining', ARGV[1]) end
return 1
)lua";

}  // namespace

class NameServer::Impl {
 public:
  Impl(Cluster& cluster, const ClusterOptions& co, NameServerOptions o)
      : cluster_(cluster), cluster_options_(co), options_(std::move(o)), net_(
          [](Message* m) {
            while (m) {  // nothing is sent to this loop; free whatever arrives anyway
              Message* next = m->next.load(std::memory_order_relaxed);
              delete m;
              m = next;
            }
          }),
        placement_(std::random_device{}(), co.ttl.count(), options_.overload),
        limiter_(options_.login_rate, options_.login_burst),
        user_failures_(options_.failures_per_user, kMaxBlockMs, kForgetFailuresMs, kMaxTrackedFailures),
        address_failures_(options_.failures_per_address, kMaxBlockMs, kForgetFailuresMs, kMaxTrackedFailures),
        rng_(std::random_device{}()) {}

  Status start() {
    if (cluster_options_.secret.empty()) return Status::invalid_argument("the cluster secret is not set");
    dummy_hash_ = hash_password("no such account", options_.pbkdf2_iterations);
    if (Status s = net_.start([this] { return start_on_loop(); }, [this] { stop_on_loop(); }); !s.ok()) return s;
    running_ = true;
    spdlog::info("name_server: http {}:{} auth {} ticket ttl {} s", options_.http_host, port_.load(),
                 options_.dev_auth ? "dev (any user, no password)" : "accounts", options_.ticket_ttl_s);
    return {};
  }

  void stop() {
    if (!running_.exchange(false)) return;
    net_.stop([this] { stop_on_loop(); });
  }

  int port() const { return port_; }

 private:
  // ---------------------------------------------------------------------------------------
  // Setup.

  Status start_on_loop() {
    redis_ = std::make_unique<RedisClient>(net_.loop(), cluster_options_.redis(), "name-server");
    metrics_.gauge_fn("behavior_name_rate_limited_addresses", "Addresses the login rate limit tracks now.", {},
                      [this] { return double(limiter_.tracked()); });
    metrics_.gauge_fn("behavior_name_password_jobs", "Password checks queued or running on the thread pool.", {},
                      [this] { return double(password_jobs_); });
    metrics_.gauge_fn("behavior_name_failure_backoff_keys", "User names and addresses with recent wrong passwords.",
                      {}, [this] { return double(user_failures_.tracked() + address_failures_.tracked()); });
    metrics_.gauge_fn("behavior_name_redis_connected", "1 when the name server's Redis connection is up.", {},
                      [this] { return redis_->connected() ? 1.0 : 0.0; });
    redis_->start();

    http_ = std::make_unique<HttpServer>(net_.loop(), options_.limits);
    metrics_.gauge_fn("behavior_http_connections", "Open HTTP connections.", {},
                      [this] { return double(http_->connections()); });
    metrics_.counter_fn("behavior_http_refused_total", "HTTP connections refused: all slots taken.",
                        {{"limit", "all"}}, [this] { return double(http_->stats().refused_full); });
    metrics_.counter_fn("behavior_http_refused_total", "HTTP connections refused: all slots taken.",
                        {{"limit", "per_address"}}, [this] { return double(http_->stats().refused_per_address); });
    metrics_.counter_fn("behavior_http_timed_out_total", "HTTP connections cut: no request in time, or idle.", {},
                        [this] { return double(http_->stats().timed_out); });
    if (options_.tls) http_->use_tls(options_.tls);
    http_->route_async("POST", "/v1/login", [this](const HttpRequest& r, HttpServer::Respond done) {
      const auto t0 = std::chrono::steady_clock::now();
      login(r, [this, t0, done = std::move(done)](HttpResponse response) {
        login_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        done(std::move(response));
      });
    });
    http_->route_async("POST", "/v1/register", [this](const HttpRequest& r, HttpServer::Respond done) {
      register_account(r, std::move(done));
    });
    http_->route("GET", "/v1/cluster", [this](const HttpRequest&) { return cluster_json(); });
    http_->route_async("*", "/v1/nodes/*", [this](const HttpRequest& r, HttpServer::Respond done) {
      drain(r, std::move(done));
    });
    http_->route("GET", "/metrics", [this](const HttpRequest&) {
      return HttpResponse{200, "text/plain; version=0.0.4", metrics_text(), {}};
    });
    http_->route("GET", "/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok\n", {}}; });
    http_->route("GET", "/readyz", [this](const HttpRequest&) { return cluster_.readiness_response(); });
    http_->route("GET", "/", [](const HttpRequest&) {
      return HttpResponse{200, "text/html; charset=utf-8", std::string(kDashboardHtml), {}};
    });
    for (const char* path : {"/play", "/play/"}) {
      http_->route("GET", path, [](const HttpRequest&) {
        return HttpResponse{200, "text/html; charset=utf-8", std::string(kPlayHtml), {}};
      });
    }
    if (Status s = http_->listen(options_.http_host, options_.http_port); !s.ok()) return s;
    port_ = http_->port();

    refresh_view();
    uv_timer_init(net_.loop(), &view_timer_);
    view_timer_.data = this;
    auto every = static_cast<uint64_t>(std::max(10, options_.view_refresh_ms));
    uv_timer_start(&view_timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->refresh_view(); }, every, every);
    return {};
  }

  void stop_on_loop() {
    if (http_) http_->stop();
    if (redis_) redis_->stop();
  }

  std::string key(const std::string& suffix) const { return cluster_options_.prefix + suffix; }

  // The cluster view, copied from the membership layer, with this name server's own drain
  // decisions laid over it until the heartbeats show them.
  void refresh_view() {
    view_ = cluster_.nodes();
    for (auto it = drain_override_.begin(); it != drain_override_.end();) {
      bool seen = false, agrees = false;
      for (auto& n : view_) {
        if (n.id != it->first) continue;
        seen = true;
        agrees = n.draining == it->second;
        n.draining = it->second;
      }
      it = (!seen || agrees) ? drain_override_.erase(it) : std::next(it);
    }
  }

  // A password check may join the pool's queue (see NameServerOptions::password_queue).
  bool password_pool_full() const { return password_jobs_ >= options_.password_queue; }

  // 503 with Retry-After: the store or the password pool is busy (1 s), or the cluster is at
  // capacity (2 s: a heartbeat must pass before the load looks different).
  static HttpResponse busy_response(std::string_view message, const char* retry_after_s = "1") {
    HttpResponse r = error_response(503, message);
    r.headers["Retry-After"] = retry_after_s;
    return r;
  }

  void run_in_pool(std::function<void()> work, std::function<void()> after) {
    ++password_jobs_;
    after = [this, after = std::move(after)] {
      --password_jobs_;
      after();
    };
    struct Work {
      uv_work_t req{};
      std::function<void()> work, after;
    };
    auto* w = new Work();
    w->work = std::move(work);
    w->after = std::move(after);
    w->req.data = w;
    uv_queue_work(
        net_.loop(), &w->req, [](uv_work_t* r) { static_cast<Work*>(r->data)->work(); },
        [](uv_work_t* r, int) {
          auto* w = static_cast<Work*>(r->data);
          w->after();
          delete w;
        });
  }

  // ---------------------------------------------------------------------------------------
  // POST /v1/login

  void login(const HttpRequest& req, HttpServer::Respond done) {
    if (!limiter_.allow(req.peer_ip, wall_ms())) {
      ++logins_["rate_limited"];
      return done(error_response(429, "too many login attempts from this address; retry later"));
    }
    Credentials c;
    if (std::string why = parse_credentials(req.body, !options_.dev_auth, &c); !why.empty()) {
      ++logins_["bad_request"];
      return done(error_response(400, why));
    }
    const std::string dir_key = key("dir:" + user_process_name(c.user));
    // Without Redis a login could not be sticky (7) and its ticket could not be checked for
    // single use at the gateway: refuse it clearly instead of handing out a useless ticket.
    if (options_.dev_auth) {
      if (!redis_->connected()) {
        ++logins_["unavailable"];
        return done(busy_response("the directory is unavailable (Redis is down); retry later"));
      }
      redis_->command_with_deadline({"GET", dir_key}, [this, user = c.user, done = std::move(done)](redisReply* r) mutable {
        if (!r || r->type == REDIS_REPLY_ERROR) {
          ++logins_["unavailable"];
          return done(busy_response("the directory is unavailable; retry later"));
        }
        finish_login(user, dir_node(r), std::move(done));
      });
      return;
    }
    if (!redis_->connected()) {
      ++logins_["unavailable"];
      return done(busy_response("accounts are unavailable (Redis is down); retry later"));
    }
    const int64_t now = wall_ms();
    if (int64_t wait = std::max(user_failures_.blocked_for(c.user, now), address_failures_.blocked_for(req.peer_ip, now));
        wait > 0) {
      ++logins_["backoff"];
      HttpResponse r = error_response(429, "too many wrong passwords; retry later");
      r.headers["Retry-After"] = std::to_string((wait + 999) / 1000);
      return done(std::move(r));
    }
    if (password_pool_full()) {
      ++logins_["busy"];
      return done(busy_response("too many logins at once; retry later"));
    }
    redis_->command_with_deadline({"MGET", key("account:" + c.user), dir_key},
                    [this, c, ip = req.peer_ip, done = std::move(done)](redisReply* r) mutable {
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        ++logins_["unavailable"];
        return done(busy_response("accounts are unavailable; retry later"));
      }
      if (password_pool_full()) {
        ++logins_["busy"];
        return done(busy_response("too many logins at once; retry later"));
      }
      std::string stored = r->element[0]->type == REDIS_REPLY_STRING ? reply_string(r->element[0]) : "";
      std::optional<uint16_t> sticky = dir_node(r->element[1]);
      auto ok = std::make_shared<bool>(false);
      // An unknown user costs the same hash as a known one: timing tells nothing.
      run_in_pool(
          [ok, password = c.password, stored, dummy = dummy_hash_] {
            *ok = verify_password(password, stored.empty() ? dummy : stored) && !stored.empty();
          },
          [this, ok, user = c.user, ip, sticky, done = std::move(done)]() mutable {
            if (!*ok) {
              ++logins_["unauthorized"];
              user_failures_.failed(user, wall_ms());
              address_failures_.failed(ip, wall_ms());
              return done(error_response(401, "unknown user or wrong password"));
            }
            user_failures_.succeeded(user);
            finish_login(user, sticky, std::move(done));
          });
    });
  }

  void finish_login(const std::string& user, std::optional<uint16_t> sticky, HttpServer::Respond done) {
    const int64_t now = wall_ms();
    std::vector<NodeLoad> locals;
    for (const auto& n : view_) {
      if (n.kind != "local") continue;
      locals.push_back(NodeLoad{n.id, n.kind, n.capacity, n.live, n.draining, n.heartbeat_ms,
                                n.kind_version(options_.user_kind), n.busy, n.lag_ms});
    }
    Result<Placed> placed = placement_.place(sticky, locals, now);
    if (!placed.ok() && is_overloaded(placed.status())) {
      // Visible back-pressure, not seconds of lag for everyone: come back later.
      ++logins_["overloaded"];
      return done(busy_response("the cluster is at capacity (every node is busy); retry later", "2"));
    }
    if (!placed.ok()) {
      ++logins_["unavailable"];
      return done(error_response(503, "no live node can take players now; retry later"));
    }
    bool gateways_overloaded = false;
    const ClusterNodeInfo* gw = pick_gateway(now, &gateways_overloaded);
    if (!gw && gateways_overloaded) {
      ++logins_["overloaded"];
      return done(busy_response("every gateway is at capacity; retry later", "2"));
    }
    if (!gw) {
      ++logins_["unavailable"];
      return done(error_response(503, "no live gateway; retry later"));
    }
    Ticket t;
    t.user = user;
    t.node = placed->node;
    t.gateway = gw->id;
    t.expires_ms = now + int64_t{options_.ticket_ttl_s} * 1000;
    t.nonce = base64url_encode(random_bytes(12));
    ++logins_["ok"];
    ++placements_[placed->rule == Rule::kSticky ? "sticky" : "balanced"];

    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    put(w, "user", user);
    w.Key("node");
    w.Uint(placed->node);
    w.Key("gateway");
    w.StartObject();
    w.Key("id");
    w.Uint(gw->id);
    for (const char* transport : {"tcp", "tcps", "udp", "ws", "wss"}) {
      auto it = gw->attributes.find(transport);
      put(w, transport, it == gw->attributes.end() ? std::string() : it->second);
    }
    w.EndObject();
    put(w, "ticket", sign_ticket(t, cluster_options_.secret));
    w.Key("expires_at");
    w.Int64(t.expires_ms);
    w.EndObject();
    done(json_response(200, sb));
  }

  // The live, fresh, non-draining gateway with the fewest connections, counting the clients
  // this name server sent it since its last heartbeat; ties broken at random. One that is
  // overloaded is skipped (*overloaded set when that left none).
  const ClusterNodeInfo* pick_gateway(int64_t now, bool* overloaded) {
    const ClusterNodeInfo* best = nullptr;
    uint64_t best_score = UINT64_MAX;
    int ties = 0;
    for (const auto& n : view_) {
      if (n.kind != "gateway" || n.draining || now - n.heartbeat_ms > cluster_options_.ttl.count()) continue;
      if (options_.overload.overloaded(n.busy, n.lag_ms, n.udp_drops)) {
        *overloaded = true;
        continue;
      }
      auto& recent = gateway_recent_[n.id];
      if (recent.first != n.heartbeat_ms) recent = {n.heartbeat_ms, 0};
      uint64_t score = n.connections + recent.second;
      if (score < best_score) {
        best = &n;
        best_score = score;
        ties = 1;
      } else if (score == best_score && std::uniform_int_distribution<int>(0, ties++)(rng_) == 0) {
        best = &n;
      }
    }
    if (best) ++gateway_recent_[best->id].second;
    return best;
  }

  // ---------------------------------------------------------------------------------------
  // POST /v1/register

  void register_account(const HttpRequest& req, HttpServer::Respond done) {
    if (!limiter_.allow(req.peer_ip, wall_ms())) {
      ++registers_["rate_limited"];
      return done(error_response(429, "too many requests from this address; retry later"));
    }
    Credentials c;
    std::string why = parse_credentials(req.body, true, &c);
    if (why.empty() && c.password.size() < kMinPasswordBytes) why = "password must have at least 8 characters";
    if (!why.empty()) {
      ++registers_["bad_request"];
      return done(error_response(400, why));
    }
    if (!redis_->connected()) {
      ++registers_["unavailable"];
      return done(busy_response("accounts are unavailable (Redis is down); retry later"));
    }
    if (password_pool_full()) {
      ++registers_["busy"];
      return done(busy_response("too many registrations at once; retry later"));
    }
    auto hash = std::make_shared<std::string>();
    run_in_pool([hash, password = c.password, n = options_.pbkdf2_iterations] { *hash = hash_password(password, n); },
                [this, hash, user = c.user, done = std::move(done)]() mutable {
                  // On a stalled Redis the answer is "retry", and an account the SET makes
                  // when Redis wakes is taken back (its salted hash is this request's own).
                  redis_->command_with_deadline({"SET", key("account:" + user), *hash, "NX"},
                                  [this, hash, user, done = std::move(done)](redisReply* r) mutable {
                                    if (!r) {
                                      redis_->command({"EVAL", kDeleteIfEqual, "1", key("account:" + user), *hash},
                                                      nullptr);
                                    }
                                    if (!r || r->type == REDIS_REPLY_ERROR) {
                                      ++registers_["unavailable"];
                                      return done(busy_response("accounts are unavailable; retry later"));
                                    }
                                    if (r->type == REDIS_REPLY_NIL) {
                                      ++registers_["exists"];
                                      return done(error_response(409, "that user name is taken"));
                                    }
                                    ++registers_["created"];
                                    rapidjson::StringBuffer sb;
                                    JsonWriter w(sb);
                                    w.StartObject();
                                    put(w, "user", user);
                                    w.EndObject();
                                    done(json_response(201, sb));
                                  });
                });
  }

  // ---------------------------------------------------------------------------------------
  // POST|DELETE /v1/nodes/{id}/drain

  void drain(const HttpRequest& req, HttpServer::Respond done) {
    constexpr std::string_view kPrefix = "/v1/nodes/", kSuffix = "/drain";
    std::string_view path = req.path;
    if (path.size() <= kPrefix.size() + kSuffix.size() || path.substr(path.size() - kSuffix.size()) != kSuffix) {
      return done(error_response(404, "not found"));
    }
    if (req.method != "POST" && req.method != "DELETE") return done(error_response(405, "use POST or DELETE"));
    std::string id_text(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
    char* end = nullptr;
    long id = std::strtol(id_text.c_str(), &end, 10);
    if (id_text.empty() || *end != '\0' || id <= 0 || id > 65535) return done(error_response(400, "bad node id"));
    if (int refused = admin_refusal(req, options_.admin_token); refused == 401) {
      return done(error_response(401, "drain needs the admin token (Authorization: Bearer ...)"));
    } else if (refused == 403) {
      return done(error_response(403, "without an admin token, drain is allowed from loopback only"));
    }
    bool known = false;
    for (const auto& n : view_) known |= n.id == id;
    if (!known) return done(error_response(404, "no live node " + id_text));
    const bool on = req.method == "POST";
    if (!redis_->connected()) return done(error_response(503, "Redis is down; retry later"));
    redis_->command({"EVAL", kDrainScript, "2", key("node:" + id_text), key("drain:" + id_text), on ? "1" : "0"},
                    [this, id = static_cast<uint16_t>(id), on, done = std::move(done)](redisReply* r) mutable {
                      if (!r || r->type == REDIS_REPLY_ERROR) return done(error_response(503, "Redis failed; retry"));
                      drain_override_[id] = on;
                      refresh_view();
                      ++drains_;
                      spdlog::info("name_server: node {} {}", id, on ? "is draining" : "takes players again");
                      rapidjson::StringBuffer sb;
                      JsonWriter w(sb);
                      w.StartObject();
                      w.Key("node");
                      w.Uint(id);
                      w.Key("draining");
                      w.Bool(on);
                      w.EndObject();
                      done(json_response(200, sb));
                    });
  }

  // ---------------------------------------------------------------------------------------
  // GET /v1/cluster, GET /metrics

  HttpResponse cluster_json() {
    const int64_t now = wall_ms();
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("now_ms");
    w.Int64(now);
    w.Key("nodes");
    w.StartArray();
    for (const auto& n : view_) {
      const std::string node = n.to_json(now);
      w.RawValue(node.data(), node.size(), rapidjson::kObjectType);
    }
    w.EndArray();
    w.EndObject();
    return json_response(200, sb);
  }

  std::string metrics_text() {
    std::map<std::string, uint64_t> kinds;
    for (const auto& n : view_) ++kinds[n.kind];
    for (const auto& kind : known_kinds_) nodes_by_kind_[kind].set(0);  // a kind that is gone shows 0
    for (auto& [kind, n] : kinds) {
      nodes_by_kind_[kind].set(double(n));
      known_kinds_.insert(kind);
    }
    return metrics_.text() + cluster_.metrics_text();
  }

  Cluster& cluster_;
  ClusterOptions cluster_options_;
  NameServerOptions options_;
  NetLoop net_;
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<HttpServer> http_;
  uv_timer_t view_timer_{};
  Placement placement_;
  RateLimiter limiter_;
  static constexpr int64_t kMaxBlockMs = 60'000;
  static constexpr int64_t kForgetFailuresMs = 15 * 60'000;
  static constexpr size_t kMaxTrackedFailures = 100'000;
  FailureBackoff user_failures_;     // wrong passwords per user name
  FailureBackoff address_failures_;  // and per client address
  int password_jobs_ = 0;            // password checks queued or running on the pool
  std::mt19937_64 rng_;
  std::string dummy_hash_;
  std::vector<ClusterNodeInfo> view_;
  std::map<uint16_t, bool> drain_override_;
  std::map<uint16_t, std::pair<int64_t, uint64_t>> gateway_recent_;  // heartbeat → sent since
  MetricsRegistry metrics_;
  CounterVec logins_{metrics_, "behavior_name_logins_total", "Logins answered, by result.", "result"};
  CounterVec registers_{metrics_, "behavior_name_registers_total", "Account registrations answered, by result.",
                        "result"};
  CounterVec placements_{metrics_, "behavior_name_placements_total",
                         "Players placed, by rule (sticky: where their process lives; balanced: by free capacity).",
                         "rule"};
  Counter& drains_ = metrics_.counter("behavior_name_drains_total", "Drains and resumes done through the API.");
  Histogram& login_seconds_ = metrics_.histogram(
      "behavior_name_login_seconds", "From a login request to its answer (placement, ticket; accounts: PBKDF2).",
      kLatencyBuckets);
  GaugeVec nodes_by_kind_{metrics_, "behavior_name_nodes", "Live nodes in the name server's view, by kind.", "kind"};
  std::set<std::string> known_kinds_;
  std::atomic<int> port_{0};
  std::atomic<bool> running_{false};
};

NameServer::NameServer(Cluster& cluster, const ClusterOptions& cluster_options, NameServerOptions options)
    : impl_(std::make_unique<Impl>(cluster, cluster_options, std::move(options))) {}
NameServer::~NameServer() { stop(); }
Status NameServer::start() { return impl_->start(); }
void NameServer::stop() { impl_->stop(); }
int NameServer::http_port() const { return impl_->port(); }

}  // namespace behavior::name_server
