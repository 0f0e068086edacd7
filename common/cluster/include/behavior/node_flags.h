// node_flags.h — the flags every server binary shares (node id, workers, capacity, logging,
// a config file), each also read from a BEHAVIOR_* environment variable for docker-compose.
// Precedence: command line, then environment, then the config file, then the default.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "behavior/cluster.h"
#include "behavior/options.h"
#include "behavior/status.h"

namespace behavior {

struct ServerFlags {
  NodeOptions node;
  std::string log_level = "info";
  std::string redis;  // host:port; empty = standalone (no cluster)
  ClusterOptions cluster;
  bool clustered() const { return !redis.empty(); }
  // Fills cluster.redis_host/port from `redis`; false (with a message) when malformed or
  // when clustered without a secret. With --node-id 0 ("auto", needs --redis) it also takes
  // an unused node id from Redis (allocate_node_id), before the Node is built.
  bool finish(std::string* error);
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

void add_server_flags(CLI::App& app, ServerFlags& flags);

}  // namespace behavior
