// placement.h — the 7+4 rule of the name server. 7 (sticky): the user's process is alive on a
// live, fresh, non-draining node: go back there. 4 (balanced): otherwise pick a local node at
// random weighted by its free capacity (capacity − live processes, from heartbeats, minus
// what this name server placed there since that heartbeat), so several name servers working
// from the same heartbeats do not all herd onto the emptiest node.
//
// Load (issue 21): a node whose last heartbeat says it is overloaded (its workers busy past
// Overload::busy, or its network loop late past Overload::lag_ms) gets no new player while
// another eligible node is not; when all are, place() refuses (is_overloaded()) and the name
// server answers 503 with Retry-After. Sticky placement ignores load: the player's process
// lives there and another node could only make a second one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <behavior/status.h>

namespace behavior::name_server {

struct NodeLoad {
  uint16_t id = 0;
  std::string kind = "local";
  uint32_t capacity = 0;
  uint64_t live = 0;
  bool draining = false;
  int64_t heartbeat_ms = 0;  // wall clock of the node's last heartbeat
  // The version of the placed kind ("user") it runs, from its registration's kinds:
  // nullopt = it does not run the kind (not eligible); 0 = its kinds are unknown (a binary
  // that does not publish them: eligible, ranked below any known version).
  std::optional<uint32_t> kind_version = 0;
  double busy = 0;    // the workers' utilization 0..1 over its last heartbeat interval
  double lag_ms = 0;  // its network loop's worst lateness over that interval
};

// When a node counts as overloaded (0 disables a test). The defaults leave a margin for the
// bursts a heartbeat interval averages out: a node at 95% busy already queues work.
// A gateway also counts as overloaded while its UDP socket drops datagrams (udp_drops per
// second, its receive queue full): its UDP players already fall behind, though neither its
// workers nor its loop look busy.
struct Overload {
  double busy = 0.95;
  double lag_ms = 250;
  double udp_drops = 100;
  bool overloaded(double node_busy, double node_lag_ms, double node_udp_drops = 0) const {
    return (busy > 0 && node_busy >= busy) || (lag_ms > 0 && node_lag_ms >= lag_ms) ||
           (udp_drops > 0 && node_udp_drops >= udp_drops);
  }
};

// place()'s answer when every eligible node is overloaded (the message says so).
inline bool is_overloaded(const Status& s) { return s.code() == Code::kUnavailable && s.message().starts_with("overloaded"); }

enum class Rule : uint8_t { kSticky, kBalanced };

struct Placed {
  uint16_t node;
  Rule rule;
};

class Placement {
 public:
  // Heartbeats older than `fresh_ms` disqualify a node (it may be dead).
  explicit Placement(uint64_t seed = std::random_device{}(), int64_t fresh_ms = 3000, Overload overload = {})
      : rng_(seed), fresh_ms_(fresh_ms), overload_(overload) {}

  // `sticky`: the node the directory says the user's process lives on, if any.
  // kUnavailable when no local node is live, fresh and not draining; kUnavailable with
  // is_overloaded() when such nodes exist but all are overloaded.
  Result<Placed> place(std::optional<uint16_t> sticky, const std::vector<NodeLoad>& nodes, int64_t now_ms);

 private:
  bool eligible(const NodeLoad& n, int64_t now_ms) const;
  struct Recent {
    int64_t heartbeat_ms = 0;  // the heartbeat these placements came after
    uint64_t count = 0;
  };
  std::mt19937_64 rng_;
  int64_t fresh_ms_;
  Overload overload_;
  std::map<uint16_t, Recent> recent_;
};

}  // namespace behavior::name_server
