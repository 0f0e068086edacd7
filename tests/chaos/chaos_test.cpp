// chaos_test.cpp — faults injected into a whole local cluster (LocalCluster: real
// redis-server, name server, gateways and local servers as separate processes): Redis going
// away under logins and ticket checks, a gateway and a local server killed with SIGKILL
// under connected players, and all three in turn under 24 bots (the bot binary) at play.
// Each test states the promise it checks and prints the measured recovery time (never
// asserted against a stopwatch beyond generous deadlines).
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
#include <thread>

#include "bot_progress.h"
#include "bot_summary.h"
#include "child_process.h"
#include "client_frames.h"
#include "game.pb.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "redis_server.h"
#include <behavior/system.pb.h>
#include "test_support.h"

namespace behavior::testing {
namespace {

using Transport = GameClient::Transport;
using SteadyClock = std::chrono::steady_clock;

class Chaos : public LocalClusterTest {
 protected:
  Result<LoginResult> login_as(const std::string& user) {
    return login("127.0.0.1", cluster_->name_server_port(), user);
  }

  // Logs in and authenticates over TCP; the process pid the gateway reports.
  std::unique_ptr<GameClient> connect(const std::string& user, std::string* pid = nullptr,
                                      LoginResult* out = nullptr) {
    Result<LoginResult> l = login_as(user);
    if (!l.ok()) return nullptr;
    auto c = GameClient::connect(Transport::kTcp, l->gateway_tcp);
    if (!c.ok()) return nullptr;
    Result<std::string> p = (*c)->auth(l->ticket);
    if (!p.ok()) return nullptr;
    if (pid) *pid = *p;
    if (out) *out = *l;
    return std::move(*c);
  }


