// node_flags.cpp — see node_flags.h.
#include "behavior/node_flags.h"

namespace behavior {

void add_server_flags(CLI::App& app, ServerFlags& f) {
  app.set_config("--config", "", "TOML or INI file with the same keys as the long flags")
      ->envname("BEHAVIOR_CONFIG");
  app.add_option("--node-id", f.node.node_id, "Node id, unique in the cluster (1-65535)")
      ->envname("BEHAVIOR_NODE_ID")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--workers", f.node.workers, "Worker threads (0 = one per core)")
      ->envname("BEHAVIOR_WORKERS")
      ->check(CLI::Range(0, 254))
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
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error or off")
      ->envname("BEHAVIOR_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  auto& c = f.cluster;
  app.add_option("--redis", f.redis, "Redis host:port of the cluster (empty: run standalone)")
      ->envname("BEHAVIOR_REDIS");
  app.add_option("--redis-password", c.redis_password, "Redis AUTH password")
      ->envname("BEHAVIOR_REDIS_PASSWORD");
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
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--s2s-pool", c.s2s_pool, "Connections per peer node")
      ->envname("BEHAVIOR_S2S_POOL")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app.add_flag("!--cluster-io-thread", c.io_on_worker,
               "Run the network (s2s, Redis, /metrics) on a thread of its own instead of worker 0");
  app.add_option("--metrics-host", c.metrics_host, "Address of the /metrics HTTP port")
      ->envname("BEHAVIOR_METRICS_HOST")
      ->capture_default_str();
  c.metrics_port = 0;
  app.add_option("--metrics-port", c.metrics_port, "Prometheus /metrics port (0 = a free one, -1 = none)")
      ->envname("BEHAVIOR_METRICS_PORT")
      ->check(CLI::Range(-1, 65535))
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
      ->check(CLI::Range(50, 60000));
  app.add_option_function<int64_t>(
         "--ttl-ms", [&c](int64_t v) { c.ttl = Millis(v); }, "Heartbeat TTL: dead after this long (default 3000)")
      ->envname("BEHAVIOR_TTL_MS")
      ->check(CLI::Range(100, 600000));
}

bool ServerFlags::finish(std::string* error) {
  if (redis.empty()) return true;
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
  if (cluster.secret.empty()) {
    *error = "a cluster needs a secret: set BEHAVIOR_CLUSTER_SECRET";
    return false;
  }
  if (cluster.ttl <= cluster.heartbeat) {
    *error = "--ttl-ms must be longer than --heartbeat-ms";
    return false;
  }
  return true;
}

}  // namespace behavior
