// placement_test.cpp — the 7+4 rule: shares follow free capacity (1000/2000/3000 → within
// 10% of 1/6, 2/6, 3/6 over 10k logins), sticky users go back to their node, dead, stale and
// draining nodes get nothing, and two name servers working from the same heartbeat do not
// herd onto one node.
#include <gtest/gtest.h>

#include <cmath>

#include "placement.h"

namespace behavior::name_server {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

std::vector<NodeLoad> three_nodes() {
  return {{1, "local", 1000, 0, false, kNow}, {2, "local", 2000, 0, false, kNow}, {3, "local", 3000, 0, false, kNow}};
}

TEST(Placement, SharesFollowFreeCapacity) {
  Placement p(42);
  auto nodes = three_nodes();
  std::map<uint16_t, int> count;
  for (int i = 0; i < 10000; ++i) {
    // Heartbeats every 100 logins report what was placed so far (the processes are alive).
    if (i % 100 == 0) {
      for (auto& n : nodes) {
        n.live = static_cast<uint64_t>(count[n.id]);
        n.heartbeat_ms = kNow + i;
      }
    }
    Result<Placed> r = p.place(std::nullopt, nodes, kNow + i);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->rule, Rule::kBalanced);
    ++count[r->node];
  }
  const double expected[] = {1.0 / 6, 2.0 / 6, 3.0 / 6};
  for (uint16_t id = 1; id <= 3; ++id) {
    double share = count[id] / 10000.0;
    EXPECT_LT(std::abs(share - expected[id - 1]) / expected[id - 1], 0.10) << "node " << id << " share " << share;
  }
}

TEST(Placement, PartlyFullNodesGetLessInProportionToWhatIsFree) {
  Placement p(7);
  std::vector<NodeLoad> nodes{{1, "local", 1000, 900, false, kNow}, {2, "local", 1000, 100, false, kNow}};
  int to_first = 0;
  for (int i = 0; i < 1000; ++i) {
    nodes[0].heartbeat_ms = nodes[1].heartbeat_ms = kNow + i;  // fresh data each time: no own counting
    to_first += p.place(std::nullopt, nodes, kNow + i)->node == 1;
  }
  EXPECT_NEAR(to_first / 1000.0, 100.0 / 1000.0, 0.03);  // free 100 vs 900
}

TEST(Placement, StickyUserGoesBackToALiveNode) {
  Placement p(1);
  Result<Placed> r = p.place(2, three_nodes(), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->node, 2);
  EXPECT_EQ(r->rule, Rule::kSticky);
}

TEST(Placement, StickyToADeadStaleOrDrainingNodeFallsThroughToBalanced) {
  Placement p(1);
  auto nodes = three_nodes();
  nodes[1].draining = true;  // node 2
  for (uint16_t sticky : {2, 9}) {  // draining; not in the list at all (dead)
    Result<Placed> r = p.place(sticky, nodes, kNow);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->rule, Rule::kBalanced);
    EXPECT_NE(r->node, 2);
  }
  nodes[1].draining = false;
  nodes[1].heartbeat_ms = kNow - 10'000;  // stale: may be dead
  Result<Placed> r = p.place(2, nodes, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->node, 2);
}

TEST(Placement, DrainingAndNonLocalNodesReceiveNone) {
  Placement p(3);
  auto nodes = three_nodes();
  nodes[2].draining = true;
  nodes.push_back({9, "gateway", 100000, 0, false, kNow});
  for (int i = 0; i < 2000; ++i) {
    uint16_t n = p.place(std::nullopt, nodes, kNow)->node;
    ASSERT_NE(n, 3);
    ASSERT_NE(n, 9);
  }
}

TEST(Placement, NoEligibleNodeIsUnavailable) {
  Placement p(3);
  auto nodes = three_nodes();
  for (auto& n : nodes) n.heartbeat_ms = kNow - 60'000;
  EXPECT_EQ(p.place(std::nullopt, nodes, kNow).status().code(), Code::kUnavailable);
  EXPECT_EQ(p.place(std::nullopt, {}, kNow).status().code(), Code::kUnavailable);
}

TEST(Placement, OwnPlacementsBetweenHeartbeatsPreventOverfilling) {
  // Between two heartbeats an empty node looks empty however many users it just got.
  // Node 1 has 100 free, node 2 has 10 free of 1000. Without counting its own placements
  // the name server would send ~91% of 200 logins (182) to node 1; counting them, node 1
  // fills to its 100 and the rest spread by capacity (1:10).
  Placement p(11);
  std::vector<NodeLoad> nodes{{1, "local", 100, 0, false, kNow}, {2, "local", 1000, 990, false, kNow}};
  int to_first = 0;
  for (int i = 0; i < 200; ++i) to_first += p.place(std::nullopt, nodes, kNow)->node == 1;
  EXPECT_GE(to_first, 95);
  EXPECT_LE(to_first, 120);
}

TEST(Placement, TwoNameServersWithTheSameDataDoNotBothPickTheEmptiestNode) {
  Placement a(100), b(200);
  std::vector<NodeLoad> nodes{{1, "local", 1000, 0, false, kNow}, {2, "local", 1000, 500, false, kNow}};
  int on_second = 0;
  for (int i = 0; i < 1000; ++i) {
    on_second += a.place(std::nullopt, nodes, kNow)->node == 2;
    on_second += b.place(std::nullopt, nodes, kNow)->node == 2;
  }
  // Weighted random, not "pick the max": the fuller node still gets its share.
  EXPECT_GT(on_second, 300);
}

}  // namespace
}  // namespace behavior::name_server
