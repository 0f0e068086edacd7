// main.cpp — gateway: parse config, start the node, open the client listeners, join the
// cluster as a "gateway" (publishing the listeners' addresses), serve until SIGINT/SIGTERM,
// then drain (clients told to reconnect elsewhere, --drain-ms) and stop.
#include <behavior/behavior.h>
#include <behavior/node_flags.h>
#include <behavior/tls_flags.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "gateway.h"

namespace {

// The drain after the first SIGTERM or SIGINT (GatewayOptions::drain_ms): until every
// logged-in client has left, the deadline, or a second signal (stop at once).
void drain(behavior::gateway::Gateway& gateway, int timeout_ms, int sig) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  spdlog::info("gateway: signal {}: draining (at most {} ms; a second signal stops at once)", sig, timeout_ms);
  gateway.begin_drain();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  while (!gateway.drained()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      spdlog::warn("gateway: drain timeout ({} ms): closing the {} connections left", timeout_ms,
                   gateway.connections());
      return;
    }
    const long wait_ms = std::min<long>(static_cast<long>(left), 50);
    timespec ts{0, wait_ms * 1'000'000L};
    const int got = sigtimedwait(&set, nullptr, &ts);
    if (got == SIGINT || got == SIGTERM) {
      spdlog::warn("gateway: second signal {} while draining: stopping now, {} connections left", got,
                   gateway.connections());
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  behavior::Node::block_termination_signals();  // a signal before the wait is not lost
  behavior::block_hangup_signal();               // SIGHUP reloads the TLS pair
  behavior::ServerFlags flags = behavior::ServerFlags::for_service("gateway");
  behavior::gateway::GatewayOptions gw;
  CLI::App app{"behavior gateway: client connections (TCP, WebSocket), tickets, relay to user processes"};
  behavior::add_server_flags(app, flags);
  app.add_option("--listen-host", gw.host, "Address the client listeners bind")
      ->envname("BEHAVIOR_LISTEN_HOST")
      ->capture_default_str();
  app.add_option("--public-host", gw.public_host, "Address clients are told (default: --listen-host)")
      ->envname("BEHAVIOR_PUBLIC_HOST");
  app.add_option("--tcp-port", gw.tcp_port, "TCP client port (0 = a free one, -1 = off)")
      ->envname("BEHAVIOR_TCP_PORT")
      ->check(behavior::integer_in(-1, 65535))
      ->capture_default_str();
  app.add_option("--ws-port", gw.ws_port, "WebSocket client port (0 = a free one, -1 = off)")
      ->envname("BEHAVIOR_WS_PORT")
      ->check(behavior::integer_in(-1, 65535))
      ->capture_default_str();
  app.add_option("--udp-port", gw.udp_port, "UDP (KCP) client port (0 = a free one, -1 = off)")
      ->envname("BEHAVIOR_UDP_PORT")
      ->check(behavior::integer_in(-1, 65535))
      ->capture_default_str();
  app.add_option("--max-frame", gw.max_frame, "Largest client frame (protoID + body), bytes")
      ->envname("BEHAVIOR_MAX_FRAME")
      ->check(CLI::Range(16, 16 << 20))
      ->capture_default_str();
  app.add_option("--auth-timeout-ms", gw.auth_timeout_ms, "AUTH must be done this soon after connecting")
      ->envname("BEHAVIOR_AUTH_TIMEOUT_MS")
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", gw.idle_timeout_ms, "Close connections silent this long (heartbeats count)")
      ->envname("BEHAVIOR_IDLE_TIMEOUT_MS")
      ->capture_default_str();
  app.add_option("--frame-rate", gw.frame_rate, "Client frames per second per connection (0 = no limit)")
      ->envname("BEHAVIOR_FRAME_RATE")
      ->capture_default_str();
  app.add_option("--frame-burst", gw.frame_burst, "Burst above --frame-rate")
      ->envname("BEHAVIOR_FRAME_BURST")
      ->capture_default_str();
  app.add_option("--max-output-bytes", gw.max_output_bytes, "Bytes queued to one client before it is cut off")
      ->envname("BEHAVIOR_MAX_OUTPUT_BYTES")
      ->capture_default_str();
  app.add_option("--flush-ms", gw.flush_ms,
                 "Hold what clients are sent up to this many ms and write it at once (0: at the end of each callback)")
      ->envname("BEHAVIOR_FLUSH_MS")
      ->check(behavior::integer_in(0, 100))
      ->capture_default_str();
  app.add_option("--max-connections", gw.max_connections,
                 "Client connections at most (0: what RLIMIT_NOFILE allows, less a reserve)")
      ->envname("BEHAVIOR_MAX_CONNECTIONS")
      ->capture_default_str();
  app.add_option("--max-unauth-per-address", gw.max_unauth_per_address,
                 "Connections from one address (IPv6: one /64) waiting for AUTH")
      ->envname("BEHAVIOR_MAX_UNAUTH_PER_ADDRESS")
      ->check(behavior::integer_in(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--auth-timeout-pressure-ms", gw.auth_timeout_pressure_ms,
                 "AUTH deadline when the gateway is under pressure (3/4 full, or 1/4 waiting for AUTH)")
      ->envname("BEHAVIOR_AUTH_TIMEOUT_PRESSURE_MS")
      ->check(behavior::integer_in(100, 3'600'000))
      ->capture_default_str();
  app.add_option("--drain-ms", gw.drain_ms,
                 "On SIGTERM/SIGINT: spread the clients' RECONNECT frames over this window (0 = all at once)")
      ->envname("BEHAVIOR_DRAIN_MS")
      ->check(behavior::integer_in(0, 3'600'000))
      ->capture_default_str();
  app.add_option("--drain-notice-ms", gw.drain_notice_ms,
                 "On SIGTERM/SIGINT: wait this long after marking the gateway draining before the first RECONNECT")
      ->envname("BEHAVIOR_DRAIN_NOTICE_MS")
      ->check(behavior::integer_in(0, 60'000))
      ->capture_default_str();
  app.add_option("--drain-timeout-ms", gw.drain_timeout_ms,
                 "On SIGTERM/SIGINT: stop at the latest this long after the signal (0 = no drain, stop at once)")
      ->envname("BEHAVIOR_DRAIN_TIMEOUT_MS")
      ->check(behavior::integer_in(0, 3'600'000))
      ->capture_default_str();
  behavior::TlsFlags tls;
  behavior::add_tls_flags(app, tls, "the WebSocket port (wss://)");
  bool tls_tcp = false;
  app.add_flag("--tls-tcp", tls_tcp, "With --tls-cert: the TCP client port speaks TLS too (registered as tcps)")
      ->envname("BEHAVIOR_TLS_TCP");
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  if (auto ctx = behavior::load_tls(tls); ctx.ok()) {
    gw.ws_tls = *ctx;
    if (tls_tcp && !gw.ws_tls) {
      std::fprintf(stderr, "gateway: --tls-tcp needs --tls-cert and --tls-key\n");
      return 2;
    }
    if (tls_tcp) gw.tcp_tls = gw.ws_tls;
  } else {
    std::fprintf(stderr, "gateway: %s\n", ctx.status().message().c_str());
    return 2;
  }
  if (gw.drain_timeout_ms > 0 && gw.drain_timeout_ms < gw.drain_notice_ms + gw.drain_ms) {
    std::fprintf(stderr,
                 "gateway: --drain-timeout-ms %d is shorter than --drain-notice-ms %d + --drain-ms %d: some clients "
                 "would never be told to reconnect\n",
                 gw.drain_timeout_ms, gw.drain_notice_ms, gw.drain_ms);
    return 2;
  }
  if (!behavior::finish_server_flags("gateway", flags, true)) return 2;
  behavior::Node node(flags.node);
  if (auto s = node.start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.to_string());
    return 1;
  }
  behavior::gateway::Gateway gateway(node, flags.cluster, gw);
  if (auto s = gateway.start(); !s.ok()) {
    spdlog::critical("cannot listen for clients: {}", s.to_string());
    return 1;
  }
  for (auto& [k, v] : gateway.attributes()) flags.cluster.attributes[k] = v;
  flags.cluster.extra_metrics = [&gateway] { return gateway.metrics_text(); };
  flags.cluster.connections = [&gateway] { return gateway.connections(); };
  flags.cluster.udp_drops = [&gateway] { return gateway.udp_socket_drops(); };
  behavior::Cluster cluster(node, flags.cluster);
  if (auto s = cluster.start(); !s.ok()) {
    spdlog::critical("cannot join the cluster: {}", s.to_string());
    return 1;
  }
  if (behavior::wait_until_ready(cluster, "gateway")) {
    spdlog::info("gateway ready: tcp_port={}{} udp_port={} ws_port={}{} metrics_port={}", gateway.tcp_port(),
                 gw.tcp_tls ? " (tls)" : "", gateway.udp_port(), gateway.ws_port(), gw.ws_tls ? " (wss)" : "",
                 cluster.metrics_port());
  }
  int sig = behavior::wait_for_signal_reloading(gw.ws_tls);
  if (gw.drain_timeout_ms > 0) drain(gateway, gw.drain_timeout_ms, sig);
  gateway.stop();  // players' processes are told while the cluster still runs
  cluster.stop();
  node.shutdown();
  spdlog::info("gateway stopped on signal {}", sig);
  return 0;
}
