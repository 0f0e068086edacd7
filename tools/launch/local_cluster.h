// local_cluster.h — a whole cluster on this machine as real OS processes: redis-server (in a
// temporary directory, on a free port) unless one is given, the name server, gateways and
// local servers, each logging to its own file in one folder. Used by the launcher
// (tools/launch/main.cpp) and by the e2e and chaos tests, which also signal and restart
// single services through it. With `tls` it makes a self-signed certificate and key for
// 127.0.0.1 in its folder (tls/cert.pem, tls/key.pem), and the name server speaks HTTPS and
// the gateways' WebSocket and TCP ports TLS (wss, tcps) with them.
#pragma once

#include <behavior/status.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace behavior::tools {

// Where a service runs: a network namespace ("" = this process's) and the address its ports
// bind to and the others reach it at.
struct Host {
  std::string netns;
  std::string ip = "127.0.0.1";
};

struct LocalClusterOptions {
  std::string bin_dir;         // where local_server, name_server and gateway are
  std::string log_dir;         // "" = a new directory under $TMPDIR (kept after stop())
  std::string redis;           // host:port of a running Redis; "" = start redis-server here
  std::string redis_password;  // for an own redis-server too (requirepass)
  std::string redis_prefix;    // "" = a fresh "behavior-<random>:" so runs never mix
  // Redis with Sentinel instead of one redis-server: a primary ("redis"), a replica
  // ("redis-replica") and three sentinels ("sentinel-1".."sentinel-3", quorum 2) on free
  // loopback ports; the servers find the primary through the sentinels.
  bool redis_ha = false;
  std::string redis_master_name = "behavior";
  int sentinel_down_after_ms = 1000;
  int sentinel_failover_timeout_ms = 5000;
  int local_servers = 2;
  int gateways = 1;
  int name_server_port = 0;  // 0 = a free port
  int gateway_tcp_port = 0;  // first gateway's client ports; 0 = free ports
  int gateway_ws_port = 0;
  int gateway_udp_port = 0;
  std::string secret;        // "" = random
  std::string admin_token;   // "" = random
  std::string auth = "dev";  // name server --auth
  bool tls = false;          // HTTPS name server, wss gateways, with a self-signed pair
  int capacity = 10000;      // per local server
  int heartbeat_ms = 1000;
  int ttl_ms = 3000;
  std::string log_level = "info";
  // The game: kinds libraries every local server loads ("" = the demo game,
  // <bin_dir>/../lib/libbehavior_demo_game.so).
  std::vector<std::string> kinds_libs;
  // Extra flags for every instance of a binary.
  std::vector<std::string> local_server_args;
  // ... and for one local server, by its 1-based index (after the flags for all of them):
  // e.g. {{2, {"--kinds-opt", "user_version=2"}}} runs a newer "user" on local_server-2.
  std::map<int, std::vector<std::string>> local_server_args_of;
  std::vector<std::string> gateway_args;
  std::vector<std::string> name_server_args;
  int name_servers = 1;  // "name_server", then "name_server-2", ... (node ids 200, 201, ...)
  // Many hosts on one machine (tests/scale): the host of each service by its name ("redis",
  // "redis-replica", "sentinel-1", "local_server-3", "gateway-2", "name_server-2"). Unset:
  // every service on 127.0.0.1 here. The caller makes the namespaces, and calls from a thread
  // that reaches every address (one inside a namespace of the same network).
  std::function<Host(const std::string& service)> host_of;
};

struct ServiceInfo {
  std::string name;     // "redis", "name_server", "gateway-1", "local_server-1", ...
  pid_t pid = -1;       // -1 when not running
  std::string log;      // its log file (stdout and stderr)
  std::string listens;  // what it listens on, for people
};

class LocalCluster {
 public:
  explicit LocalCluster(LocalClusterOptions options);
  ~LocalCluster();  // stop()
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Starts everything and waits (up to `timeout_ms`) until every node is in the name
  // server's view and a login would succeed.
  Status start(int timeout_ms = 30000);
  // SIGTERM to every service (servers before Redis), SIGKILL to any still there after 10 s.
  // True when every server exited cleanly (status 0).
  bool stop();

  // Fault injection and restarts, by service name.
  Status signal(const std::string& service, int sig);
  // Waits up to `timeout_ms` for the service to exit; its wait status, or -1.
  int wait_exit(const std::string& service, int timeout_ms);
  // Starts a service that exited (or was killed) again with the same flags and ports.
  Status restart(const std::string& service, int timeout_ms = 15000);
  // A further local server "local_server-<node_id>" with the flags of the first one but its
  // own node id, running `binary` ("" = <bin_dir>/local_server): a replacement in a rolling
  // upgrade. Returns once it printed that it is ready (within `timeout_ms`); on a failure it
  // is stopped again. Its registration in Redis may lag the ready line by a heartbeat.
  Status add_local_server(uint16_t node_id, const std::string& binary = "", int timeout_ms = 15000);
  // The local servers running now, in start order.
  std::vector<std::string> running_local_servers() const;

