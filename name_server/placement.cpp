// placement.cpp — see placement.h. When every eligible node is at or over capacity the
// weights fall back to the capacities themselves: capacity is a target, not a wall, and a
// login that can be served slowly beats one refused (the node's own idle policy then
// shortens lifetimes under pressure).
#include "placement.h"

#include <algorithm>

namespace behavior::name_server {

bool Placement::eligible(const NodeLoad& n, int64_t now_ms) const {
  return n.kind == "local" && !n.draining && n.capacity > 0 && now_ms - n.heartbeat_ms < fresh_ms_ &&
         n.kind_version.has_value();
}

Result<Placed> Placement::place(std::optional<uint16_t> sticky, const std::vector<NodeLoad>& nodes, int64_t now_ms) {
  if (sticky) {
    for (const auto& n : nodes) {
      if (n.id == *sticky && eligible(n, now_ms)) return Placed{n.id, Rule::kSticky};
    }
    // Its node is dead, stale or draining: fall through to 4 (KBEngine's failure mode).
  }
  struct Candidate {
    const NodeLoad* node;
    double free;
  };
  std::vector<Candidate> all;
  size_t overloaded = 0;
  for (const auto& n : nodes) {
    if (!eligible(n, now_ms)) continue;
    if (overload_.overloaded(n.busy, n.lag_ms)) {
      ++overloaded;
      continue;
    }
    Recent& r = recent_[n.id];
    if (r.heartbeat_ms != n.heartbeat_ms) r = Recent{n.heartbeat_ms, 0};  // fresh data counts them now
    all.push_back({&n, static_cast<double>(n.capacity) - static_cast<double>(n.live + r.count)});
  }
  bool any_free = false;
  for (const auto& c : all) any_free |= c.free > 0;
  // The newest version among the nodes with room (all of them when none has room) wins.
  uint32_t newest = 0;
  for (const auto& c : all) {
    if (!any_free || c.free > 0) newest = std::max(newest, *c.node->kind_version);
  }
  std::vector<const NodeLoad*> candidates;
  std::vector<double> free_weights, capacity_weights;
  for (const auto& c : all) {
    if ((any_free && c.free <= 0) || *c.node->kind_version != newest) continue;
    candidates.push_back(c.node);
    free_weights.push_back(c.free > 0 ? c.free : 0);
    capacity_weights.push_back(c.node->capacity);
  }
  if (candidates.empty() && overloaded > 0) {
    return Status::unavailable("overloaded: every node that could take the user is busy");
  }
  if (candidates.empty()) return Status::unavailable("no live node can take the user");
  auto& weights = any_free ? free_weights : capacity_weights;
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  const NodeLoad* chosen = candidates[pick(rng_)];
  ++recent_[chosen->id].count;
  return Placed{chosen->id, Rule::kBalanced};
}

}  // namespace behavior::name_server
