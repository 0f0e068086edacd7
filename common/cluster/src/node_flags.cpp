// node_flags.cpp — see node_flags.h.
#include "behavior/node_flags.h"
#include "behavior/cli.h"

#include <behavior/logging.h>

#include <hiredis/hiredis.h>

#include "behavior/redis_client.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <vector>
#include <thread>

namespace behavior {
namespace {

// KEYS: node_seq. ARGV: prefix, first id, how many ids, claim ms. Returns the id or 0.
const char* kAllocateScript = R"lua(
local first, span = tonumber(ARGV[2]), tonumber(ARGV[3])
for _ = 1, span do
  local id = first + (redis.call('INCR', KEYS[1]) - 1) % span
  if redis.call('EXISTS', ARGV[1] .. 'node:' .. id) == 0 and
     redis.call('SET', ARGV[1] .. 'node_claim:' .. id, '1', 'NX', 'PX', ARGV[4]) then
    return id
  end
end
return 0
)lua";

// One command on a blocking connection; the reply (owned by the caller) or an error text.
redisReply* run(redisContext* c, std::vector<std::string> args, std::string* error) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (!r) {
    *error = c->errstr;
  } else if (r->type == REDIS_REPLY_ERROR) {
    *error = std::string(r->str, r->len);
    freeReplyObject(r);
    r = nullptr;
  }
  return r;
}

}  // namespace

