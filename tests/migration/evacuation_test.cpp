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

class Evacuation : public LocalClusterTest {};

TEST_F(Evacuation, EvacuatingANodeUnderBotsDisconnectsNobodyAndLosesNothing) {
  tools::LocalClusterOptions o = options(2, 3);
  o.name_server_args = {"--login-rate", "0"};  // every bot logs in from 127.0.0.1
  start(std::move(o));
  if (HasFatalFailure()) return;
  const int players = players_from_env("BEHAVIOR_EVACUATION_BOTS");
  ChildProcess bot;
  start_playing_bots(bot, kBot, cluster_->name_server_url(), players, "evac", 120);
  if (HasFatalFailure()) return;

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
  play_on_and_expect_nothing_noticed(bot, players);
}

}  // namespace
}  // namespace behavior::testing
