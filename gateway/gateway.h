// gateway.h — where players meet the system. Holds client connections (TCP and WebSocket),
// checks each connection's ticket once (signature, expiry, this gateway, single use through
// Redis), makes the connection a process address of its own, ensures the user's process on
// the ticket's node with the connection as its writer, and relays frames both ways:
//   client frame {protoID, body} → the user's process (an info from the connection's pid)
//   send_to_client() in the user's process → a kClient message to the connection → a frame
// AUTH must come first and within a deadline; heartbeats are answered here; idle
// connections are closed; each connection has a frame rate limit and a bounded output
// queue (a client that does not read is cut off, the gateway's memory does not grow).
// Operators kick a user's connections through a call to control_pid() (kKickUser).
#pragma once

#include <behavior/client_frame.h>
#include <behavior/ids.h>
#include <behavior/cluster.h>
#include <behavior/node.h>
#include <behavior/tls.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace behavior::gateway {

// Operator requests (tools/ctl): every gateway node answers calls at a well-known address,
// service::gateway_control_pid(node), next to the cluster service: proto::kKickUser (ids.h).

struct GatewayOptions {
  std::string host = "127.0.0.1";  // where the client listeners bind
  std::string public_host;         // what clients are told (default: host)
  int tcp_port = 7000;             // 0: a free one; -1: no TCP listener
  int ws_port = 7002;              // 0: a free one; -1: no WebSocket listener
  int udp_port = 7001;             // 0: a free one; -1: no UDP (KCP) endpoint
  size_t max_frame = kDefaultMaxClientFrame;
  int auth_timeout_ms = 5000;     // from accept to AUTH done
  int idle_timeout_ms = 30000;    // no frame at all (heartbeats count) for this long
  double frame_rate = 200;        // client frames per second per connection (0: no limit)
  double frame_burst = 400;
  size_t max_output_bytes = 1u << 20;  // queued for one client before it is cut off
  // Write coalescing: 0 writes what a loop callback gathered for each client at the
  // callback's end; N > 0 holds it up to N ms, so a client receiving a room's fan-out gets
  // one write (one KCP flush) per N ms instead of one per callback: fewer system calls on
  // both sides for up to N ms more latency (docs/configuration.md, "Write coalescing").
  int flush_ms = 0;
  // 0: what the descriptor limit allows (RLIMIT_NOFILE, raised to its hard limit at start)
  // less a reserve for s2s links, Redis and the listeners; a larger figure is lowered to it.
  size_t max_connections = 0;
  // Connections from one address (IPv6: one /64) that have not authenticated yet.
  size_t max_unauth_per_address = 128;
  // Under pressure (three quarters of max_connections held, or a quarter of it waiting for
  // AUTH) a connection must authenticate this soon instead of auth_timeout_ms.
  int auth_timeout_pressure_ms = 1000;
  // Set: the WebSocket listener speaks TLS only (wss://), and the gateway registers its
  // address as "wss" instead of "ws". The handshake counts in auth_timeout_ms.
  std::shared_ptr<TlsContext> ws_tls;
  // The same for the TCP listener: TLS under the length-prefixed frames, registered as
  // "tcps" instead of "tcp".
  std::shared_ptr<TlsContext> tcp_tls;
  std::string user_kind = "user";  // the process kind ensured for each user
  // true: the client sockets live on worker 0's loop, next to the cluster's s2s links (a
  // client's frame reaches the user's node with no thread hand-off in the gateway);
  // false: on a thread of their own.
  bool io_on_worker = true;
  // The drain (begin_drain(); the gateway binary on SIGTERM or SIGINT): the gateway marks
  // itself draining in its registration (the name server gives it no new logins), closes its
  // listeners and refuses AUTH; after drain_notice_ms (for the name servers to see the mark)
  // every logged-in client gets a RECONNECT frame, spread evenly over drain_ms so that they
  // do not all log in again at once. The binary stops once they have left, or at
  // drain_timeout_ms after the signal (0: no drain, stop at once as before).
  int drain_notice_ms = 1000;
  int drain_ms = 3000;
  int drain_timeout_ms = 8000;
  std::string drain_reason{proto::kDefaultReconnectReason};
};

class Gateway {
 public:
  // The node must be started; `cluster_options` gives Redis, its key prefix and the secret.
  Gateway(Node& node, const ClusterOptions& cluster_options, GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Listens. Start it before the Cluster, so attributes() can go into the registration.
  Status start();
  // Starts the drain (see GatewayOptions::drain_ms); any thread, returns at once, a second
  // call does nothing. stop() still ends it, whatever is left.
  void begin_drain();
  // The drain is over: every RECONNECT went out and no client that logged in is left (those
  // still waiting for their AUTH are closed by stop()). Any thread.
  bool drained() const;
  // Closes every connection (each user's process is told), then stops. Before the cluster.
  void stop();

  // {"tcp" or "tcps", "udp", "ws" or "wss": "host:port"} for the registration (ClusterOptions::attributes).
  std::map<std::string, std::string> attributes() const;
  int tcp_port() const;
  int ws_port() const;
  int udp_port() const;
  uint64_t connections() const;
  // Datagrams the kernel dropped at the UDP socket, its receive queue full (a 32-bit count
  // that wraps; ClusterOptions::udp_drops). Any thread.
  uint32_t udp_socket_drops() const;
  std::string metrics_text() const;  // any thread

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace behavior::gateway
