// chaos_test.cpp — faults injected into a whole local cluster (LocalCluster: real
// redis-server, name server, gateways and local servers as separate processes): Redis going
// away under logins and ticket checks, a gateway and a local server killed with SIGKILL
// under connected players. Each test states the promise it checks and prints the measured
// recovery time (never asserted against a stopwatch beyond generous deadlines).
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>

#include "client_frames.h"
#include "game.pb.h"
#include "local_cluster.h"
#include "system.pb.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

using Transport = GameClient::Transport;
using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

class Chaos : public ::testing::Test {
 protected:
  void start(int gateways, int local_servers = 2) {
    tools::LocalClusterOptions o;
    o.bin_dir = BEHAVIOR_BIN_DIR;
    o.gateways = gateways;
    o.local_servers = local_servers;
    o.log_level = "debug";
    cluster_ = std::make_unique<tools::LocalCluster>(o);
    Status s = cluster_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  void TearDown() override {
    if (cluster_) {
      EXPECT_TRUE(cluster_->stop())
          << "a service did not stop cleanly; logs in " << cluster_->log_dir();
    }
  }

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

  // Pings through the user's process until the answer comes back.
  static bool ping(GameClient& c, uint64_t seq) {
    game::Ping p;
    p.set_seq(seq);
    if (!c.send(game::PING, p.SerializeAsString()).ok()) return false;
    for (int i = 0; i < 50; ++i) {
      auto f = c.receive(Millis(100));
      if (f.ok() && f->proto_id == game::PONG) return true;
      if (!f.ok() && f.status().code() != Code::kTimeout) return false;
    }
    return false;
  }

  std::string service_of_gateway(uint16_t gateway_id) {
    for (const auto& s : cluster_->services()) {
      if (cluster_->node_id(s.name) == gateway_id) return s.name;
    }
    return "";
  }
  std::string service_of_node(uint16_t node) { return "local_server-" + std::to_string(node); }

  std::unique_ptr<tools::LocalCluster> cluster_;
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

}  // namespace
}  // namespace behavior::testing