Result<uint16_t> allocate_node_id(const ClusterOptions& o, Millis wait, Millis claim) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    std::string error;
    timeval tv{2, 0};
    std::string host = o.redis_host;
    int port = o.redis_port;
    if (!o.redis_sentinels.empty() && !resolve_primary_blocking(o.redis(), 1000, &host, &port, &error)) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status::unavailable("cannot allocate a node id: no sentinel named the primary of '" +
                                   o.redis_master_name + "': " + error);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
    if (c && !c->err) {
      redisSetTimeout(c, tv);
      redisReply* r = nullptr;
      if (!o.redis_password.empty() && (r = run(c, {"AUTH", o.redis_password}, &error)) != nullptr) {
        freeReplyObject(r);
      }
      if (error.empty()) {
        r = run(c,
                {"EVAL", kAllocateScript, "1", o.prefix + "node_seq", o.prefix, std::to_string(kFirstAutoNodeId),
                 std::to_string(65536 - kFirstAutoNodeId), std::to_string(claim.count())},
                &error);
      }
      if (r) {
        long long id = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        freeReplyObject(r);
        redisFree(c);
        if (id <= 0) return Status::unavailable("no free node id in Redis");
        return static_cast<uint16_t>(id);
      }
      if (error.rfind("NOAUTH", 0) == 0 || error.rfind("WRONGPASS", 0) == 0 || error.rfind("ERR AUTH", 0) == 0) {
        redisFree(c);
        return Status::unauthenticated("Redis refused: " + error);
      }
    } else {
      error = c ? c->errstr : "out of memory";
    }
    if (c) redisFree(c);
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::unavailable("cannot allocate a node id from Redis " + host + ":" +
                                 std::to_string(port) + ": " + error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void add_sentinel_flags(CLI::App& app, std::string& sentinels, std::string& master_name,
                        std::string& sentinel_password) {
  app.add_option("--redis-sentinels", sentinels,
                 "Redis Sentinel: host:port,host:port,... asked for the primary of --redis-master-name "
                 "(replaces --redis)")
      ->envname("BEHAVIOR_REDIS_SENTINELS");
  app.add_option("--redis-master-name", master_name, "Redis Sentinel: the master name the sentinels monitor")
      ->envname("BEHAVIOR_REDIS_MASTER_NAME");
  app.add_option("--redis-sentinel-password", sentinel_password, "Redis Sentinel: AUTH password of the sentinels")
      ->envname("BEHAVIOR_REDIS_SENTINEL_PASSWORD");
}

void add_server_flags(CLI::App& app, ServerFlags& f) {
  add_version_flag(app, "");
  app.set_config("--config", "", "TOML or INI file with the same keys as the long flags")
      ->envname("BEHAVIOR_CONFIG");
  app.add_flag(std::string("--print-config"))
      ->description("Print the effective configuration (flags, environment, file, defaults) and exit");
  app.add_option("--node-id", f.node.node_id,
                 "Node id, unique in the cluster (1-65535; 0 or auto: take an unused one from Redis)")
      ->envname("BEHAVIOR_NODE_ID")
      ->transform(CLI::Transformer(std::map<std::string, std::string>{{"auto", "0"}}))
      ->check(behavior::integer_in(0, 65535))
      ->capture_default_str();
  app.add_option("--workers", f.node.workers, "Worker threads (0 = one per core)")
      ->envname("BEHAVIOR_WORKERS")
      ->check(behavior::integer_in(0, 254))
      ->capture_default_str();
  app.add_option("--capacity", f.node.capacity, "Processes this node is meant to hold")
      ->envname("BEHAVIOR_CAPACITY")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--placement-slack", f.node.placement_slack,
                 "Spawns stay on the spawner's worker while within this many processes of the "
                 "least loaded one (0 = strict least-loaded)")
      ->envname("BEHAVIOR_PLACEMENT_SLACK")
      ->capture_default_str();
  app.add_option("--spin-us", f.node.spin_us, "Microseconds an idle worker polls before sleeping")
      ->envname("BEHAVIOR_SPIN_US")
      ->check(behavior::integer_in(0, 100000))
      ->capture_default_str();
  app.add_option("--log-format", f.log_format, "text, or json: one JSON object per line (time, level, node, msg)")
      ->envname("BEHAVIOR_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error or off")
      ->envname("BEHAVIOR_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  auto& c = f.cluster;
  app.add_option("--redis", f.redis, "Redis host:port of the cluster (empty: run standalone)")
      ->envname("BEHAVIOR_REDIS")
      ->capture_default_str();
  app.add_option("--redis-password", c.redis_password, "Redis AUTH password")
      ->envname("BEHAVIOR_REDIS_PASSWORD");
  add_sentinel_flags(app, f.redis_sentinels, c.redis_master_name, c.redis_sentinel_password);
  app.add_option("--redis-timeout-ms", c.redis_timeout_ms,
                 "A client's request waiting on Redis (login, AUTH) is answered 'retry' after this long")
      ->envname("BEHAVIOR_REDIS_TIMEOUT_MS")
      ->check(behavior::integer_in(50, 600'000))
      ->capture_default_str();
  app.add_option("--redis-wait-ms", c.redis_wait_ms,
                 "A durable write-through save waits this long for one replica to have it (WAIT 1); "
                 "-1: 100 with --redis-sentinels, else 0")
      ->envname("BEHAVIOR_REDIS_WAIT_MS")
      ->check(behavior::integer_in(-1, 10'000))
      ->capture_default_str();
  app.add_option("--redis-prefix", c.prefix, "Prefix of every Redis key")
      ->envname("BEHAVIOR_REDIS_PREFIX")
      ->capture_default_str();
  app.add_option("--cluster-secret", c.secret,
                 "Shared secret proving cluster membership (prefer the environment variable)")
      ->envname("BEHAVIOR_CLUSTER_SECRET");
  app.add_option("--s2s-host", c.s2s_host, "Address for node-to-node traffic")
      ->envname("BEHAVIOR_S2S_HOST")
      ->capture_default_str();
  app.add_option("--s2s-port", c.s2s_port, "s2s port (0 = a free one, published in Redis)")
      ->envname("BEHAVIOR_S2S_PORT")
      ->check(behavior::integer_in(0, 65535))
      ->capture_default_str();
  app.add_option("--s2s-pool", c.s2s_pool, "Connections per peer node")
      ->envname("BEHAVIOR_S2S_POOL")
      ->check(behavior::integer_in(1, 16))
      ->capture_default_str();
  app.add_option_function<int64_t>(
         "--s2s-timeout-ms", [&c](int64_t ms) { c.s2s_timeout = Millis(ms); },
         "A node link silent this long (peers tick every quarter of it) is closed and redialed; 0 = never")
      ->envname("BEHAVIOR_S2S_TIMEOUT_MS")
      ->default_str(std::to_string(c.s2s_timeout.count()))
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  app.add_flag("!--cluster-io-thread", c.io_on_worker,
               "Run the network (s2s, Redis, /metrics) on a thread of its own instead of worker 0");
  app.add_option("--metrics-host", c.metrics_host, "Address of the /metrics HTTP port")
      ->envname("BEHAVIOR_METRICS_HOST")
      ->capture_default_str();
  c.metrics_port = 0;
  app.add_option("--metrics-port", c.metrics_port, "Prometheus /metrics port (0 = a free one, -1 = none)")
      ->each([&f](const std::string&) { f.metrics_port_given = true; })
      ->envname("BEHAVIOR_METRICS_PORT")
      ->check(behavior::integer_in(-1, 65535))
      ->capture_default_str();
  app.add_option("--cluster-kind", c.kind, "What this node registers as: local, gateway or name")
      ->envname("BEHAVIOR_CLUSTER_KIND")
      ->check(CLI::IsMember({"local", "gateway", "name"}))
      ->capture_default_str();
  app.add_option_function<std::vector<std::string>>(
         "--cluster-attribute",
         [&c](const std::vector<std::string>& kvs) {
           for (const auto& kv : kvs) {
             auto eq = kv.find('=');
             if (eq == std::string::npos || eq == 0) throw CLI::ValidationError("--cluster-attribute", "want key=value");
             c.attributes[kv.substr(0, eq)] = kv.substr(eq + 1);
           }
         },
         "key=value published with the registration (gateways: tcp=, udp=, ws= addresses)")
      ->envname("BEHAVIOR_CLUSTER_ATTRIBUTES")
      ->delimiter(',');
  app.add_option_function<int64_t>(
         "--heartbeat-ms", [&c](int64_t v) { c.heartbeat = Millis(v); }, "Heartbeat period (default 1000)")
      ->envname("BEHAVIOR_HEARTBEAT_MS")
      ->check(behavior::integer_in(50, 60000))
      ->default_str(std::to_string(c.heartbeat.count()));
  app.add_option_function<int64_t>(
         "--ttl-ms", [&c](int64_t v) { c.ttl = Millis(v); }, "Heartbeat TTL: dead after this long (default 3000)")
      ->envname("BEHAVIOR_TTL_MS")
      ->check(behavior::integer_in(100, 600000))
      ->default_str(std::to_string(c.ttl.count()));
}

bool ServerFlags::finish(std::string* error) {
  if (!redis_sentinels.empty()) {
    if (!parse_sentinel_list(redis_sentinels, &cluster.redis_sentinels, error)) {
      *error = "--redis-sentinels: " + *error;
      return false;
    }
    if (cluster.redis_sentinels.empty()) {
      *error = "--redis-sentinels lists no sentinel";
      return false;
    }
    if (cluster.redis_master_name.empty()) {
      *error = "--redis-sentinels needs --redis-master-name";
      return false;
    }
    redis.clear();  // the sentinels name the primary
    return finish_cluster(error);
  }
  if (!cluster.redis_master_name.empty()) {
    *error = "--redis-master-name needs --redis-sentinels";
    return false;
  }
  if (redis.empty()) {
    if (metrics_port_given) {  // the metrics port belongs to the cluster: say so, do not ignore it
      *error = "--metrics-port needs --redis: a standalone node (no cluster) has no /metrics port";
      return false;
    }
    if (node.node_id != 0) return true;
    *error = "--node-id 0 (auto) needs --redis";
    return false;
  }
  auto colon = redis.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    *error = "--redis must be host:port, got '" + redis + "'";
    return false;
  }
  cluster.redis_host = redis.substr(0, colon);
  cluster.redis_port = std::atoi(redis.c_str() + colon + 1);
  if (cluster.redis_port <= 0 || cluster.redis_port > 65535) {
    *error = "--redis has a bad port: '" + redis + "'";
    return false;
  }
  return finish_cluster(error);
}

bool ServerFlags::finish_cluster(std::string* error) {
  if (cluster.secret.empty()) {
    *error = "a cluster needs a secret: set BEHAVIOR_CLUSTER_SECRET";
    return false;
  }
  if (cluster.ttl <= cluster.heartbeat) {
    *error = "--ttl-ms must be longer than --heartbeat-ms";
    return false;
  }
  if (node.node_id == 0) {
    Result<uint16_t> id = allocate_node_id(cluster);
    if (!id.ok()) {
      *error = id.status().to_string();
      return false;
    }
    node.node_id = *id;
    std::fprintf(stderr, "node id %u allocated from Redis\n", unsigned{node.node_id});
  }
  return true;
}

bool finish_server_flags(std::string_view binary, ServerFlags& flags, bool cluster_required) {
  std::string error;
  if (!flags.finish(&error) || (cluster_required && !flags.clustered())) {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(binary.size()), binary.data(),
                 error.empty() ? "--redis is required" : error.c_str());
    return false;
  }
  init_logging(flags.node.node_id, flags.log_level, flags.log_format);
  install_crash_report();
  return true;
}

bool wait_until_ready(const Cluster& cluster, std::string_view binary, Millis wait) {
  if (cluster.wait_ready(wait)) return true;
  std::string why;
  cluster.ready(&why);
  spdlog::warn("{} is not ready after {} ms ({}): it serves, and /readyz answers 503 until it is", binary,
               wait.count(), why);
  return false;
}

}  // namespace behavior
