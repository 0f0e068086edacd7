// kind_versions_test.cpp — every node publishes the kinds it runs with their versions, and
// new activations prefer the newest version, on a whole local cluster (LocalCluster:
// redis-server, the name server, a gateway and two local servers as OS processes). The demo
// game's --kinds-opt user_version / room_version give the two local servers different
// versions: local_server-1 runs user v1 and room v2, local_server-2 user v2 and room v1.
#include <rapidjson/document.h>
#include <sys/wait.h>

#include <map>
#include <sstream>

#include "bot_summary.h"
#include "child_process.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "redis_server.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

const std::string kBot = std::string(BEHAVIOR_BIN_DIR) + "/bot";
const std::string kCtl = std::string(BEHAVIOR_BIN_DIR) + "/ctl";

class KindVersionsCluster : public LocalClusterTest {
 protected:
  void start_versioned() {
    tools::LocalClusterOptions o = options(1, 2);
    o.name_server_args = {"--login-rate", "0"};  // every bot logs in from 127.0.0.1
    o.local_server_args_of[1] = {"--kinds-opt", "room_version=2"};
    o.local_server_args_of[2] = {"--kinds-opt", "user_version=2"};
    start(std::move(o));
    if (HasFatalFailure()) return;
    node1_ = cluster_->node_id("local_server-1");
    node2_ = cluster_->node_id("local_server-2");
    // Both registrations carry their kinds from the first heartbeat on.
    ASSERT_TRUE(wait_until([&] { return kinds_of(node1_).size() == 2 && kinds_of(node2_).size() == 2; },
                           Millis(10000)))
        << cluster_->name_server_get("/v1/cluster");
  }

  // The node's kinds as /v1/cluster shows them ({} when absent or null).
  std::map<std::string, uint32_t> kinds_of(uint16_t node) {
    std::map<std::string, uint32_t> out;
    rapidjson::Document d;
    d.Parse(cluster_->name_server_get("/v1/cluster").c_str());
    if (!d.IsObject() || !d.HasMember("nodes")) return out;
    for (const auto& n : d["nodes"].GetArray()) {
      if (n["id"].GetUint() != node || !n["kinds"].IsObject()) continue;
      for (const auto& k : n["kinds"].GetObject()) out[k.name.GetString()] = k.value.GetUint();
    }
    return out;
  }

  std::string ctl(const std::vector<std::string>& args) {
    std::vector<std::string> all = args;
    all.insert(all.end(), {"--redis", cluster_->redis_address(), "--redis-prefix", cluster_->redis_prefix(),
                           "--cluster-secret", cluster_->secret()});
    ChildProcess p;
    EXPECT_TRUE(p.start(kCtl, all));
    const int status = p.wait_exit(Millis(30000));
    EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << p.output();
    return p.output();
  }

  // Directory entries whose name starts with `prefix` ("user/", "room/") → the node each lives on.
  std::map<std::string, uint16_t> directory(const std::string& prefix) {
    std::map<std::string, uint16_t> out;
    const std::string dir = cluster_->redis_prefix() + "dir:";
    std::istringstream keys(redis_command(redis_port(), "", {"KEYS", dir + prefix + "*"}));
    for (std::string key; std::getline(keys, key);) {
      const std::string value = redis_command(redis_port(), "", {"GET", key});
      if (!value.empty()) out[key.substr(dir.size())] = static_cast<uint16_t>(std::atoi(value.c_str()));
    }
    return out;
  }

  uint16_t node1_ = 0, node2_ = 0;
};

