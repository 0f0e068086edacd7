// node_id_test.cpp — --node-id 0 / auto: node ids taken from Redis (allocate_node_id) are
// distinct, skip live and claimed ids, wrap around, honour AUTH, and let scaled-out
// local_server processes (the same flags for each, as docker-compose --scale runs them) join
// one cluster.
#include <behavior/node_flags.h>

#include <set>

#include "cluster_fixture.h"

namespace behavior::testing {
namespace {

ClusterOptions options_for(const RedisServer& redis, const std::string& prefix, const std::string& password = "") {
  ClusterOptions o;
  o.redis_port = redis.port();
  o.prefix = prefix;
  o.redis_password = password;
  return o;
}

class NodeIdTest : public ClusterTest {};

TEST_F(NodeIdTest, AllocatedIdsAreDistinctAndClaimed) {
  ClusterOptions o = options_for(redis_, prefix_);
  std::set<uint16_t> ids;
  for (int i = 0; i < 20; ++i) {
    Result<uint16_t> id = allocate_node_id(o);
    ASSERT_TRUE(id.ok()) << id.status().to_string();
    EXPECT_GE(*id, kFirstAutoNodeId);
    ids.insert(*id);
    std::string pttl = redis_.command({"PTTL", key("node_claim:" + std::to_string(*id))});
    EXPECT_GT(std::stoll(pttl), 0) << pttl;
  }
  EXPECT_EQ(ids.size(), 20u);
}

TEST_F(NodeIdTest, SkipsLiveNodesAndClaimsAndWraps) {
  ClusterOptions o = options_for(redis_, prefix_);
  // The next candidates are 65535, then (wrapping) 1024, 1025, 1026: 65535 is a live
  // node's registration, 1024 is claimed by a node still starting.
  redis_.command({"SET", key("node_seq"), std::to_string(65535 - kFirstAutoNodeId)});
  redis_.command({"HSET", key("node:65535"), "kind", "local"});
  redis_.command({"SET", key("node_claim:1024"), "1", "PX", "60000"});
  Result<uint16_t> id = allocate_node_id(o);
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  EXPECT_EQ(*id, 1025);
  id = allocate_node_id(o);
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  EXPECT_EQ(*id, 1026);
}

TEST(NodeIdAuth, UsesThePasswordAndFailsFastWithoutIt) {
  RedisServer redis("node-id-secret");
  ASSERT_TRUE(redis.start());
  std::string prefix = "t" + std::to_string(::getpid()) + ":";
  Result<uint16_t> id = allocate_node_id(options_for(redis, prefix, "node-id-secret"));
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  EXPECT_GE(*id, kFirstAutoNodeId);
  Result<uint16_t> refused = allocate_node_id(options_for(redis, prefix, "wrong"), Millis(60000));
  EXPECT_EQ(refused.status().code(), Code::kUnauthenticated) << refused.status().to_string();
  redis.stop();
}

TEST(NodeIdUnreachable, GivesUpAfterTheWait) {
  ClusterOptions o;
  o.redis_port = free_port();
  Result<uint16_t> id = allocate_node_id(o, Millis(300));
  EXPECT_EQ(id.status().code(), Code::kUnavailable) << id.status().to_string();
}

TEST(NodeIdFlags, AutoMeansZeroAndNeedsRedis) {
  ServerFlags flags;
  CLI::App app;
  add_server_flags(app, flags);
  const char* argv[] = {"server", "--node-id", "auto"};
  ASSERT_NO_THROW(app.parse(3, const_cast<char**>(argv)));
  EXPECT_EQ(flags.node.node_id, 0);
  std::string error;
  EXPECT_FALSE(flags.finish(&error));
  EXPECT_NE(error.find("needs --redis"), std::string::npos) << error;
}

TEST_F(NodeIdTest, ScaledOutServersWithTheSameFlagsJoinWithDistinctIds) {
  for (int i = 0; i < 3; ++i) start_server(0);  // --node-id 0, as every replica of a scaled service
  start_test_node();
  ASSERT_TRUE(wait_for_nodes(4)) << "the test node does not see all nodes";
  std::set<uint16_t> ids;
  for (auto& n : cluster_->nodes()) {
    if (n.id != kTestNode) ids.insert(n.id);
  }
  ASSERT_EQ(ids.size(), 3u);
  for (uint16_t id : ids) {
    EXPECT_GE(id, kFirstAutoNodeId);
    // Each one works: a process ensured there answers.
    Result<Pid> pid = cluster_->ensure("user/on" + std::to_string(id), "user", id);
    ASSERT_TRUE(pid.ok()) << pid.status().to_string();
    EXPECT_EQ(pid->node(), id);
    Reply r = probe_->call(*pid, kEcho, std::string("hi"));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }
}

}  // namespace
}  // namespace behavior::testing
