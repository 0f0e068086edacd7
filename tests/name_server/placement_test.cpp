// placement_test.cpp — the 7+4 rule: shares follow free capacity (1000/2000/3000 → within
// 10% of 1/6, 2/6, 3/6 over 10k logins), sticky users go back to their node, dead, stale and
// draining nodes get nothing, and two name servers working from the same heartbeat do not
// herd onto one node. Versions: new users go to the nodes running the newest version of the
// user's kind while they have room, never to a node that does not run it, and a node whose
// kinds are unknown (an older binary) still takes users.
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

// Versions of the user's kind: kind_version is the last member of NodeLoad.
NodeLoad versioned(uint16_t id, uint32_t capacity, uint64_t live, std::optional<uint32_t> version) {
  NodeLoad n{id, "local", capacity, live, false, kNow};
  n.kind_version = version;
  return n;
}

TEST(PlacementVersions, NewUsersAllGoToTheNodesWithTheNewestVersionWhileTheyHaveRoom) {
  Placement p(5);
  // Node 3 runs v2 with the least free capacity: the version wins over free capacity.
  std::vector<NodeLoad> nodes{versioned(1, 1000, 0, 1), versioned(2, 1000, 0, 1), versioned(3, 1000, 900, 2),
                              versioned(4, 1000, 950, 2)};
  std::map<uint16_t, int> count;
  for (int i = 0; i < 100; ++i) ++count[p.place(std::nullopt, nodes, kNow)->node];
  EXPECT_EQ(count[1] + count[2], 0);
  EXPECT_EQ(count[3] + count[4], 100);
  // Within the newest version the existing rule applies: free capacity (100 vs 50).
  EXPECT_GT(count[3], count[4]);
}

TEST(PlacementVersions, WhenTheNewestVersionIsFullUsersGoToAnOlderOneThatHasRoom) {
  Placement p(6);
  std::vector<NodeLoad> nodes{versioned(1, 1000, 0, 1), versioned(2, 10, 0, 2)};
  std::map<uint16_t, int> count;
  for (int i = 0; i < 30; ++i) ++count[p.place(std::nullopt, nodes, kNow)->node];  // one heartbeat
  EXPECT_EQ(count[2], 10);  // filled to its capacity by this name server's own count
  EXPECT_EQ(count[1], 20);
}

TEST(PlacementVersions, WhenEveryNodeIsFullTheNewestVersionStillWins) {
  Placement p(7);
  std::vector<NodeLoad> nodes{versioned(1, 100, 100, 1), versioned(2, 100, 150, 3)};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(p.place(std::nullopt, nodes, kNow)->node, 2);
}

TEST(PlacementVersions, ANodeThatDoesNotRunTheKindGetsNoUserEvenWhenItIsStickyOrEmptiest) {
  Placement p(8);
  std::vector<NodeLoad> nodes{versioned(1, 100000, 0, std::nullopt), versioned(2, 10, 9, 1)};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(p.place(std::nullopt, nodes, kNow)->node, 2);
  Result<Placed> sticky = p.place(1, nodes, kNow);
  ASSERT_TRUE(sticky.ok());
  EXPECT_EQ(sticky->node, 2);
  EXPECT_EQ(sticky->rule, Rule::kBalanced);
  EXPECT_EQ(p.place(std::nullopt, {versioned(1, 100, 0, std::nullopt)}, kNow).status().code(), Code::kUnavailable);
}

TEST(PlacementVersions, NodesWithUnknownKindsTakeUsersButRankBelowAnyKnownVersion) {
  Placement p(9);
  // Old binaries only (version 0 = unknown): the plain rule, as before versions existed.
  std::vector<NodeLoad> old{versioned(1, 1000, 0, 0), versioned(2, 1000, 0, 0)};
  std::map<uint16_t, int> count;
  for (int i = 0; i < 200; ++i) ++count[p.place(std::nullopt, old, kNow)->node];
  EXPECT_GT(count[1], 50);
  EXPECT_GT(count[2], 50);
  // A new binary joins (v1): it takes the new users while it has room.
  std::vector<NodeLoad> mixed{versioned(1, 1000, 0, 0), versioned(2, 1000, 0, 1)};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(p.place(std::nullopt, mixed, kNow)->node, 2);
}

TEST(PlacementVersions, AStickyUserGoesBackToItsNodeWhateverVersionItRuns) {
  Placement p(10);
  std::vector<NodeLoad> nodes{versioned(1, 1000, 0, 1), versioned(2, 1000, 0, 2)};
  Result<Placed> r = p.place(1, nodes, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->node, 1);
  EXPECT_EQ(r->rule, Rule::kSticky);
}

// Load (issue 21): an overloaded node (busy workers or a late loop) gets no new user while
// another can take one; with all of them overloaded the answer says so (the name server's
// 503 + Retry-After); a sticky user still goes back to its process's node.
TEST(PlacementLoad, AnOverloadedNodeGetsNoNewUserWhileAnotherIsNot) {
  Placement p(11);
  auto nodes = three_nodes();
  nodes[2].busy = 0.97;    // the emptiest node, CPU-bound
  nodes[1].lag_ms = 400;   // its loop runs late
  for (int i = 0; i < 100; ++i) EXPECT_EQ(p.place(std::nullopt, nodes, kNow)->node, 1);
  nodes[0].busy = 0.99;
  Result<Placed> none = p.place(std::nullopt, nodes, kNow);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(is_overloaded(none.status())) << none.status().to_string();
  Result<Placed> sticky = p.place(3, nodes, kNow);
  ASSERT_TRUE(sticky.ok());
  EXPECT_EQ(sticky->node, 3);
  EXPECT_EQ(sticky->rule, Rule::kSticky);
  // A node that was only dead or draining is not "overloaded": the plain refusal.
  EXPECT_FALSE(is_overloaded(p.place(std::nullopt, {}, kNow).status()));
}

TEST(PlacementLoad, ZeroThresholdsTurnTheLoadRuleOff) {
  Placement p(12, 3000, Overload{0, 0});
  auto nodes = three_nodes();
  for (auto& n : nodes) {
    n.busy = 1.0;
    n.lag_ms = 10000;
  }
  EXPECT_TRUE(p.place(std::nullopt, nodes, kNow).ok());
}

// A gateway's UDP socket dropping datagrams (its receive queue full) overloads it by itself,
// however idle its workers and its loop look; 0 turns that test off.
TEST(PlacementLoad, AGatewayWhoseUdpSocketDropsIsOverloadedUnlessTheTestIsOff) {
  const Overload o;
  EXPECT_FALSE(o.overloaded(0.1, 5, 0));
  EXPECT_FALSE(o.overloaded(0.1, 5, o.udp_drops - 1));
  EXPECT_TRUE(o.overloaded(0.1, 5, o.udp_drops));
  EXPECT_FALSE((Overload{0.95, 250, 0}).overloaded(0.1, 5, 1e6));
}

}  // namespace
}  // namespace behavior::name_server
