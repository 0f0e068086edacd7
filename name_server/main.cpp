// main.cpp — name_server: parse config, join the cluster as a "name" node (for the view of
// live nodes and gateways), serve the HTTP API until SIGINT/SIGTERM.
#include <behavior/behavior.h>
#include <behavior/node_flags.h>
#include <behavior/tls_flags.h>

#include <cstdio>

#include "name_server.h"

int main(int argc, char** argv) {
  behavior::Node::block_termination_signals();  // a signal before the wait is not lost
  behavior::block_hangup_signal();               // SIGHUP reloads the TLS pair
  behavior::ServerFlags flags = behavior::ServerFlags::for_service("name");
  behavior::name_server::NameServerOptions ns;
  CLI::App app{"behavior name_server: login, 7+4 placement, tickets, cluster API and dashboard"};
  behavior::add_server_flags(app, flags);
  app.add_option("--http-host", ns.http_host, "Address of the HTTP API")->envname("BEHAVIOR_HTTP_HOST")->capture_default_str();
  app.add_option("--http-port", ns.http_port, "HTTP API port (0 = a free one)")
      ->envname("BEHAVIOR_HTTP_PORT")
      ->check(behavior::integer_in(0, 65535))
      ->capture_default_str();
  std::string auth = "accounts";
  app.add_option("--auth", auth, "accounts: registered users with passwords; dev: any user, no password")
      ->envname("BEHAVIOR_AUTH")
      ->check(CLI::IsMember({"accounts", "dev"}))
      ->capture_default_str();
  app.add_option("--ticket-ttl", ns.ticket_ttl_s, "Seconds a login ticket stays valid")
      ->envname("BEHAVIOR_TICKET_TTL")
      ->check(behavior::integer_in(1, 3600))
      ->capture_default_str();
  app.add_option("--pbkdf2-iterations", ns.pbkdf2_iterations, "Cost of new password hashes")
      ->envname("BEHAVIOR_PBKDF2_ITERATIONS")
      ->check(CLI::Range(1000, 10'000'000))
      ->capture_default_str();
  app.add_option("--login-rate", ns.login_rate, "Logins+registers per second per client address (0 = no limit)")
      ->envname("BEHAVIOR_LOGIN_RATE")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--login-burst", ns.login_burst, "Burst allowed above --login-rate")
      ->envname("BEHAVIOR_LOGIN_BURST")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--password-queue", ns.password_queue, "Password checks queued at once; past it 503 + Retry-After")
      ->envname("BEHAVIOR_PASSWORD_QUEUE")
      ->check(behavior::integer_in(1, 100'000))
      ->capture_default_str();
  app.add_option("--overload-busy", ns.overload.busy,
                 "A node whose workers were this busy (0..1) over its last heartbeat gets no new players; 0: off")
      ->envname("BEHAVIOR_OVERLOAD_BUSY")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--overload-lag-ms", ns.overload.lag_ms,
                 "... nor one whose network loop ran this late (ms); with every node overloaded, logins get 503; 0: off")
      ->envname("BEHAVIOR_OVERLOAD_LAG_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--overload-udp-drops", ns.overload.udp_drops,
                 "... nor a gateway whose UDP socket dropped this many datagrams per second (its queue full); 0: off")
      ->envname("BEHAVIOR_OVERLOAD_UDP_DROPS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--failures-per-user", ns.failures_per_user, "Wrong passwords per user before backoff")
      ->envname("BEHAVIOR_FAILURES_PER_USER")
      ->check(behavior::integer_in(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--failures-per-address", ns.failures_per_address, "Wrong passwords per address before backoff")
      ->envname("BEHAVIOR_FAILURES_PER_ADDRESS")
      ->check(behavior::integer_in(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--admin-token", ns.admin_token, "Bearer token for drain (empty: drain from loopback only)")
      ->envname("BEHAVIOR_ADMIN_TOKEN");
  app.add_option("--http-idle-ms", ns.limits.idle_timeout_ms, "Close HTTP connections idle (or trickling) this long")
      ->envname("BEHAVIOR_HTTP_IDLE_MS")
      ->capture_default_str();
  app.add_option("--http-max-connections", ns.limits.max_connections, "Concurrent HTTP connections")
      ->envname("BEHAVIOR_HTTP_MAX_CONNECTIONS")
      ->capture_default_str();
  app.add_option("--http-max-per-address", ns.limits.max_per_address, "Concurrent HTTP connections from one address")
      ->envname("BEHAVIOR_HTTP_MAX_PER_ADDRESS")
      ->check(behavior::integer_in(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--http-reserved", ns.limits.reserved_connections,
                 "Last free HTTP slots kept for addresses that hold none")
      ->envname("BEHAVIOR_HTTP_RESERVED")
      ->check(behavior::integer_in(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--http-first-request-ms", ns.limits.first_request_timeout_ms,
                 "Close a new HTTP connection that starts no request this long")
      ->envname("BEHAVIOR_HTTP_FIRST_REQUEST_MS")
      ->check(behavior::integer_in(100, 3'600'000))
      ->capture_default_str();
  app.add_option("--http-tls-handshake-ms", ns.limits.tls_handshake_timeout_ms,
                 "HTTPS: close connections that have not finished the TLS handshake this long after connecting")
      ->envname("BEHAVIOR_HTTP_TLS_HANDSHAKE_MS")
      ->capture_default_str();
  behavior::TlsFlags tls;
  behavior::add_tls_flags(app, tls, "the HTTP API (login, register, dashboard, play page, admin API)");
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  ns.dev_auth = auth == "dev";
  if (auto ctx = behavior::load_tls(tls); ctx.ok()) {
    ns.tls = *ctx;
  } else {
    std::fprintf(stderr, "name_server: %s\n", ctx.status().message().c_str());
    return 2;
  }
  if (!behavior::finish_server_flags("name_server", flags, true)) return 2;
  behavior::Node node(flags.node);
  if (auto s = node.start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.to_string());
    return 1;
  }
  behavior::Cluster cluster(node, flags.cluster);
  if (auto s = cluster.start(); !s.ok()) {
    spdlog::critical("cannot join the cluster: {}", s.to_string());
    return 1;
  }
  behavior::name_server::NameServer server(cluster, flags.cluster, ns);
  if (auto s = server.start(); !s.ok()) {
    spdlog::critical("cannot serve HTTP: {}", s.to_string());
    return 1;
  }
  if (behavior::wait_until_ready(cluster, "name_server")) {
    spdlog::info("name_server ready: http_port={} dashboard {}://{}:{}/", server.http_port(), ns.tls ? "https" : "http",
                 ns.http_host, server.http_port());
  }
  int sig = behavior::wait_for_signal_reloading(ns.tls);
  server.stop();
  cluster.stop();
  node.shutdown();
  spdlog::info("name_server stopped on signal {}", sig);
  return 0;
}
