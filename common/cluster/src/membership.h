// membership.h — who is in the cluster, seen from this node: its own registration and
// heartbeat (a Redis hash with a TTL), the view of the other nodes (refreshed each heartbeat
// and on "up" events), deciding that a node is dead (its hash expired, or it left the list
// for a whole TTL) and cleaning up after it, and fencing this node when it finds it was
// declared dead itself. Network loop only, but view() from any thread.
//
// Membership is judged only through a Redis that takes this node's own writes: when our
// heartbeat cannot be written (Redis down, stalled, or up but refusing writes), the peers'
// heartbeats fail the same way and a missing key proves nothing, so membership freezes
// until our heartbeats have gone through promptly for a whole TTL.
#pragma once

#include <behavior/cluster.h>
#include <behavior/redis_client.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace behavior::detail {

class Runtime;

class Membership {
 public:
  struct Hooks {
    // A peer is down (declared by us or another node, or left): fail what waits on it.
    std::function<void(uint16_t node, const Status& why)> node_down;
    // This node was declared dead while it could not heartbeat: drop what it held.
    std::function<void()> fenced;
    // A refresh of the view completed (messages held for unknown nodes may go now).
    std::function<void()> refreshed;
  };

  Membership(Runtime& rt, const ClusterOptions& options, Hooks hooks);
  void set_redis(RedisClient* redis) { redis_ = redis; }
  // What the registration publishes (set once the listeners have their ports).
  void set_addresses(std::string s2s, std::string metrics);

  void heartbeat();
  void refresh();
  // The network loop ran a timer `ms` late (ClusterImpl's lag probe): the worst since the
  // last heartbeat is published as "lag_ms".
  void note_loop_lag(double ms) { lag_max_ms_ = std::max(lag_max_ms_, ms); }
  // The events channel: "up <id>", "down <id>" (declared dead), "left <id>" (a graceful leave).
  void on_event(std::string_view message);
  // Removes node `id`'s registration and directory names (unless it registered again, when
  // not `force`), publishes "down" (or "left" for this node's own graceful leave), then
  // calls `done`.
  void cleanup_node(uint16_t id, bool force, std::function<void()> done);
  // This node leaves gracefully: no heartbeat goes out after its cleanup, and the answer of
  // one already sent is ignored (it would find the cleanup's mark and fence a node that left).
  void leave(std::function<void()> done);

  // Loop thread.
  const ClusterNodeInfo* find(uint16_t id) const;
  bool live(uint16_t id) const { return nodes_.count(id) > 0; }
  size_t size() const { return nodes_.size(); }
  uint64_t refreshes() const { return refreshes_; }
  bool frozen() const;
  uint64_t heartbeat_failures() const { return heartbeat_failures_; }
  int64_t last_heartbeat_ok_ms() const { return last_heartbeat_ok_ms_; }
  uint64_t nodes_down() const { return nodes_down_; }
  uint64_t nodes_left() const { return nodes_left_; }
  uint64_t fenced() const { return fenced_; }

  // Any thread.
  std::vector<ClusterNodeInfo> view() const;
  bool redis_connected() const { return redis_connected_; }
  // Readiness (/readyz): registered, the cluster's view read once (a name server can place
  // players), and the last heartbeat went through promptly less than a TTL ago. False before the first heartbeat, while Redis is unreachable, stalls (no
  // answer for a TTL) or refuses our writes. Why not, in words, when it is not.
  bool ready(std::string* why = nullptr) const;

 private:
  std::string key(std::string_view suffix) const { return options_.prefix + std::string(suffix); }
  std::string node_key(uint16_t id) const;
  std::string names_key(uint16_t id) const { return node_key(id) + ":names"; }
  // Set by the cleanup of a dead node, taken by that node's next heartbeat: proof it was fenced.
  std::string dead_key(uint16_t id) const { return key("dead:" + std::to_string(id)); }
  void heartbeat_trouble(const char* why);
  void apply_refresh(const std::map<uint16_t, ClusterNodeInfo>& fresh, const std::vector<uint16_t>& missing);
  void fence();
  // `id` is gone: out of the view, its processes' links and monitors fire. `graceful`: it
  // left (logged at info, counted as left), else it failed (a warning, counted as down).
  void node_down(uint16_t id, const std::string& why, bool graceful = false);

  Runtime& rt_;
  const ClusterOptions& options_;
  Hooks hooks_;
  RedisClient* redis_ = nullptr;
  std::string s2s_address_, metrics_address_;
  int64_t started_ms_;
  std::atomic<bool> redis_connected_{false};
  std::atomic<bool> heartbeat_good_{false};        // the last heartbeat went through promptly
  std::atomic<bool> have_view_{false};             // a refresh of the cluster's view completed
  std::atomic<int64_t> last_good_steady_ms_{0};    // when (steady clock)
  mutable std::mutex view_mu_;
  std::map<uint16_t, ClusterNodeInfo> view_;  // a copy of nodes_ for other threads
  std::map<uint16_t, ClusterNodeInfo> nodes_;
  std::map<uint16_t, int64_t> absent_since_;  // steady ms of the first refresh that missed it
  bool refreshing_ = false;
  bool refresh_again_ = false;  // an event came during a refresh: another one follows it
  uint64_t refreshes_ = 0;  // completed refreshes
  bool announced_ = false;
  bool draining_ = false;
  bool leaving_ = false;
  uint64_t heartbeats_ok_ = 0;
  int64_t last_heartbeat_ok_ms_ = 0;
  // What the heartbeat publishes about the node's load (busy, cpu, lag_ms; docs/cluster.md):
  // the counters at the previous heartbeat, and the loop's worst lag since.
  struct LoadSample {
    int64_t steady_ns = 0;
    uint64_t busy_ns = 0;
    int64_t cpu_ns = 0;
    uint32_t udp_drops = 0;
  };
  LoadSample load_prev_;
  double lag_max_ms_ = 0;
  void publish_load(const NodeStats& st, const std::function<void(const char*, std::string)>& field);
  int64_t heartbeat_trouble_ms_ = 0;  // steady ms of the last heartbeat Redis did not take
  uint64_t heartbeat_failures_ = 0;
  uint64_t nodes_down_ = 0;
  uint64_t nodes_left_ = 0;
  uint64_t fenced_ = 0;
};

}  // namespace behavior::detail