  std::vector<ServiceInfo> services() const;
  // Services that exited since the last call, without being asked to (a crash, a kill from
  // outside): for each, a report naming it, how it ended and the tail of its log.
  std::vector<std::string> reap_exited();
  // "exit code 3", "killed by SIGKILL": a wait status in words.
  static std::string describe_exit(int wait_status);

  // A loopback port free for TCP and UDP right now, picked at random below the kernel's
  // ephemeral range (where bind(0) and every outgoing connection take theirs, so a port
  // released by bind(0) may be gone before the server binds it). Used by the tests too.
  static int free_port();
  pid_t pid(const std::string& service) const;
  std::string log_text(const std::string& service) const;

  // The primary's address at start (with redis_ha it may have moved since: see sentinels()).
  const std::string& redis_address() const { return redis_; }
  // With redis_ha: "host:port,host:port,host:port" of the sentinels; else "".
  const std::string& sentinels() const { return sentinels_; }
  const std::string& redis_replica_address() const { return replica_; }
  const std::string& redis_prefix() const { return prefix_; }
  const std::string& secret() const { return secret_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& redis_password() const { return o_.redis_password; }
  int heartbeat_ms() const { return o_.heartbeat_ms; }
  int ttl_ms() const { return o_.ttl_ms; }
  const std::string& log_dir() const { return log_dir_; }
  int name_server_port() const { return name_server_port_; }
  std::string name_server_url() const { return name_server_url(1); }
  std::string name_server_url(int index) const;  // 1-based like the service names
  // Every name server's URL, comma-separated (the bot's --name-server takes them all).
  std::string name_server_urls() const;
  // The address a service is reached at (its host's, or 127.0.0.1).
  std::string ip_of(const std::string& service) const { return host(service).ip; }
  // With tls: the self-signed certificate (also the clients' CA file: --tls-ca) and its key.
  std::string tls_cert() const { return o_.tls ? log_dir_ + "/tls/cert.pem" : ""; }
  std::string tls_key() const { return o_.tls ? log_dir_ + "/tls/key.pem" : ""; }
  struct GatewayPorts {
    int tcp = 0, ws = 0, udp = 0;
  };
  GatewayPorts gateway_ports(int index) const;  // 1-based like the service names
  uint16_t node_id(const std::string& service) const;
  // BEHAVIOR_* variables for tools (ctl, bot): Redis, prefix, secret, name server, admin token.
  std::vector<std::string> env() const;
  // The same as a file of KEY=value lines (mode 0600) in the log folder, for `. cluster.env`.
  std::string env_file() const { return log_dir_ + "/cluster.env"; }
  // GET path on the name server; the body, or "" on failure.
  std::string name_server_get(const std::string& path) const;

 private:
  struct Service {
    ServiceInfo info;
    std::string binary;
    std::vector<std::string> args;
    std::string ready_line;  // printed when it is up
    uint16_t node_id = 0;
    Host host;
    int exit_status = -1;
  };
  Service redis_service(const std::string& name, int port);
  Status start_redis();
  Status start_redis_ha();
  // Until every sentinel sees the replica and the other two sentinels (a failover needs both).
  Status wait_for_sentinels(int timeout_ms) const;
  Status make_tls_pair();
  Status check_redis() const;
  Status launch(Service& s, int timeout_ms);
  Status wait_for_nodes(int timeout_ms);
  // True (and its wait status recorded, its pid cleared) when `s` has exited.
  static bool reaped(Service& s);
  Service* find(const std::string& name);
  const Service* find(const std::string& name) const;
  std::vector<std::string> common_args() const;
  Host host(const std::string& service) const { return o_.host_of ? o_.host_of(service) : Host{}; }
  // With host_of: the flags that put a server's ports on its host's address.
  std::vector<std::string> host_args(const std::string& service, bool gateway, bool name_server) const;

  LocalClusterOptions o_;
  std::string log_dir_, redis_, prefix_, secret_, admin_token_, sentinels_, replica_;
  int name_server_port_ = 0;
  std::vector<int> name_server_ports_;  // of name_server, name_server-2, ...
  std::vector<GatewayPorts> gateway_ports_;
  std::vector<Service> services_;  // in start order
  bool own_redis_ = false;
};

}  // namespace behavior::tools
