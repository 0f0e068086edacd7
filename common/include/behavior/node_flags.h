// node_flags.h — the flags every server binary shares (node id, workers, capacity, logging,
// a config file), each also read from a BEHAVIOR_* environment variable for docker-compose.
// Precedence: command line, then environment, then the config file, then the default.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "behavior/cluster.h"
#include "behavior/options.h"

namespace behavior {

struct ServerFlags {
  NodeOptions node;
  std::string log_level = "info";
  std::string redis;  // host:port; empty = standalone (no cluster)
  ClusterOptions cluster;
  bool clustered() const { return !redis.empty(); }
  // Fills cluster.redis_host/port from `redis`; false (with a message) when malformed or
  // when clustered without a secret.
  bool finish(std::string* error);
};

void add_server_flags(CLI::App& app, ServerFlags& flags);

}  // namespace behavior
