// name_server.h — the front door every client uses first. An HTTP API on a loop of its own:
//   POST /v1/register {user, password}      an account (PBKDF2 hash in Redis)
//   POST /v1/login    {user, password}      → {user, node, gateway, ticket, expires_at}
//   GET  /v1/cluster                        the live nodes, as the dashboard shows them
//   POST|DELETE /v1/nodes/{id}/drain        stop (or resume) placing users on a node
//   GET  /metrics, GET /healthz, GET /readyz, GET /   Prometheus text, liveness, readiness, the dashboard
// Login chooses the user's node by the 7+4 rule (placement.h) over the cluster view that
// the name server's own cluster membership keeps fresh, the gateway with the fewest
// connections, and signs a short-lived ticket (ticket.h) the gateway checks.
#pragma once

#include <behavior/cluster.h>
#include <behavior/http_types.h>
#include <behavior/status.h>
#include <behavior/tls.h>

#include <memory>
#include <string>

#include "accounts.h"
#include "placement.h"

namespace behavior::name_server {

struct NameServerOptions {
  std::string http_host = "127.0.0.1";
  int http_port = 8080;      // 0: a free one (see http_port())
  bool dev_auth = false;     // any user, no password: for the demo and bots only
  int ticket_ttl_s = 30;
  int pbkdf2_iterations = kDefaultPbkdf2Iterations;
  double login_rate = 20;    // per client address and second (login + register); 0 = no limit
  double login_burst = 40;
  // Password checks (PBKDF2 on the thread pool) waiting or running; past it logins and
  // registers get 503 with Retry-After instead of an ever longer wait.
  int password_queue = 64;
  // Wrong passwords free of delay per user name and per address; after them each failure
  // doubles a block (1 s, 2 s, ... up to 60 s), answered 429 with Retry-After.
  int failures_per_user = 5;
  int failures_per_address = 20;
  std::string admin_token;   // for drain; empty = drain only from loopback
  HttpLimits limits;
  std::shared_ptr<TlsContext> tls;  // set: the HTTP API speaks HTTPS only
  int view_refresh_ms = 100;  // how often the HTTP loop copies the cluster view
  // The kind a player's process is (the gateways' user_kind): placement prefers the nodes
  // that run its newest version and skips those that do not run it.
  std::string user_kind = "user";
  // When a node counts as overloaded, from its heartbeat (placement.h): no new player goes
  // to it, nor to such a gateway; with every node overloaded a login gets 503 + Retry-After
  // (docs/configuration.md, "Overload"). 0 disables a test.
  Overload overload;
};

class NameServer {
 public:
  // `cluster` must be started (kind "name") and outlive the name server; its options give
  // Redis, the key prefix, the secret that signs tickets, and the heartbeat TTL.
  NameServer(Cluster& cluster, const ClusterOptions& cluster_options, NameServerOptions options);
  ~NameServer();
  NameServer(const NameServer&) = delete;
  NameServer& operator=(const NameServer&) = delete;

  Status start();
  void stop();
  int http_port() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace behavior::name_server
