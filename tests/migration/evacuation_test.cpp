// evacuation_test.cpp — `ctl drain N --evacuate` on a whole local cluster (LocalCluster:
// redis-server, name server, two gateways, three local servers as OS processes) while bots
// play over TCP, WebSocket and UDP: every player on the evacuated node is moved live to the
// others. Nobody is disconnected or has to join again, no acknowledged message is lost,
// reordered or duplicated, every player is where it stood with its score (the bot's state
// checks), and the node ends empty. BEHAVIOR_EVACUATION_BOTS sets the players (CI: 90, 24 under
// TSan; the full run: 300, `docs/durable.md`).
#include <signal.h>

#include <cstdlib>

#include "bot_summary.h"
#include "child_process.h"
#include "local_cluster_test.h"
#include "redis_server.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

const std::string kBot = std::string(BEHAVIOR_BIN_DIR) + "/bot";
const std::string kCtl = std::string(BEHAVIOR_BIN_DIR) + "/ctl";

int players_from_env() {
  const char* v = std::getenv("BEHAVIOR_EVACUATION_BOTS");
  const int n = v ? std::atoi(v) : 0;
#if defined(BEHAVIOR_TSAN)
  constexpr int kDefault = 24;  // every server under ThreadSanitizer runs several times slower
#else
  constexpr int kDefault = 90;
#endif
  return n > 0 ? n : kDefault;
}

class Evacuation : public LocalClusterTest {};

TEST_F(Evacuation, EvacuatingANodeUnderBotsDisconnectsNobodyAndLosesNothing) {
  tools::LocalClusterOptions o = options(2, 3);
  o.name_server_args = {"--login-rate", "0"};  // every bot logs in from 127.0.0.1
  start(std::move(o));
  if (HasFatalFailure()) return;
  const int players = players_from_env();
  const std::string all_in = "in room " + std::to_string(players) + "/" + std::to_string(players);
  ChildProcess bot;
  ASSERT_TRUE(bot.start(kBot, {"--name-server", cluster_->name_server_url(), "--players", std::to_string(players),
                               "--duration", "120", "--transports", "tcp,ws,udp", "--rooms", "6", "--rate", "10",
                               "--drain", "10", "--json", "--progress", "--user-prefix", "evac"}));
  ASSERT_TRUE(bot.wait_for_output(all_in, Millis(60000))) << bot.output();
  std::this_thread::sleep_for(Millis(1000));

  const uint16_t node = cluster_->node_id("local_server-1");
  const std::string names_key = cluster_->redis_prefix() + "node:" + std::to_string(node) + ":names";
  const std::string before = redis_command(redis_port(), "", {"SCARD", names_key});
  ASSERT_GT(std::atoi(before.c_str()), 0) << "nobody to move on node " << node;
  const auto t0 = std::chrono::steady_clock::now();
  ChildProcess ctl;
  ASSERT_TRUE(ctl.start(kCtl, {"drain", std::to_string(node), "--evacuate", "--redis", cluster_->redis_address(),
                               "--redis-prefix", cluster_->redis_prefix(), "--cluster-secret", cluster_->secret(),
                               "--name-server", cluster_->name_server_url(), "--admin-token",
                               cluster_->admin_token()}));
  const int status = ctl.wait_exit(Millis(90000));
  ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << ctl.output();
  EXPECT_NE(ctl.output().find("is empty"), std::string::npos) << ctl.output();
  std::printf("[ measured ] node %u evacuated under %d players: %s processes moved in %.2f s\n", node, players,
              before.c_str(), seconds_since(t0));
  EXPECT_EQ(redis_command(redis_port(), "", {"SCARD", names_key}), "0");

  // Play on a little after the move, then the summary.
  const size_t at = bot.output().size();
  ASSERT_TRUE(wait_until([&] { return bot.output().size() > at + 200; }, Millis(10000)));
  std::this_thread::sleep_for(Millis(2000));
  rapidjson::Document d;  // finish_bot ends the play (SIGINT), then reads the summary
  std::string output;
  finish_bot(bot, &d, &output);
  if (HasFatalFailure()) return;
  // Nobody disconnected, kicked or sent back to log in: no error of any kind, and every
  // player joined its room exactly once.
  EXPECT_EQ(field(d, "errors"), 0u) << output;
  EXPECT_EQ(field(d, "joins"), static_cast<uint64_t>(players)) << output;
  EXPECT_EQ(field(d, "lost"), 0u) << output;
  EXPECT_EQ(field(d, "reordered"), 0u) << output;
  EXPECT_EQ(field(d, "duplicated"), 0u) << output;
  EXPECT_EQ(field(d, "abandoned_by_failure"), 0u) << output;
  EXPECT_EQ(field(d, "state_violations"), 0u) << output;
  for (const char* stream : {"chat", "pong", "position_reliable"}) {
    EXPECT_GT(field(d[stream], "delivered"), 0u) << stream;
  }
  std::printf("[ measured ] %d players: %llu messages sent, %llu received, %llu joins, 0 errors\n", players,
              static_cast<unsigned long long>(field(d, "msgs_sent")),
              static_cast<unsigned long long>(field(d, "msgs_received")),
              static_cast<unsigned long long>(field(d, "joins")));
}

}  // namespace
}  // namespace behavior::testing
