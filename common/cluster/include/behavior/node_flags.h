// node_flags.h — the flags every server binary shares (node id, workers, capacity, logging,
// a config file), each also read from a BEHAVIOR_* environment variable for docker-compose.
// Precedence: command line, then environment, then the config file, then the default.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "behavior/cli.h"
#include "behavior/cluster.h"
#include "behavior/options.h"
#include "behavior/status.h"

namespace behavior {

struct ServerFlags {
  NodeOptions node;
  std::string log_level = "info";
  std::string log_format = "text";  // text | json (logging.h)
  std::string redis;  // host:port; empty = standalone (no cluster)
  std::string redis_sentinels;  // host:port,host:port,...: Sentinel instead of `redis`
  bool metrics_port_given = false;  // --metrics-port (or its env, or config) was set
  ClusterOptions cluster;
  bool clustered() const { return !redis.empty() || !redis_sentinels.empty(); }
  // Fills cluster.redis_host/port from `redis` (or cluster.redis_sentinels from
  // `redis_sentinels`, which then needs cluster.redis_master_name and wins over `redis`); false (with a message) when malformed or
  // when clustered without a secret. With --node-id 0 ("auto", needs --redis) it also takes
  // an unused node id from Redis (allocate_node_id), before the Node is built.
  bool finish(std::string* error);
  bool finish_cluster(std::string* error);  // finish()'s checks shared by both ways to Redis

  // A cluster service's defaults (the gateway, the name server): Redis at 127.0.0.1:6379,
  // one worker, registered as `kind`.
  static ServerFlags for_service(std::string kind) {
    ServerFlags f;
    f.redis = "127.0.0.1:6379";
    f.node.workers = 1;
    f.cluster.kind = std::move(kind);
    return f;
  }
};

// Node ids handed out for --node-id 0 come from [kFirstAutoNodeId, 65535]; give fixed ids
// below it so the two never meet.
inline constexpr uint16_t kFirstAutoNodeId = 1024;

// Takes a node id no live node has: INCR <prefix>node_seq picks the next candidate, and an
// atomic script claims it (SET <prefix>node_claim:<id> NX PX `claim`) only when
// <prefix>node:<id> does not exist. The claim covers the time until the node's first
// heartbeat; ids are reused only after the sequence wraps. Retries the connection until
// `wait` has passed (Redis may still be starting).
Result<uint16_t> allocate_node_id(const ClusterOptions& cluster, Millis wait = Millis(10000),
                                  Millis claim = Millis(60000));

// Every server's flags (and --version).
void add_server_flags(CLI::App& app, ServerFlags& flags);
// The Redis Sentinel flags and their BEHAVIOR_* variables (part of add_server_flags; also
// for a tool that takes its own Redis flags: ctl).
void add_sentinel_flags(CLI::App& app, std::string& sentinels, std::string& master_name,
                        std::string& sentinel_password);


// What every server's main does once its flags are parsed: finishes them (a usage error is
// printed as "<binary>: <error>"; `cluster_required`: --redis must be given) and sets up
// logging. False: exit with code 2.
bool finish_server_flags(std::string_view binary, ServerFlags& flags, bool cluster_required);

// Before a server logs "<binary> ready": waits up to `wait` for the cluster's readiness
// (registered in Redis; /readyz). True when ready; else it warns that the server serves
// but is not ready yet, with the reason, and returns false: the caller must not log "ready".
bool wait_until_ready(const Cluster& cluster, std::string_view binary, Millis wait = Millis(10000));

}  // namespace behavior
