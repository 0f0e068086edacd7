// reload_test.cpp — hot update of the demo game's kinds library in running local servers
// (LocalCluster: redis-server, name server, two gateways, two local servers as OS processes)
// while bots play over TCP, WebSocket and UDP. `ctl reload NODE lib/libbehavior_demo_game_v2.so`
// moves every live player and room to version 2 in place: each bot's PONGs say version 2
// from then on (and carry the level v2 derives from v1's score), nobody is disconnected or
// has to join again, and no acknowledged message is lost, reordered or duplicated. Broken
// libraries (one that cannot load; one that would abort the server as it loads; a v3 whose
// upgrade_state throws for some players) are
// refused or rolled back with the players playing on. BEHAVIOR_RELOAD_BOTS sets the
// players (CI: 90, 24 under TSan; the full run: 300, docs/hot_update.md).
#include <signal.h>

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
const std::string kLibDir = std::string(BEHAVIOR_BIN_DIR) + "/../lib";

class Reload : public LocalClusterTest {
 protected:
  // A cluster of two local servers running the demo game v1, and bots playing on it.
  void start_playing(const std::string& prefix) {
    tools::LocalClusterOptions o = options(2, 2);
    o.name_server_args = {"--login-rate", "0"};  // every bot logs in from 127.0.0.1
    start(std::move(o));
    if (HasFatalFailure()) return;
    players_ = players_from_env("BEHAVIOR_RELOAD_BOTS");
    start_playing_bots(bot_, kBot, cluster_->name_server_url(), players_, prefix, 120);
  }