  std::string service_of_gateway(uint16_t gateway_id) {
    for (const auto& s : cluster_->services()) {
      if (cluster_->node_id(s.name) == gateway_id) return s.name;
    }
    return "";
  }
  std::string service_of_node(uint16_t node) { return "local_server-" + std::to_string(node); }

};

// Redis going away: logins fail with a clear "unavailable" (no hang, no crash), players
// already connected play on (messages never travel through Redis), and once Redis is back
// every server re-registers and logins work again within a few seconds.
TEST_F(Chaos, RedisRestartLoginsPauseConnectedPlayersPlayOnAndTheClusterRecovers) {
  start(1);
  std::unique_ptr<GameClient> player = connect("steady");
  ASSERT_TRUE(player);
  ASSERT_TRUE(cluster_->signal("redis", SIGKILL).ok());
  ASSERT_NE(cluster_->wait_exit("redis", 5000), -1);

  Result<LoginResult> during = login_as("newcomer");
  ASSERT_FALSE(during.ok());
  EXPECT_EQ(during.status().code(), Code::kUnavailable) << during.status().to_string();
  EXPECT_TRUE(ping(*player, 1)) << "a connected player must play on without Redis";

  auto t0 = SteadyClock::now();
  ASSERT_TRUE(cluster_->restart("redis").ok());
  ASSERT_TRUE(wait_until([&] { return login_as("newcomer").ok(); }, Millis(15000)));
  std::printf("[ measured ] logins work again %.2f s after Redis was restarted\n",
              seconds_since(t0));
  // Every server registered itself again in the new (empty) Redis.
  EXPECT_TRUE(wait_until(
      [&] {
        std::string view = cluster_->name_server_get("/v1/cluster");
        return view.find("\"id\":1,") != std::string::npos &&
               view.find("\"id\":2,") != std::string::npos &&
               view.find("\"id\":101,") != std::string::npos;
      },
      Millis(10000)));
  std::printf("[ measured ] every node registered again %.2f s after Redis was restarted\n",
              seconds_since(t0));
  EXPECT_TRUE(ping(*player, 2));
  for (const auto& s : cluster_->services()) EXPECT_GT(s.pid, 0) << s.name << " died";
}

// A ticket cannot be checked for single use while Redis is down: AUTH is refused with an
// error frame (503) and the connection closed, never accepted unchecked.
TEST_F(Chaos, TicketsAreRefusedNotWavedThroughWhileRedisIsDown) {
  start(1);
  Result<LoginResult> l = login_as("late");
  ASSERT_TRUE(l.ok()) << l.status().to_string();
  ASSERT_TRUE(cluster_->signal("redis", SIGKILL).ok());
  ASSERT_NE(cluster_->wait_exit("redis", 5000), -1);
  auto c = GameClient::connect(Transport::kTcp, l->gateway_tcp);
  ASSERT_TRUE(c.ok());
  Result<std::string> pid = (*c)->auth(l->ticket, Millis(10000));
  EXPECT_FALSE(pid.ok());
  EXPECT_NE(pid.status().message().find("503"), std::string::npos) << pid.status().to_string();
  ASSERT_TRUE(cluster_->restart("redis").ok());
}

// kill -9 a gateway: its clients log in again, the name server sends them to the other
// gateway once the dead one's registration expired (TTL 3 s), and they find the same
// process (it lives on its local server, untouched).
TEST_F(Chaos, KilledGatewayClientsReconnectThroughTheOtherAndFindTheirProcess) {
  start(2);
  std::string pid_before;
  LoginResult first;
  std::unique_ptr<GameClient> c = connect("roamer", &pid_before, &first);
  ASSERT_TRUE(c);
  std::string victim = service_of_gateway(first.gateway_id);
  ASSERT_FALSE(victim.empty());
  ASSERT_TRUE(cluster_->signal(victim, SIGKILL).ok());
  auto t0 = SteadyClock::now();
  std::string pid_after;
  LoginResult second;
  std::unique_ptr<GameClient> again;
  ASSERT_TRUE(wait_until(
      [&] {
        again = connect("roamer", &pid_after, &second);
        return again != nullptr;
      },
      Millis(15000)));
  std::printf("[ measured ] reconnected through gateway %u %.2f s after gateway %u was killed\n",
              second.gateway_id, seconds_since(t0), first.gateway_id);
  EXPECT_NE(second.gateway_id, first.gateway_id);
  EXPECT_EQ(pid_after, pid_before) << "the user's process must survive its gateway";
  EXPECT_TRUE(ping(*again, 1));
  EXPECT_NE(cluster_->wait_exit(victim, 1000), -1);
  ASSERT_TRUE(cluster_->restart(victim).ok());
}

// kill -9 a local server: its players' connections get error 410 from the gateway (their
// process is gone), they log in again and are placed on a live node within the TTL, and
// players on other nodes are unaffected. No name is active twice.
TEST_F(Chaos, KilledLocalServerItsPlayersArePlacedElsewhereOthersPlayOn) {
  start(1);
  std::unique_ptr<GameClient> victim_client, other_client;
  std::string victim_user;
  for (int i = 0; i < 100 && (!victim_client || !other_client); ++i) {
    std::string user = "p" + std::to_string(i);
    LoginResult l;
    auto c = connect(user, nullptr, &l);
    ASSERT_TRUE(c);
    if (l.node == 1 && !victim_client) {
      victim_client = std::move(c);
      victim_user = user;
    } else if (l.node == 2 && !other_client) {
      other_client = std::move(c);
    }
  }
  ASSERT_TRUE(victim_client && other_client);
  ASSERT_TRUE(cluster_->signal("local_server-1", SIGKILL).ok());
  auto t0 = SteadyClock::now();
  uint32_t code = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        auto f = victim_client->receive(Millis(100));
        if (f.ok()) code = error_code(*f);
        return code != 0 || (!f.ok() && f.status().code() == Code::kUnavailable);
      },
      Millis(15000)));
  EXPECT_EQ(code, 410u);
  LoginResult back;
  std::unique_ptr<GameClient> again;
  ASSERT_TRUE(wait_until(
      [&] {
        again = connect(victim_user, nullptr, &back);
        return again != nullptr;
      },
      Millis(15000)));
  std::printf(
      "[ measured ] a player of the killed node plays again on node %u %.2f s after the kill\n",
      back.node, seconds_since(t0));
  EXPECT_EQ(back.node, 2);
  EXPECT_TRUE(ping(*again, 1));
  EXPECT_TRUE(ping(*other_client, 1)) << "players of the surviving node must be unaffected";
  EXPECT_NE(cluster_->wait_exit("local_server-1", 1000), -1);
  ASSERT_TRUE(cluster_->restart("local_server-1").ok());
}

