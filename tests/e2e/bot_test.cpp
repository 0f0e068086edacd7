// bot_test.cpp — the bot (build/bin/bot) as a separate OS process against a whole local
// cluster (LocalCluster): a clean run passes with its checks, a broken cluster makes it fail.
#include <behavior/options.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <regex>

#include "bot_summary.h"
#include "child_process.h"
#include "local_cluster.h"
#include "net_util.h"

namespace behavior::testing {
namespace {

const std::string kBot = std::string(BEHAVIOR_BIN_DIR) + "/bot";

struct BotRun {
  int exit_code = -1;  // -1: did not exit in time (killed)
  std::string output;  // stdout and stderr together
};

BotRun run_bot(std::vector<std::string> args, Millis deadline = Millis(90000)) {
  args.push_back("--no-progress");
  ChildProcess bot;
  BotRun r;
  if (!bot.start(kBot, args)) return r;
  const int status = bot.wait_exit(deadline);
  r.output = bot.output();
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

class BotTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tools::LocalClusterOptions o;
    o.bin_dir = BEHAVIOR_BIN_DIR;
    // Every bot logs in from 127.0.0.1: lift the name server's per-address limit (the bot
    // copes with it, but the tests count logins exactly).
    o.name_server_args = {"--login-rate", "0"};
    cluster_ = new tools::LocalCluster(o);
    Status s = cluster_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  static void TearDownTestSuite() {
    if (!cluster_) return;
    cluster_->stop();
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  static tools::LocalCluster* cluster_;
};

tools::LocalCluster* BotTest::cluster_ = nullptr;

TEST_F(BotTest, AllTransportsWithReconnectsPass) {
  BotRun r = run_bot({"--name-server", cluster_->name_server_url(), "--players", "24", "--duration", "6",
                      "--transports", "tcp,ws,udp", "--rooms", "3", "--rate", "10", "--reconnects", "1",
                      "--user-prefix", "pass", "--seed", "11"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::regex summary(
      R"(\nbot summary: players=24 logins=48 gateway_reconnects=0 msgs_sent=[1-9]\d* msgs_received=[1-9]\d* lost=0 reordered=0 )"
      R"(duplicated=0 state_violations=0 errors=0 result=PASS\n)");
  EXPECT_TRUE(std::regex_search(r.output, summary)) << r.output;
  // Every reconnect found the player's process again.
  EXPECT_NE(r.output.find("24 deliberate, 24 found the same user process again"), std::string::npos) << r.output;
}

TEST_F(BotTest, JsonSummaryCountsEveryStream) {
  BotRun r = run_bot({"--name-server", cluster_->name_server_url(), "--players", "9", "--duration", "5",
                      "--transports", "udp,tcp,ws", "--rooms", "1", "--rate", "20", "--reconnects", "2",
                      "--user-prefix", "json", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  rapidjson::Document d;
  ASSERT_TRUE(parse_summary(r.output, &d)) << r.output;
  EXPECT_STREQ(d["result"].GetString(), "PASS");
  EXPECT_EQ(field(d, "players"), 9u);
  EXPECT_EQ(field(d["transports"], "tcp"), 3u);
  EXPECT_EQ(field(d["transports"], "ws"), 3u);
  EXPECT_EQ(field(d["transports"], "udp"), 3u);
  EXPECT_EQ(field(d, "logins"), 27u);  // one and two more per player
  EXPECT_EQ(field(d, "reconnects"), 18u);
  EXPECT_EQ(field(d, "same_process"), 18u);
  EXPECT_EQ(field(d, "lost"), 0u);
  EXPECT_EQ(field(d, "reordered"), 0u);
  EXPECT_EQ(field(d, "duplicated"), 0u);
  EXPECT_EQ(field(d, "errors"), 0u);
  for (const char* stream : {"chat", "pong", "position_reliable"}) {
    const rapidjson::Value& s = d[stream];
    EXPECT_GT(field(s, "delivered"), 0u) << stream;
    // Each message came back, or was in flight at a deliberate reconnect.
    EXPECT_EQ(field(s, "sent"), field(s, "delivered") + field(s, "abandoned_by_reconnect")) << stream;
  }
  EXPECT_GT(field(d["others_chat"], "checked"), 0u);
  EXPECT_GT(field(d["positions_unreliable"], "expected"), 0u);
  EXPECT_GT(field(d["chat_rtt_ms"], "samples"), 0u);
  EXPECT_GT(d["ping_rtt_ms"]["max"].GetDouble(), 0.0);
}

TEST_F(BotTest, NoNameServerMeansErrorsOverTheLimitAndExitOne) {
  const int nobody = free_port();  // nothing listens there
  BotRun r = run_bot({"--name-server", "http://127.0.0.1:" + std::to_string(nobody), "--players", "3",
                      "--duration", "1", "--drain", "0.5", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  rapidjson::Document d;
  ASSERT_TRUE(parse_summary(r.output, &d)) << r.output;
  EXPECT_STREQ(d["result"].GetString(), "FAIL");
  EXPECT_GT(field(d, "errors"), 0u);
  EXPECT_GE(field(d["errors_by_kind"], "login_failed"), 3u);
  EXPECT_EQ(field(d["errors_by_kind"], "never_joined"), 3u);
  EXPECT_EQ(field(d, "logins"), 0u);
  // The same run tolerated: errors within --max-errors pass (nothing was lost).
  BotRun tolerant = run_bot({"--name-server", "http://127.0.0.1:" + std::to_string(nobody), "--players", "1",
                             "--duration", "0.5", "--drain", "0", "--max-errors", "1000"});
  EXPECT_EQ(tolerant.exit_code, 0) << tolerant.output;
  EXPECT_NE(tolerant.output.find("result=PASS"), std::string::npos) << tolerant.output;
}

// Name servers are stateless: a bot given several logs in at the next when one is down.
TEST_F(BotTest, ALoginGoesToTheNextNameServerWhenOneIsDown) {
  const int nobody = free_port();  // nothing listens there
  BotRun r = run_bot({"--name-server", "http://127.0.0.1:" + std::to_string(nobody) + "," + cluster_->name_server_url(),
                      "--players", "4", "--duration", "2", "--transports", "tcp", "--rate", "5", "--user-prefix",
                      "failover", "--drain", "2", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  rapidjson::Document d;
  ASSERT_TRUE(parse_summary(r.output, &d)) << r.output;
  EXPECT_EQ(field(d, "logins"), 4u) << r.output;
  EXPECT_EQ(field(d, "errors"), 0u) << r.output;
}

TEST_F(BotTest, AGatewayKilledMidRunFails) {
  ChildProcess bot;
  ASSERT_TRUE(bot.start(kBot, {"--name-server", cluster_->name_server_url(), "--players", "6", "--duration", "6",
                               "--transports", "tcp,ws,udp", "--rate", "20", "--user-prefix", "killed",
                               "--drain", "1", "--progress"}));
  // Once everyone plays (the progress line says so), the gateway dies under them.
  ASSERT_TRUE(bot.wait_for_output("in room 6/6", Millis(30000))) << bot.output();
  ASSERT_TRUE(cluster_->signal("gateway-1", SIGKILL).ok());
  const int status = bot.wait_exit(Millis(60000));
  const std::string out = bot.output();
  ASSERT_NE(status, -1) << out;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << out;
  EXPECT_NE(out.find("result=FAIL"), std::string::npos) << out;
  EXPECT_NE(out.find("disconnected="), std::string::npos) << out;
  // Put the cluster back for whatever runs next in this process.
  cluster_->wait_exit("gateway-1", 10000);
  EXPECT_TRUE(cluster_->restart("gateway-1").ok());
}

TEST(BotFlags, BadFlagsExitTwo) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--transports", "pigeon"},
           {"--players", "0"},
           {"--name-server", "ftp://127.0.0.1:1"},
           {"--tls-ca", "/nonexistent/ca.pem"},
           {"--name-server", "http://example.invalid:80"},
           {"--rate", "-1"},
           {"--no-such-flag"}}) {
    BotRun r = run_bot(args, Millis(10000));
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.output;
  }
}

}  // namespace
}  // namespace behavior::testing
