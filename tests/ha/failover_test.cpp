// failover_test.cpp — Redis high availability with Sentinel on a whole local cluster
// (LocalCluster with redis_ha: a redis-server primary, a replica and three sentinels with
// quorum 2, down-after 1 s; a name server, a gateway and two local servers that find the
// primary through the sentinels). Under 24 bots over TCP, WebSocket and UDP the primary is
// killed with SIGKILL: the sentinels promote the replica, every server follows it, logins
// work again and every player plays on with nothing acknowledged lost; the old primary
// comes back as a replica. And a failover asked of the sentinels demotes a live primary: the
// servers leave it on +switch-master. Prints the measured times (asserted only against generous
// deadlines).
#include <behavior/game_client.h>
#include <behavior/pid.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "bot_progress.h"
#include "bot_summary.h"
#include "child_process.h"
#include "client_frames.h"
#include "local_cluster_test.h"
#include "redis_server.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

using Transport = GameClient::Transport;
using SteadyClock = std::chrono::steady_clock;

int port_of(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

std::vector<std::string> split(const std::string& text, char by) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, by);) out.push_back(item);
  return out;
}

class RedisFailover : public LocalClusterTest {
 protected:
  Result<LoginResult> login_as(const std::string& user) {
    return login("127.0.0.1", cluster_->name_server_port(), user);
  }
  // What the first sentinel that answers names as the primary ("host:port"), "" if none.
  std::string primary() {
    for (const std::string& s : split(cluster_->sentinels(), ',')) {
      const std::vector<std::string> a =
          split(redis_command(port_of(s), "", {"SENTINEL", "get-master-addr-by-name", "behavior"}), '\n');
      if (a.size() == 2) return a[0] + ":" + a[1];
    }
    return "";
  }
  std::string role(const std::string& address) {
    return split(redis_command(port_of(address), "", {"ROLE"}), '\n').front();
  }
};

