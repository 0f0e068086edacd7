// cluster.h — turns a Node into a member of a cluster: membership and heartbeats in Redis
// (cluster center), cleanup of dead nodes (cluster clean), the global name directory
// (ensure: one activation per name cluster-wide), s2s transport for messages to other
// nodes, and the /metrics HTTP port. After start(), sends, calls, links and monitors work
// the same for pids and names on any node.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "behavior/http_types.h"
#include "behavior/json_map.h"
#include "behavior/node.h"

namespace behavior {

namespace detail {
class ClusterImpl;
}

struct RedisOptions;

struct ClusterOptions {
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  std::string redis_password;       // AUTH; from env/config, never the repo
  // Sentinel (docs/configuration.md): when not empty, the primary is asked of these
  // ("host:port" each) by master name, and redis_host/redis_port are not used.
  std::vector<std::string> redis_sentinels;
  std::string redis_master_name;
  std::string redis_sentinel_password;  // AUTH to the sentinels
  std::string prefix = "behavior:";  // every Redis key starts with it
  // A request a client waits on (a login, an AUTH's ticket check) is answered "retry" when
  // Redis has not answered it in this long (a stalled Redis).
  int redis_timeout_ms = 2000;
  // A durable write-through save waits up to this long for one replica (Redis WAIT 1).
  // -1: 100 ms with Sentinel, 0 (no wait) with one Redis. docs/reliability.md.
  int redis_wait_ms = -1;
  std::string kind = "local";        // local | gateway | name
  std::string s2s_host = "127.0.0.1";
  int s2s_port = 0;                  // 0: a free port, published in Redis
  int s2s_pool = 2;                  // connections per peer
  // A link that brings nothing (not even a tick, sent every quarter of this when idle) for
  // this long is closed and redialed, as Erlang's net_ticktime: a silent partition, not a
  // TCP timeout minutes later. Dials and handshakes get the same deadline. 0 = never.
  Millis s2s_timeout{6000};
  size_t max_frame = 8u << 20;       // hard limit of one s2s frame
  std::string secret;                // the cluster secret (s2s handshake); required
  Millis heartbeat{1000};
  Millis ttl{3000};
  std::string metrics_host = "127.0.0.1";
  int metrics_port = -1;             // -1: no metrics port; 0: a free one
  // true: the network (s2s, Redis, /metrics) runs on worker 0's loop, which then handles
  // remote messages without a thread hop; false: on a thread of its own.
  bool io_on_worker = true;
  // Published with the registration as fields "a.<key>" (gateways: tcp, udp, ws addresses).
  std::map<std::string, std::string> attributes;
  // More Prometheus text for /metrics (the gateway's counters); called on the network loop.
  std::function<std::string()> extra_metrics;
  // Client connections held (gateways), read at each heartbeat for the registration: the
  // name server sends players to the gateway with the fewest. Called on the network loop.
  std::function<uint64_t()> connections;
  // Datagrams its UDP socket dropped so far, its receive queue full (gateways; a 32-bit
  // count that may wrap): the heartbeat publishes the rate as "udp_drops", for the name
  // server's overload rule. Called on the network loop.
  std::function<uint32_t()> udp_drops;
  // Hot update (docs/hot_update.md): reloads the kinds library at a path and calls `done`
  // (from any thread) with whether it runs now and the report as JSON. Set by local
  // servers; reached by proto::kReload from ctl and POST /v1/reload on the metrics port.
  std::function<void(const std::string& path, std::function<void(bool ok, std::string json)> done)> reload;
  // The bearer token for the metrics port's admin requests (POST /v1/reload); empty: they
  // are taken from loopback addresses only.
  std::string admin_token;

