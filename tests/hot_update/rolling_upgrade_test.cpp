// rolling_upgrade_test.cpp — a rolling upgrade of every local server of a whole local cluster
// (LocalCluster: redis-server, name server, two gateways, three local servers as OS
// processes) while bots play over TCP, WebSocket and UDP (tools/launch/rolling.h): each old
// node in turn gets a replacement running "the new binary" (a copy of local_server at another
// path), is drained and evacuated with live migration, and stopped with SIGTERM. Nobody is
// disconnected, nothing acknowledged is lost, reordered or duplicated, every player keeps its
// state, every old node exits 0 and every named process ends up on a new node.
// BEHAVIOR_ROLLING_BOTS sets the players (CI: 90, 24 under TSan; the full run: 300).
// A second test rolls to a binary that cannot start: the roll stops and the old node serves on.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "bot_summary.h"
#include "child_process.h"
#include "local_cluster_test.h"
#include "redis_server.h"
#include "rolling.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

const std::string kBot = std::string(BEHAVIOR_BIN_DIR) + "/bot";
const std::string kCtl = std::string(BEHAVIOR_BIN_DIR) + "/ctl";

// "The new build": local_server copied to another path (the roll runs whatever is there).
std::string copy_of_local_server(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string to = dir + "/local_server";
  std::filesystem::copy_file(std::string(BEHAVIOR_BIN_DIR) + "/local_server", to,
                             std::filesystem::copy_options::overwrite_existing);
  return to;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

class RollingUpgrade : public LocalClusterTest {
 protected:
  std::string names_key(uint16_t node) const {
    return cluster_->redis_prefix() + "node:" + std::to_string(node) + ":names";
  }
};

TEST_F(RollingUpgrade, RollingEveryLocalServerUnderBotsDisconnectsNobodyAndLosesNothing) {
  tools::LocalClusterOptions o = options(2, 3);
  o.name_server_args = {"--login-rate", "0"};  // every bot logs in from 127.0.0.1
  // This is about the roll, not failure detection: on a shared 2-core machine 300 bots can
  // starve Redis' answers past the 3 s default and get a busy node declared down.
  o.ttl_ms = 10000;
  start(std::move(o));
  if (HasFatalFailure()) return;
  const std::string next_bin = copy_of_local_server(cluster_->log_dir() + "/next");
  const int players = players_from_env("BEHAVIOR_ROLLING_BOTS");
  ChildProcess bot;
  start_playing_bots(bot, kBot, cluster_->name_server_url(), players, "roll", 300);
  if (HasFatalFailure()) return;

  const std::vector<std::string> olds = cluster_->running_local_servers();
  ASSERT_EQ(olds.size(), 3u);
  std::vector<uint16_t> old_ids;
  int64_t before = 0;
  for (const auto& s : olds) {
    old_ids.push_back(cluster_->node_id(s));
    before += std::atoll(redis_command(redis_port(), "", {"SCARD", names_key(old_ids.back())}).c_str());
  }
  ASSERT_GE(before, players) << "every player's process is named on some local server";

  tools::RollOptions ro;
  ro.binary = next_bin;
  ro.log = [](const std::string& line) { std::printf("%s\n", line.c_str()); };
  tools::RollReport partial;
  const auto t0 = std::chrono::steady_clock::now();
  Result<tools::RollReport> rolled = tools::roll_local_servers(*cluster_, ro, &partial);
  ASSERT_TRUE(rolled.ok()) << rolled.status().to_string() << "\n" << tools::describe(partial) << bot.output();
  const double seconds = seconds_since(t0);
  std::printf("%s", tools::describe(*rolled).c_str());
  std::printf("[ measured ] 3 local servers rolled under %d players in %.2f s\n", players, seconds);

  // Every old node exited 0 (the roll checks each) and is gone; the new ones run the copy.
  ASSERT_EQ(rolled->nodes.size(), 3u);
  std::vector<std::string> news;
  for (size_t i = 0; i < olds.size(); ++i) {
    const tools::RolledNode& r = rolled->nodes[i];
    EXPECT_EQ(r.old_service, olds[i]);
    const int status = cluster_->wait_exit(olds[i], 0);
    EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << olds[i] << ": " << tools::LocalCluster::describe_exit(status);
    EXPECT_EQ(cluster_->pid(olds[i]), -1);
    EXPECT_EQ(redis_command(redis_port(), "", {"SCARD", names_key(r.old_id)}), "0") << "node " << r.old_id;
    news.push_back(r.new_service);
    const std::string exe = std::filesystem::read_symlink("/proc/" + std::to_string(cluster_->pid(r.new_service)) + "/exe");
    EXPECT_EQ(exe, std::filesystem::canonical(next_bin).string()) << r.new_service;
  }
  EXPECT_EQ(cluster_->running_local_servers(), news);
  const std::vector<std::string> members = lines(redis_command(redis_port(), "", {"ZRANGE", cluster_->redis_prefix() + "nodes", "0", "-1"}));
  for (uint16_t id : old_ids) {
    EXPECT_EQ(std::count(members.begin(), members.end(), std::to_string(id)), 0) << "node " << id << " still a member";
  }
  // Every name in the directory points at a new node.
  const std::vector<std::string> dir_keys =
      lines(redis_command(redis_port(), "", {"KEYS", cluster_->redis_prefix() + "dir:*"}));
  ASSERT_GE(dir_keys.size(), static_cast<size_t>(players));
  for (const std::string& key : dir_keys) {
    const std::string where = redis_command(redis_port(), "", {"GET", key});
    const int node = std::atoi(where.c_str());
    bool on_new = false;
    for (const auto& r : rolled->nodes) on_new |= node == r.new_id;
    EXPECT_TRUE(on_new) << key << " -> " << where;
  }

  // Play on a little on the new nodes, then the summary.
  play_on_and_expect_nothing_noticed(bot, players);
}

TEST_F(RollingUpgrade, AReplacementThatCannotStartStopsTheRollAndTheOldNodeServesOn) {
  start(1, 2);
  if (HasFatalFailure()) return;
  // "The new build" is broken: a script that exits at once.
  const std::string broken = cluster_->log_dir() + "/broken_local_server";
  {
    FILE* f = std::fopen(broken.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("#!/bin/sh\necho 'cannot load the game' >&2\nexit 3\n", f);
    std::fclose(f);
    ::chmod(broken.c_str(), 0755);
  }
  const std::vector<std::string> olds = cluster_->running_local_servers();
  tools::RollOptions ro;
  ro.binary = broken;
  ro.ready_timeout_ms = 5000;
  tools::RollReport partial;
  Result<tools::RollReport> rolled = tools::roll_local_servers(*cluster_, ro, &partial);
  ASSERT_FALSE(rolled.ok());
  EXPECT_NE(rolled.status().message().find("did not start"), std::string::npos) << rolled.status().to_string();
  EXPECT_NE(rolled.status().message().find("keeps serving"), std::string::npos) << rolled.status().to_string();
  EXPECT_TRUE(partial.nodes.empty());
  // The old nodes run on, take players (not draining), and a login is placed on one of them.
  EXPECT_EQ(cluster_->running_local_servers(), olds);
  const std::string view = cluster_->name_server_get("/v1/cluster");
  EXPECT_EQ(view.find("\"draining\":true"), std::string::npos) << view;
  ChildProcess bot;
  ASSERT_TRUE(bot.start(kBot, {"--name-server", cluster_->name_server_url(), "--players", "6", "--duration", "3",
                               "--transports", "tcp,ws,udp", "--json", "--user-prefix", "after"}));
  const int status = bot.wait_exit(Millis(60000));
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << bot.output();
}

// The orchestrator's form: the new nodes are started by someone else (here the test), `ctl
// upgrade` waits for them, drains and empties the old ones, and they then exit 0 on SIGTERM.
// A new node that never comes is refused before anything is drained.
TEST_F(RollingUpgrade, CtlUpgradeEmptiesTheOldNodesOnceTheNewOnesAreReady) {
  tools::LocalClusterOptions o = options(1, 2);
  o.name_server_args = {"--login-rate", "0"};
  start(std::move(o));
  if (HasFatalFailure()) return;
  constexpr int kPlayers = 12;
  ChildProcess bot;
  start_playing_bots(bot, kBot, cluster_->name_server_url(), kPlayers, "ctlup", 300);
  if (HasFatalFailure()) return;
  const std::vector<std::string> cluster_flags = {
      "--redis", cluster_->redis_address(), "--redis-prefix", cluster_->redis_prefix(), "--cluster-secret",
      cluster_->secret(), "--name-server", cluster_->name_server_url(), "--admin-token", cluster_->admin_token()};
  auto run_ctl = [&](std::vector<std::string> args, std::string* output) {
    args.insert(args.end(), cluster_flags.begin(), cluster_flags.end());
    ChildProcess ctl;
    if (!ctl.start(kCtl, args)) return -1;
    const int status = ctl.wait_exit(Millis(60000));
    *output = ctl.output();
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };

  std::string out;
  EXPECT_EQ(run_ctl({"upgrade", "--old", "1,2", "--new", "9", "--ready-timeout-ms", "1000"}, &out), 1) << out;
  EXPECT_NE(out.find("node 9 not registered"), std::string::npos) << out;
  EXPECT_EQ(cluster_->name_server_get("/v1/cluster").find("\"draining\":true"), std::string::npos);

  ASSERT_TRUE(cluster_->add_local_server(3).ok());
  ASSERT_TRUE(cluster_->add_local_server(4).ok());
  ASSERT_EQ(run_ctl({"upgrade", "--old", "1,2", "--new", "3,4", "--settle-ms", "1000"}, &out), 0) << out;
  EXPECT_NE(out.find("node 1 is empty"), std::string::npos) << out;
  EXPECT_NE(out.find("upgrade: 2 node(s) empty"), std::string::npos) << out;
  for (const char* old : {"local_server-1", "local_server-2"}) {
    EXPECT_EQ(redis_command(redis_port(), "", {"SCARD", names_key(cluster_->node_id(old))}), "0") << old;
    ASSERT_TRUE(cluster_->signal(old, SIGTERM).ok());
    const int status = cluster_->wait_exit(old, 20000);
    EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << old << ": " << tools::LocalCluster::describe_exit(status);
  }
  play_on_and_expect_nothing_noticed(bot, kPlayers);
}

}  // namespace
}  // namespace behavior::testing