TEST_F(RedisFailover, PrimaryKilledUnderBotsTheReplicaTakesOverAndEveryPlayerPlaysOn) {
  tools::LocalClusterOptions o = options(1, 2);
  o.redis_ha = true;
  o.name_server_args = {"--login-rate", "0"};  // every bot logs in from 127.0.0.1
  start(o);
  const std::string old_primary = cluster_->redis_address();
  const std::string replica = cluster_->redis_replica_address();
  ASSERT_EQ(primary(), old_primary);
  ASSERT_EQ(role(replica), "slave");

  constexpr int kPlayers = 24;
  const std::string all_in = "in room " + std::to_string(kPlayers) + "/" + std::to_string(kPlayers);
  ChildProcess bot;
  ASSERT_TRUE(bot.start(std::string(BEHAVIOR_BIN_DIR) + "/bot",
                        {"--name-server", cluster_->name_server_url(), "--players", std::to_string(kPlayers),
                         "--duration", "60", "--transports", "tcp,ws,udp", "--rooms", "3", "--rate", "10",
                         "--drain", "10", "--json", "--max-errors", "100000", "--progress", "--user-prefix", "ha"}));
  ASSERT_TRUE(bot.wait_for_output(all_in, Millis(30000))) << bot.output();
  std::this_thread::sleep_for(Millis(1500));  // a few more progress lines at play
  const Progress before = *wait_progress(bot, 0, Millis(5000), [](const Progress&) { return true; });

  // SIGKILL the primary.
  const auto t0 = SteadyClock::now();
  ASSERT_TRUE(cluster_->signal("redis", SIGKILL).ok());
  ASSERT_NE(cluster_->wait_exit("redis", 5000), -1);

  // The sentinels promote the replica (down-after 1 s, then the election and the promotion).
  ASSERT_TRUE(wait_until([&] { return primary() == replica && role(replica) == "master"; }, Millis(30000)))
      << "the sentinels name " << primary() << "; logs in " << cluster_->log_dir();
  const double promoted = seconds_since(t0);
  std::printf("[ measured ] the sentinels promoted the replica %.2f s after the primary was killed\n", promoted);

  // A login goes through the new primary (the name server's and the nodes' clients found it).
  ASSERT_TRUE(wait_until([&] { return login_as("ha-probe").ok(); }, Millis(20000)))
      << "no login after the failover; logs in " << cluster_->log_dir();
  const double login_back = seconds_since(t0);
  std::printf("[ measured ] a login succeeds %.2f s after the primary was killed\n", login_back);

  // Every node registered itself again in the new primary (heartbeats rewrite the registration).
  const std::string prefix = cluster_->redis_prefix();
  const int new_port = port_of(replica);
  ASSERT_TRUE(wait_until(
      [&] {
        for (const char* s : {"local_server-1", "local_server-2", "gateway-1", "name_server"}) {
          const std::string id = std::to_string(cluster_->node_id(s));
          if (redis_command(new_port, "", {"EXISTS", prefix + "node:" + id}) != "1") return false;
        }
        return true;
      },
      Millis(20000)));
  // Every player in its room on a progress line after that.
  const size_t now_at = bot.output().size();
  std::optional<Progress> back = wait_progress(bot, now_at, Millis(30000), [](const Progress& p) {
    return p.in_room == p.players;
  });
  ASSERT_TRUE(back) << "not every player is in a room after the failover\n" << bot.output();
  const double players_back = seconds_since(t0);
  std::printf("[ measured ] every node registered in the new primary and all %d players in a room %.2f s after "
              "the kill (%llu joins again; progress lines come once a second)\n",
              kPlayers, players_back, static_cast<unsigned long long>(back->joins - before.joins));

  // ctl with the launcher's environment (BEHAVIOR_REDIS still names the dead primary;
  // BEHAVIOR_REDIS_SENTINELS wins) reads the cluster from the new primary.
  {
    ChildProcess ctl;
    ASSERT_TRUE(ctl.start(std::string(BEHAVIOR_BIN_DIR) + "/ctl", {"nodes"}, cluster_->env()));
    const int status = ctl.wait_exit(Millis(20000));
    EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << ctl.output();
    EXPECT_NE(ctl.output().find("gateway"), std::string::npos) << ctl.output();
  }
  // Play on for a few seconds more, then the bots' verdict: nothing acknowledged lost.
  std::this_thread::sleep_for(Millis(2000));
  rapidjson::Document d;
  std::string output;
  finish_bot(bot, &d, &output);
  if (HasFatalFailure()) return;
  for (const char* stream : {"chat", "pong", "position_reliable"}) {
    const rapidjson::Value& s = d[stream];
    EXPECT_GT(field(s, "delivered"), 0u) << stream;
    EXPECT_EQ(field(s, "lost"), 0u) << stream << "\n" << output;
    EXPECT_EQ(field(s, "reordered"), 0u) << stream << "\n" << output;
    EXPECT_EQ(field(s, "duplicated"), 0u) << stream << "\n" << output;
  }
  EXPECT_EQ(field(d, "players_joined"), static_cast<uint64_t>(kPlayers)) << output;
  // Errors a Redis outage explains: logins and AUTHs refused or timing out while no primary
  // answers, and what follows a connection the bot gave up on.
  const std::set<std::string> explained = {"disconnected", "send_failed", "error_503",    "login_failed",
                                           "connect_failed", "auth_failed", "join_timeout", "room_lost",
                                           "error_410",    "process_changed"};
  const std::string kinds = expect_only_explained_errors(d, output, explained);
  std::printf("[ measured ] %llu joins of %d players, %llu logins; errors: %s\n",
              static_cast<unsigned long long>(field(d, "joins")), kPlayers,
              static_cast<unsigned long long>(field(d, "logins")), kinds.c_str());

  // No name is active twice: each player's fresh login and AUTH names one process, the new
  // primary's directory names the same, and exactly one node lists the name as its own.
  for (int i = 0; i < kPlayers; ++i) {
    const std::string user = "ha-" + std::to_string(i);
    Result<LoginResult> l = login_as(user);
    ASSERT_TRUE(l.ok()) << user << ": " << l.status().to_string();
    auto c = GameClient::connect(Transport::kTcp, l->gateway_tcp);
    ASSERT_TRUE(c.ok()) << user;
    Result<std::string> pid = (*c)->auth(l->ticket);
    ASSERT_TRUE(pid.ok()) << user << ": " << pid.status().to_string();
    EXPECT_TRUE(ping(**c, 1)) << user;
    const std::string name = "user/" + l->user;
    const std::string entry = redis_command(new_port, "", {"GET", prefix + "dir:" + name});
    const size_t colon = entry.find(':');
    ASSERT_NE(colon, std::string::npos) << name << ": " << entry;
    const Pid where = Pid::from_raw(std::strtoull(entry.c_str() + colon + 1, nullptr, 10));
    EXPECT_EQ(where.to_string(), *pid) << name << ": the directory names another process than AUTH";
    int owners = 0;
    for (const char* node : {"local_server-1", "local_server-2"}) {
      const std::string key = prefix + "node:" + std::to_string(cluster_->node_id(node)) + ":names";
      owners += redis_command(new_port, "", {"SISMEMBER", key, name}) == "1";
    }
    EXPECT_EQ(owners, 1) << name << " is listed by " << owners << " nodes";
  }

  // The old primary comes back: the sentinels make it a replica of the new one, and the
  // cluster keeps writing to the new primary.
  ASSERT_TRUE(cluster_->restart("redis").ok());
  EXPECT_TRUE(wait_until([&] { return role(old_primary) == "slave"; }, Millis(20000)))
      << "the old primary is " << role(old_primary);
  EXPECT_EQ(primary(), replica);
  EXPECT_TRUE(wait_until([&] { return login_as("ha-after").ok(); }, Millis(10000)));
  for (const auto& s : cluster_->services()) EXPECT_GT(s.pid, 0) << s.name << " died";
}