// 24 bots play over TCP, WebSocket and UDP while, in turn, a local server is evacuated (live
// migration), a local server and a gateway are killed with SIGKILL and Redis is killed and
// restarted. Every fault is survived the way the
// cluster promises: no acknowledged message (an echo that came back) is lost, reordered or
// duplicated on any stream; what was in flight on a connection that failed (or to a room
// whose node died) is "abandoned", never counted as delivered; the only errors are those the
// faults explain; every player plays again after each fault, where it stood and with its
// score (durable player state); and afterwards no name is active twice: each user's fresh
// AUTH names the process the directory in Redis names.
TEST_F(Chaos, BotsUnderLoadSurviveAKilledNodeGatewayAndRedisWithNothingAcknowledgedLost) {
  start(2, 3, {"--login-rate", "0"});  // every bot logs in from 127.0.0.1
  constexpr int kPlayers = 24;
  const std::string all_in = "in room " + std::to_string(kPlayers) + "/" + std::to_string(kPlayers);
  ChildProcess bot;
  // Play lasts until the faults are over (SIGINT ends it: drain, then the summary); the
  // duration is only a bound.
  ASSERT_TRUE(bot.start(std::string(BEHAVIOR_BIN_DIR) + "/bot",
                        {"--name-server", cluster_->name_server_url(), "--players", std::to_string(kPlayers),
                         "--duration", "90", "--transports", "tcp,ws,udp", "--rooms", "3", "--rate", "10",
                         "--drain", "10", "--json", "--max-errors", "100000", "--progress", "--user-prefix",
                         "chaos"}));
  ASSERT_TRUE(bot.wait_for_output(all_in, Millis(30000))) << bot.output();
  auto redis = [&](const std::vector<std::string>& args) { return redis_command(redis_port(), "", args); };
  auto any = [](const Progress&) { return true; };
  // The bot's latest progress line (joins only change when a fault made players rejoin).
  auto latest = [&] {
    Progress last;
    wait_progress(bot, 0, Millis(0), [&](const Progress& p) {
      last = p;
      return false;
    });
    return last;
  };
  // After a fault that threw `affected` players out of their room: they must all have joined
  // again (on a live node, through a live gateway), with every player in a room. A recovery
  // faster than a progress line may never show anyone out, so the joins count decides.
  auto survive = [&](const std::string& what, SteadyClock::time_point t0, const Progress& before, int affected) {
    ASSERT_GT(affected, 0) << what << " hit no player";
    int lowest = kPlayers;
    std::optional<Progress> back = wait_progress(bot, before.end, Millis(45000), [&](const Progress& p) {
      lowest = std::min(lowest, p.in_room);
      return p.in_room == p.players && p.joins >= before.joins + static_cast<uint64_t>(affected);
    });
    ASSERT_TRUE(back) << "not every player played again after " << what << " (" << affected << " affected)\n"
                      << bot.output();
    std::printf("[ measured ] %s: its %d players joined again, all %d in a room, %.2f s after the kill (lowest "
                "seen %d; progress lines come once a second)\n",
                what.c_str(), affected, kPlayers, seconds_since(t0), lowest);
  };

  // 0. A live migration in the middle: local_server-3 is evacuated (every process on it moved
  //    to the others while it serves), then takes players again. Nobody has to join again.
  {
    const Progress was = latest();
    ChildProcess ctl;
    const std::string node3 = std::to_string(cluster_->node_id("local_server-3"));
    const std::vector<std::string> common = {"--redis", cluster_->redis_address(), "--redis-prefix",
                                             cluster_->redis_prefix(), "--cluster-secret", cluster_->secret(),
                                             "--name-server", cluster_->name_server_url(), "--admin-token",
                                             cluster_->admin_token()};
    std::vector<std::string> args = {"drain", node3, "--evacuate"};
    args.insert(args.end(), common.begin(), common.end());
    ASSERT_TRUE(ctl.start(std::string(BEHAVIOR_BIN_DIR) + "/ctl", args));
    const int status = ctl.wait_exit(Millis(60000));
    ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << ctl.output();
    EXPECT_EQ(redis({"SCARD", cluster_->redis_prefix() + "node:" + node3 + ":names"}), "0");
    ChildProcess resume;
    args = {"resume", node3};
    args.insert(args.end(), common.begin(), common.end());
    ASSERT_TRUE(resume.start(std::string(BEHAVIOR_BIN_DIR) + "/ctl", args));
    EXPECT_EQ(resume.wait_exit(Millis(30000)) >> 8, 0) << resume.output();
    std::optional<Progress> next = wait_progress(bot, was.end, Millis(10000), any);
    ASSERT_TRUE(next) << bot.output();
    EXPECT_EQ(latest().joins, was.joins) << "a player had to join again after the evacuation\n" << bot.output();
    std::printf("[ measured ] local_server-3 evacuated under %d players; nobody joined again\n", kPlayers);
  }

  // 1. A local server dies under its players (error 410, log in again, placed elsewhere);
  //    players elsewhere whose room was on it join the room again on a live node. Who is
  //    affected: the node's names in the directory (its users, its rooms).
  const std::string names = redis({"SMEMBERS", cluster_->redis_prefix() + "node:" +
                                                   std::to_string(cluster_->node_id("local_server-1")) + ":names"});
  auto owns = [&](const std::string& name) {
    return ("\n" + names + "\n").find("\n" + name + "\n") != std::string::npos;
  };
  int affected = 0;
  for (int i = 0; i < kPlayers; ++i) {
    affected += owns("user/chaos-" + std::to_string(i)) || owns("room/bots-" + std::to_string(i % 3));
  }
  Progress before = latest();
  auto t0 = SteadyClock::now();
  ASSERT_TRUE(cluster_->signal("local_server-1", SIGKILL).ok());
  survive("local_server-1 killed", t0, before, affected);
  if (HasFatalFailure()) return;
  std::this_thread::sleep_for(Millis(2000));

  // 2. A gateway dies under its clients: they reconnect through the other one once its
  //    registration expired (TTL 3 s; the bot's backoff between attempts adds to it). Who is
  //    affected: its connections (its /metrics).
  const std::string metrics_at =
      redis({"HGET", cluster_->redis_prefix() + "node:" + std::to_string(cluster_->node_id("gateway-1")), "metrics"});
  const std::string metrics = http_get(std::stoi(metrics_at.substr(metrics_at.rfind(':') + 1)), "/metrics");
  static const std::regex connections(R"(behavior_gateway_connections\{transport="\w+"\} (\d+))");
  affected = 0;
  for (std::sregex_iterator it(metrics.begin(), metrics.end(), connections), end; it != end; ++it) {
    affected += std::stoi((*it)[1]);
  }
  before = latest();
  t0 = SteadyClock::now();
  ASSERT_TRUE(cluster_->signal("gateway-1", SIGKILL).ok());
  survive("gateway-1 killed", t0, before, affected);
  if (HasFatalFailure()) return;
  std::this_thread::sleep_for(Millis(1000));

  // 3. Redis dies and comes back: connected players play on (nobody leaves a room or joins
  //    again); logins pause and resume.
  before = latest();
  ASSERT_TRUE(cluster_->signal("redis", SIGKILL).ok());
  ASSERT_NE(cluster_->wait_exit("redis", 5000), -1);
  std::this_thread::sleep_for(Millis(2000));
  t0 = SteadyClock::now();
  ASSERT_TRUE(cluster_->restart("redis").ok());
  ASSERT_TRUE(wait_until([&] { return login_as("chaos-probe").ok(); }, Millis(20000)));
  std::printf("[ measured ] logins work again %.2f s after Redis was restarted under %d players\n",
              seconds_since(t0), kPlayers);
  // Play on for a few more progress lines after the restart.
  size_t at = bot.output().size();
  for (int i = 0; i < 3; ++i) {
    std::optional<Progress> p = wait_progress(bot, at, Millis(10000), any);
    ASSERT_TRUE(p) << bot.output();
    at = p->end;
  }
  const Progress after = latest();
  EXPECT_EQ(after.joins, before.joins) << "a player had to join again while Redis was away\n" << bot.output();
  EXPECT_FALSE(wait_progress(bot, before.end, Millis(0), [](const Progress& p) { return p.in_room < p.players; }))
      << "a player left its room while Redis was away\n"
      << bot.output();

  rapidjson::Document d;
  std::string output;
  finish_bot(bot, &d, &output);
  if (HasFatalFailure()) return;
  EXPECT_EQ(field(d, "players_cut_off_by_drain_deadline"), 0u) << output;
  for (const char* stream : {"chat", "pong", "position_reliable"}) {
    const rapidjson::Value& s = d[stream];
    EXPECT_GT(field(s, "delivered"), 0u) << stream;
    EXPECT_EQ(field(s, "lost"), 0u) << stream << "\n" << output;
    EXPECT_EQ(field(s, "reordered"), 0u) << stream << "\n" << output;
    EXPECT_EQ(field(s, "duplicated"), 0u) << stream << "\n" << output;
    // Each message came back, or was in flight on a connection (or to a room) that failed.
    EXPECT_EQ(field(s, "sent"), field(s, "delivered") + field(s, "abandoned_by_reconnect") +
                                    field(s, "abandoned_by_failure"))
        << stream << "\n" << output;
  }
  // Every player back in its room after a fault stood where it stood, with its score: the
  // killed node's players came back from their durable state (docs/durable.md).
  EXPECT_GT(field(d, "state_checks"), 0u) << output;
  EXPECT_EQ(field(d, "state_violations"), 0u) << output;
  EXPECT_GT(field(d["others_chat"], "checked"), 0u);
  EXPECT_EQ(field(d["others_chat"], "reordered"), 0u) << output;
  EXPECT_EQ(field(d["others_chat"], "duplicated"), 0u) << output;
  // Every player joined once at the start, and the faults made some join again.
  EXPECT_EQ(field(d, "players_joined"), static_cast<uint64_t>(kPlayers)) << output;
  EXPECT_GT(field(d, "joins"), static_cast<uint64_t>(kPlayers)) << output;
  // Only errors a fault explains: connections cut (disconnected, send_failed), the process
  // of a killed node gone (error_410, then a new one: process_changed), a room on the killed
  // node gone (room_lost, and error_503 for a JOIN_ROOM while it is re-placed), logins,
  // connects and AUTHs refused or timing out while a dead gateway or node is still
  // registered or Redis is away (login_failed, connect_failed, auth_failed, join_timeout).
  const std::set<std::string> explained = {"disconnected",   "send_failed",  "error_410",    "process_changed",
                                           "room_lost",      "error_503",    "login_failed", "connect_failed",
                                           "auth_failed",    "join_timeout"};
  const std::string kinds = expect_only_explained_errors(d, output, explained);
  std::printf("[ measured ] %llu joins of %d players, %llu logins; abandoned by failure: chat %llu, pong %llu, "
              "position %llu; errors: %s\n",
              static_cast<unsigned long long>(field(d, "joins")), kPlayers,
              static_cast<unsigned long long>(field(d, "logins")),
              static_cast<unsigned long long>(field(d["chat"], "abandoned_by_failure")),
              static_cast<unsigned long long>(field(d["pong"], "abandoned_by_failure")),
              static_cast<unsigned long long>(field(d["position_reliable"], "abandoned_by_failure")), kinds.c_str());

  // Bring the killed services back, then: no name is active twice. Each user's fresh login
  // and AUTH names one process, the directory in Redis names the same, and exactly one node
  // lists the name among its own.
  for (const char* victim : {"local_server-1", "gateway-1"}) {
    EXPECT_NE(cluster_->wait_exit(victim, 5000), -1) << victim;
    ASSERT_TRUE(cluster_->restart(victim).ok()) << victim;
  }
  for (int i = 0; i < kPlayers; ++i) {
    const std::string user = "chaos-" + std::to_string(i);
    std::string pid;
    LoginResult l;
    std::unique_ptr<GameClient> c;
    ASSERT_TRUE(wait_until([&] { return (c = connect(user, &pid, &l)) != nullptr; }, Millis(15000))) << user;
    const std::string name = "user/" + l.user;
    const std::string entry = redis({"GET", cluster_->redis_prefix() + "dir:" + name});
    const size_t colon = entry.find(':');
    ASSERT_NE(colon, std::string::npos) << name << ": " << entry;
    const Pid where = Pid::from_raw(std::strtoull(entry.c_str() + colon + 1, nullptr, 10));
    EXPECT_EQ(where.to_string(), pid) << name << ": the directory names another process than AUTH";
    EXPECT_EQ(std::to_string(where.node()), entry.substr(0, colon)) << name;
    int owners = 0;
    for (const char* node : {"local_server-1", "local_server-2", "local_server-3"}) {
      const std::string key = cluster_->redis_prefix() + "node:" + std::to_string(cluster_->node_id(node)) + ":names";
      owners += redis({"SISMEMBER", key, name}) == "1";
    }
    EXPECT_EQ(owners, 1) << name << " is listed by " << owners << " nodes";
  }
}

}  // namespace
}  // namespace behavior::testing