TEST_F(KindVersionsCluster, ClusterJsonCtlAndMetricsShowEachNodesKindsAndVersions) {
  start_versioned();
  if (HasFatalFailure()) return;
  EXPECT_EQ(kinds_of(node1_), (std::map<std::string, uint32_t>{{"room", 2}, {"user", 1}}));
  EXPECT_EQ(kinds_of(node2_), (std::map<std::string, uint32_t>{{"room", 1}, {"user", 2}}));

  // The registration hash itself holds the published format.
  EXPECT_EQ(redis_command(redis_port(), "", {"HGET", cluster_->redis_prefix() + "node:" + std::to_string(node1_), "kinds"}),
            "room:2,user:1");

  const std::string table = ctl({"nodes"});
  EXPECT_NE(table.find("KINDS"), std::string::npos) << table;
  EXPECT_NE(table.find("room:2 user:1"), std::string::npos) << table;
  EXPECT_NE(table.find("room:1 user:2"), std::string::npos) << table;

  const std::string json = ctl({"nodes", "--json"});
  rapidjson::Document d;
  d.Parse(json.c_str());
  ASSERT_TRUE(d.IsObject() && d.HasMember("nodes")) << json;
  int seen = 0;
  for (const auto& n : d["nodes"].GetArray()) {
    if (n["id"].GetUint() == node2_) {
      ASSERT_TRUE(n["kinds"].IsObject()) << json;
      EXPECT_EQ(n["kinds"]["user"].GetUint(), 2u);
      EXPECT_EQ(n["kinds"]["room"].GetUint(), 1u);
      ++seen;
    }
  }
  EXPECT_EQ(seen, 1) << json;

  const std::string metrics = metrics_of(node2_);
  ASSERT_FALSE(metrics.empty());
  const std::string text = http_get(std::atoi(metrics.substr(metrics.rfind(':') + 1).c_str()), "/metrics");
  EXPECT_NE(text.find("behavior_kind_version{node=\"" + std::to_string(node2_) + "\",kind=\"user\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("behavior_kind_version{node=\"" + std::to_string(node2_) + "\",kind=\"room\"} 1"),
            std::string::npos)
      << text;
}

TEST_F(KindVersionsCluster, NewPlayersLandOnTheNodeWithTheNewestUserAndTheirRoomsOnTheNodeWithTheNewestRoom) {
  start_versioned();
  if (HasFatalFailure()) return;
  constexpr int kPlayers = 12;
  constexpr int kRooms = 3;
  ChildProcess bot;
  ASSERT_TRUE(bot.start(kBot, {"--name-server", cluster_->name_server_url(), "--players", std::to_string(kPlayers),
                               "--duration", "30", "--transports", "tcp,ws", "--rooms", std::to_string(kRooms),
                               "--rate", "5", "--drain", "2", "--json", "--progress", "--user-prefix", "kv"}));
  const std::string all_in = "in room " + std::to_string(kPlayers) + "/" + std::to_string(kPlayers);
  ASSERT_TRUE(bot.wait_for_output(all_in, Millis(60000))) << bot.output();

  // Every player's process was placed on node 2 (user v2) by the name server...
  const auto users = directory("user/");
  EXPECT_EQ(users.size(), static_cast<size_t>(kPlayers));
  for (const auto& [name, node] : users) EXPECT_EQ(node, node2_) << name;
  // ... and every room its players asked node 2 for went to node 1 (room v2), once each.
  const auto rooms = directory("room/");
  EXPECT_EQ(rooms.size(), static_cast<size_t>(kRooms));
  for (const auto& [name, node] : rooms) EXPECT_EQ(node, node1_) << name;

  rapidjson::Document d;
  std::string output;
  finish_bot(bot, &d, &output);
  if (HasFatalFailure()) return;
  EXPECT_EQ(field(d, "errors"), 0u) << output;
  EXPECT_EQ(field(d, "joins"), static_cast<uint64_t>(kPlayers)) << output;

  // Node 2 passed its rooms on (its counter), node 1 had nothing to pass on.
  const std::string m2 = metrics_of(node2_);
  const std::string text = http_get(std::atoi(m2.substr(m2.rfind(':') + 1).c_str()), "/metrics");
  EXPECT_NE(text.find("behavior_cluster_ensures_passed_on_total{node=\"" + std::to_string(node2_) + "\"} "),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("behavior_cluster_ensures_passed_on_total{node=\"" + std::to_string(node2_) + "\"} 0\n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace behavior::testing