// A failover asked of the sentinels (SENTINEL FAILOVER: an upgrade of the primary's host, say)
// demotes a primary that is alive: the servers' connections to it stay open and would get
// READONLY on their next write. They follow +switch-master (or the READONLY) to the new
// primary: a login succeeds, every node registers there, a connected player plays on.
TEST_F(RedisFailover, AManualFailoverDemotesTheLivePrimaryAndEveryServerFollows) {
  tools::LocalClusterOptions o = options(1, 2);
  o.redis_ha = true;
  start(o);
  const std::string old_primary = cluster_->redis_address();
  const std::string replica = cluster_->redis_replica_address();
  Result<LoginResult> l = login_as("steady");
  ASSERT_TRUE(l.ok()) << l.status().to_string();
  auto player = GameClient::connect(Transport::kTcp, l->gateway_tcp);
  ASSERT_TRUE(player.ok());
  ASSERT_TRUE((*player)->auth(l->ticket).ok());

  const auto t0 = SteadyClock::now();
  const std::string sentinel = split(cluster_->sentinels(), ',').front();
  ASSERT_EQ(redis_command(port_of(sentinel), "", {"SENTINEL", "FAILOVER", "behavior"}), "OK");
  ASSERT_TRUE(wait_until([&] { return primary() == replica && role(replica) == "master"; }, Millis(20000)));
  const double promoted = seconds_since(t0);
  ASSERT_TRUE(wait_until([&] { return login_as("newcomer").ok(); }, Millis(10000)));
  std::printf("[ measured ] a manual failover: the replica promoted %.2f s after it was asked, a login %.2f s\n",
              promoted, seconds_since(t0));
  // The sentinels turn the old primary into a replica only a while later (10 s here): until
  // then it still takes writes, so the servers must have left it on +switch-master.
  ASSERT_TRUE(wait_until([&] { return role(old_primary) == "slave"; }, Millis(20000)));
  const std::string prefix = cluster_->redis_prefix();
  EXPECT_TRUE(wait_until(
      [&] {
        for (const char* s : {"local_server-1", "local_server-2", "gateway-1", "name_server"}) {
          const std::string id = std::to_string(cluster_->node_id(s));
          // The heartbeat refreshes the registration's expiry: still there after a TTL means
          // it is being written to the new primary.
          if (redis_command(port_of(replica), "", {"PTTL", prefix + "node:" + id}) == "-2") return false;
        }
        return true;
      },
      Millis(10000)));
  std::this_thread::sleep_for(Millis(cluster_->ttl_ms() + 500));
  for (const char* s : {"local_server-1", "local_server-2", "gateway-1", "name_server"}) {
    const std::string id = std::to_string(cluster_->node_id(s));
    EXPECT_EQ(redis_command(port_of(replica), "", {"EXISTS", prefix + "node:" + id}), "1") << s;
  }
  EXPECT_TRUE(ping(**player, 1)) << "a connected player must play on";
  for (const auto& svc : cluster_->services()) EXPECT_GT(svc.pid, 0) << svc.name << " died";
}

}  // namespace
}  // namespace behavior::testing
