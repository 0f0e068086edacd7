// placement.h — the 7+4 rule of the name server. 7 (sticky): the user's process is alive on a
// live, fresh, non-draining node: go back there. 4 (balanced): otherwise pick a local node at
// random weighted by its free capacity (capacity − live processes, from heartbeats, minus
// what this name server placed there since that heartbeat), so several name servers working
// from the same heartbeats do not all herd onto the emptiest node.
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
};

enum class Rule : uint8_t { kSticky, kBalanced };

struct Placed {
  uint16_t node;
  Rule rule;
};

class Placement {
 public:
  // Heartbeats older than `fresh_ms` disqualify a node (it may be dead).
  explicit Placement(uint64_t seed = std::random_device{}(), int64_t fresh_ms = 3000)
      : rng_(seed), fresh_ms_(fresh_ms) {}

  // `sticky`: the node the directory says the user's process lives on, if any.
  // kUnavailable when no local node is live, fresh and not draining.
  Result<Placed> place(std::optional<uint16_t> sticky, const std::vector<NodeLoad>& nodes, int64_t now_ms);

 private:
  bool eligible(const NodeLoad& n, int64_t now_ms) const;
  struct Recent {
    int64_t heartbeat_ms = 0;  // the heartbeat these placements came after
    uint64_t count = 0;
  };
  std::mt19937_64 rng_;
  int64_t fresh_ms_;
  std::map<uint16_t, Recent> recent_;
};

}  // namespace behavior::name_server