  // How to reach Redis, for a RedisClient of one's own (redis_client.h).
  RedisOptions redis() const;
};

// The kinds a node runs with their versions, as its registration publishes them (field
// "kinds", docs/cluster.md): "<name>:<version>" joined by ",", sorted by name, e.g.
// "room:1,user:2". In a name every byte outside [A-Za-z0-9_.-] is written %XX (so ',', ':'
// and '%' never appear raw); a version is a decimal from 1 to 4294967295. "" = no kinds.
using KindVersions = std::map<std::string, uint32_t>;
std::string format_kind_versions(const KindVersions& kinds);
// nullopt when `text` is malformed (a bad escape, an empty or repeated name, a version that
// is not a number in range): the caller treats the node's kinds as unknown.
std::optional<KindVersions> parse_kind_versions(std::string_view text);

struct ClusterNodeInfo {
  uint16_t id = 0;
  std::string kind;
  std::string s2s;      // host:port
  std::string metrics;  // host:port, "" if none
  std::string version;
  uint32_t capacity = 0;
  uint64_t live = 0;
  double load = 0;
  int64_t started_ms = 0;
  int64_t heartbeat_ms = 0;  // wall clock of the last heartbeat
  bool draining = false;
  uint64_t connections = 0;  // gateways: client connections
  // Its load over the last heartbeat interval (Membership::publish_load): the workers'
  // utilization 0..1, the process's CPU in cores, the network loop's worst lateness.
  double busy = 0;
  double cpu = 0;
  double lag_ms = 0;
  double udp_drops = 0;  // gateways: datagrams per second its UDP socket dropped (queue full)
  std::map<std::string, std::string> attributes;
  // The kinds it runs and their versions; nullopt when its registration has none (a binary
  // older than the field, or a malformed one): unknown, treated as able to run any kind.
  std::optional<KindVersions> kinds;

  // The version of `kind` that it runs: nullopt when it does not run it, 0 when its kinds
  // are unknown (eligible, ranked below any known version).
  std::optional<uint32_t> kind_version(const std::string& kind) const;

  // Sets one field of a node's registration hash (`<p>node:<id>`, docs/cluster.md) by its
  // name there; unknown names are ignored. What the cluster's view and ctl both read with.
  void set_field(const std::string& key, const std::string& value);
  // The node as one JSON object, the same wherever it is shown (the name server's
  // /v1/cluster, ctl --json): id kind s2s metrics version capacity processes connections
  // load busy cpu lag_ms udp_drops draining started_ms heartbeat_ms heartbeat_age_ms attributes kinds (an object
  // kind → version, null when unknown). `extra_members`,
  // already JSON ("\"alive\":true"), go first.
  std::string to_json(int64_t now_ms, std::string_view extra_members = {}) const;
};

// The cluster service every node runs at a well-known pid (Cluster::service_pid) answers
// the calls proto::kEnsure and proto::kLookup (ids.h).

class Cluster {
 public:
  Cluster(Node& node, ClusterOptions options);
  ~Cluster();  // stop()
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Listens (s2s, metrics), connects to Redis and starts the heartbeat. Start the node first.
  Status start();
  // Leaves the cluster gracefully (its names and registration removed at once).
  void stop();

  int s2s_port() const;
  int metrics_port() const;
  bool redis_connected() const;
  // Readiness, what /readyz answers (any thread): registered in Redis and the last heartbeat
  // went through promptly less than a TTL ago. False (with the reason) before the first
  // heartbeat and while Redis is unreachable, stalled or refusing this node's writes.
  // Liveness is /healthz: the process answers.
  bool ready(std::string* why = nullptr) const;
  HttpResponse readiness_response() const;  // 200 "ready", or 503 "not ready: <why>"
  // Blocks until ready() or `timeout`; false on timeout.
  bool wait_ready(Millis timeout) const;
  std::vector<ClusterNodeInfo> nodes() const;  // the cached view of live nodes

  // From a plain thread: the process named `name`, activated from `kind` on `on_node`
  // (0 = this node, or a node that runs a newer version of `kind` when this one runs an
  // older one) unless it already lives somewhere. One activation cluster-wide.
  Result<Pid> ensure(const std::string& name, const std::string& kind, uint16_t on_node = 0,
                     Pid writer = {}, Millis timeout = kDefaultCallTimeout);
  // Where `name` lives, from the directory.
  Result<Pid> lookup(const std::string& name, Millis timeout = kDefaultCallTimeout);
  std::string metrics_text() const;

  static Pid service_pid(uint16_t node);
  // `here`: activate it on the node asked, never passed on to a node with a newer version
  // of the kind (see the cluster service's ensure in cluster.cpp).
  static JsonMap ensure_request(const std::string& name, const std::string& kind, Pid writer = {}, bool here = false);

 private:
  Node& node_;
  std::unique_ptr<detail::ClusterImpl> impl_;
};

}  // namespace behavior