  // ctl reload; its exit code and output (the JSON report).
  int reload(uint16_t node, const std::string& path, std::string* output) {
    ChildProcess ctl;
    EXPECT_TRUE(ctl.start(kCtl, {"reload", std::to_string(node), path, "--json", "--redis", cluster_->redis_address(),
                                 "--redis-prefix", cluster_->redis_prefix(), "--cluster-secret", cluster_->secret()}));
    const int status = ctl.wait_exit(Millis(120000));
    *output = ctl.output();
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  static rapidjson::Document report(const std::string& output) {
    rapidjson::Document d;
    const size_t at = output.find('{');
    d.Parse(at == std::string::npos ? "{}" : output.substr(at).c_str());
    return d;
  }

  // Plays on a little, then ends the bots and checks that nobody noticed anything.
  void finish_and_check(rapidjson::Document* d, std::string* output) {
    const size_t at = bot_.output().size();
    ASSERT_TRUE(wait_until([&] { return bot_.output().size() > at + 200; }, Millis(10000)));
    std::this_thread::sleep_for(Millis(3000));
    finish_bot(bot_, d, output);
    if (HasFatalFailure()) return;
    expect_nothing_noticed(*d, *output, players_);
  }

  ChildProcess bot_;
  int players_ = 0;
};

TEST_F(Reload, ReloadingV2UnderBotsMovesEveryPlayerToV2AndLosesNothing) {
  start_playing("hot");
  if (HasFatalFailure()) return;
  uint64_t upgraded = 0;
  for (const char* server : {"local_server-1", "local_server-2"}) {
    const uint16_t node = cluster_->node_id(server);
    std::string out;
    ASSERT_EQ(reload(node, kLibDir + "/libbehavior_demo_game_v2.so", &out), 0) << out;
    rapidjson::Document r = report(out);
    ASSERT_TRUE(r.IsObject() && r.HasMember("ok")) << out;
    EXPECT_TRUE(r["ok"].GetBool()) << out;
    EXPECT_EQ(field(r, "failed"), 0u) << out;
    EXPECT_EQ(field(r, "busy"), 0u) << out;
    EXPECT_STREQ(r["replaced"].GetString(), (kLibDir + "/libbehavior_demo_game.so").c_str()) << out;
    upgraded += field(r, "upgraded");
    std::printf("[ measured ] node %u: %llu processes upgraded in %.3f s, longest pause %.2f ms\n", node,
                static_cast<unsigned long long>(field(r, "upgraded")), r["seconds"].GetDouble(),
                r["longest_slice_ms"].GetDouble());
  }
  // Every player and every room that lives (the players' rooms: 6).
  EXPECT_GE(upgraded, static_cast<uint64_t>(players_ + 6));
  // The same library again (its path runs now): refused, nothing changes.
  std::string again;
  EXPECT_EQ(reload(cluster_->node_id("local_server-1"), kLibDir + "/libbehavior_demo_game_v2.so", &again), 1);
  EXPECT_NE(again.find("a library loaded from this path is running"), std::string::npos) << again;

  rapidjson::Document d;
  std::string output;
  finish_and_check(&d, &output);
  if (HasFatalFailure()) return;
  // Every player's last PONG came from version 2, and none from v1 after a v2 one.
  ASSERT_TRUE(d.HasMember("players_by_code_version")) << output;
  EXPECT_EQ(field(d["players_by_code_version"], "2"), static_cast<uint64_t>(players_)) << output;
  EXPECT_EQ(field(d, "code_version_regressions"), 0u) << output;
}

TEST_F(Reload, BrokenLibrariesAreRefusedOrRolledBackWhilePlayersPlayOn) {
  start_playing("broken");
  if (HasFatalFailure()) return;
  const uint16_t node = cluster_->node_id("local_server-1");
  // Cannot load (an undefined symbol): refused before anything of it runs.
  std::string out;
  EXPECT_EQ(reload(node, kLibDir + "/libtest_unloadable.so", &out), 1) << out;
  EXPECT_NE(out.find("cannot load kinds library"), std::string::npos) << out;
  // Not there at all.
  EXPECT_EQ(reload(node, kLibDir + "/libno_such_game.so", &out), 1) << out;
  EXPECT_NE(out.find("cannot load kinds library"), std::string::npos) << out;
  // v3 loads, but its upgrade_state throws for a third of the players: the whole reload is
  // rolled back, everyone back on v1.
  ASSERT_EQ(reload(node, kLibDir + "/libtest_game_v3_throws.so", &out), 1) << out;
  rapidjson::Document r = report(out);
  ASSERT_TRUE(r.IsObject() && r.HasMember("rolled_back")) << out;
  EXPECT_TRUE(r["rolled_back"].GetBool()) << out;
  EXPECT_GT(field(r, "failed"), 0u) << out;
  EXPECT_EQ(field(r, "restored"), field(r, "upgraded")) << out;  // each one that moved, moved back
  EXPECT_NE(out.find("v3 cannot upgrade this player"), std::string::npos) << out;
  std::printf("[ measured ] v3 rolled back: %llu upgraded, %llu failed, %llu restored in %.3f s\n",
              static_cast<unsigned long long>(field(r, "upgraded")), static_cast<unsigned long long>(field(r, "failed")),
              static_cast<unsigned long long>(field(r, "restored")), r["seconds"].GetDouble());
  // The node is still ready and runs v1: a v2 reload afterwards works.
  ASSERT_EQ(reload(node, kLibDir + "/libbehavior_demo_game_v2.so", &out), 0) << out;

  rapidjson::Document d;
  std::string output;
  finish_and_check(&d, &output);
  if (HasFatalFailure()) return;
  // The players of node 1 ended on v2, those of node 2 on v1; nobody on v3.
  auto players_on = [&](const char* version) {
    const rapidjson::Value& by = d["players_by_code_version"];
    return by.HasMember(version) ? by[version].GetUint64() : 0;
  };
  EXPECT_EQ(players_on("1") + players_on("2"), static_cast<uint64_t>(players_))
      << output;
  EXPECT_FALSE(d["players_by_code_version"].HasMember("3")) << output;
}

// POST /v1/reload on a node's metrics port: refused without the admin token or with a wrong
// one (401) and without a path (400), each with nothing changed; with both, the same report
// as ctl's, and the node runs v2.
TEST_F(Reload, TheAdminEndpointWantsTheTokenAndAPathAndAnswersWithTheReport) {
  tools::LocalClusterOptions o = options(1, 1);
  o.local_server_args = {"--admin-token", "hot-update-token"};
  start(std::move(o));
  if (HasFatalFailure()) return;
  const uint16_t node = cluster_->node_id("local_server-1");
  std::string metrics;
  ASSERT_TRUE(wait_until([&] { return !(metrics = metrics_of(node)).empty(); }, Millis(10000)));
  HttpClient http(std::stoi(metrics.substr(metrics.rfind(':') + 1)));
  ASSERT_TRUE(http.connected());
  const std::string v2 = kLibDir + "/libbehavior_demo_game_v2.so";
  EXPECT_EQ(http.request("POST", "/v1/reload", v2).status, 401);
  EXPECT_EQ(http.request("POST", "/v1/reload", v2, "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(http.request("POST", "/v1/reload", "\n", "Authorization: Bearer hot-update-token\r\n").status, 400);
  HttpReply bad = http.request("POST", "/v1/reload", kLibDir + "/libno_such_game.so",
                               "Authorization: Bearer hot-update-token\r\n");
  EXPECT_EQ(bad.status, 409);
  EXPECT_NE(bad.body.find("cannot load kinds library"), std::string::npos) << bad.body;
  HttpReply ok = http.request("POST", "/v1/reload", v2 + "\n", "Authorization: Bearer hot-update-token\r\n");
  ASSERT_EQ(ok.status, 200) << ok.body;
  rapidjson::Document r = report(ok.body);
  ASSERT_TRUE(r.IsObject() && r.HasMember("ok")) << ok.body;
  EXPECT_TRUE(r["ok"].GetBool());
  EXPECT_STREQ(r["library"].GetString(), v2.c_str());
  EXPECT_EQ(r["kinds"][0]["version"].GetUint(), 2u) << ok.body;
}

// Both versions carry registered.proto (full protobuf runtime): loading v2 in the server would
// abort it (a .proto file registered twice). The probe process takes the abort; the reload is
// refused and the server, with its player, plays on.
TEST_F(Reload, ALibraryThatWouldAbortTheServerAsItLoadsIsRefusedByTheProbe) {
  tools::LocalClusterOptions o = options(1, 1);
  o.kinds_libs = {kLibDir + "/libtest_full_proto_v1.so"};
  start(std::move(o));
  if (HasFatalFailure()) return;
  players_ = 6;
  start_playing_bots(bot_, kBot, cluster_->name_server_url(), players_, "probe", 60);
  if (HasFatalFailure()) return;
  const uint16_t node = cluster_->node_id("local_server-1");
  std::string out;
  EXPECT_EQ(reload(node, kLibDir + "/libtest_full_proto_v2.so", &out), 1) << out;
  EXPECT_NE(out.find("killed a test process (signal 6)"), std::string::npos) << out;
  EXPECT_NE(out.find("registered.proto"), std::string::npos) << out;  // the probe's own words
  rapidjson::Document d;
  std::string output;
  finish_and_check(&d, &output);
}

}  // namespace
}  // namespace behavior::testing
