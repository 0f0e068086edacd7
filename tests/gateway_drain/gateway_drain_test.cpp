// gateway_drain_test.cpp — a gateway replaced under load (issue 17, hot update): SIGTERM makes
// it drain instead of dropping everyone. It marks itself draining (the name server gives it
// no new logins), refuses new connections and AUTHs, tells each logged-in client to RECONNECT
// (spread over --drain-ms), and exits 0 once they have left or at --drain-timeout-ms. Real
// binaries as OS processes (LocalCluster: redis-server, name server, two gateways, two local
// servers) on 127.0.0.1, and the bot over TCP, WebSocket and UDP.
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <string>

#include "bot_summary.h"
#include "child_process.h"
#include "client_frames.h"
#include "game.pb.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

using Transport = GameClient::Transport;
using SteadyClock = std::chrono::steady_clock;

const std::string kBot = std::string(BEHAVIOR_BIN_DIR) + "/bot";
constexpr int kDrainNoticeMs = 1000;
constexpr int kDrainMs = 2000;
constexpr int kDrainTimeoutMs = 10000;

class GatewayDrain : public LocalClusterTest {
 protected:
  void start_two_gateways(std::vector<std::string> gateway_args = {}) {
    tools::LocalClusterOptions o = options(2, 2);
    o.log_level = "info";
    o.name_server_args = {"--login-rate", "0"};  // every client logs in from 127.0.0.1
    if (gateway_args.empty()) {
      gateway_args = {"--drain-notice-ms", std::to_string(kDrainNoticeMs), "--drain-ms", std::to_string(kDrainMs),
                      "--drain-timeout-ms", std::to_string(kDrainTimeoutMs)};
    }
    o.gateway_args = std::move(gateway_args);
    start(std::move(o));
  }

  // The name server's view of one node: {connections, draining}; false when it is not there.
  bool node_view(uint16_t id, uint64_t* connections, bool* draining) {
    rapidjson::Document d;
    d.Parse(cluster_->name_server_get("/v1/cluster").c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("nodes") || !d["nodes"].IsArray()) return false;
    for (const auto& n : d["nodes"].GetArray()) {
      if (!n.HasMember("id") || n["id"].GetUint() != id) continue;
      if (connections) *connections = n["connections"].GetUint64();
      if (draining) *draining = n["draining"].GetBool();
      return true;
    }
    return false;
  }

  Result<LoginResult> login_as(const std::string& user) {
    return login("127.0.0.1", cluster_->name_server_port(), user);
  }

  // A ticket for gateway `id` (the name server balances by connections, ties at random: a
  // few users do it).
  Result<LoginResult> login_to(uint16_t id, const std::string& prefix) {
    for (int i = 0; i < 50; ++i) {
      Result<LoginResult> l = login_as(prefix + "-" + std::to_string(i));
      if (!l.ok()) return l;
      if (l->gateway_id == id) return l;
    }
    return Status::unavailable("the name server never named gateway " + std::to_string(id));
  }


  // Reads frames until a RECONNECT (true) or `timeout`.
  static bool await_reconnect(GameClient& c, Millis timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      auto f = c.receive(Millis(100));
      if (f.ok() && f->proto_id == GameClient::kReconnectFrame) return c.reconnect_requested();
      if (!f.ok() && f.status().code() != Code::kTimeout) return false;
    }
    return false;
  }

  static bool exited_zero(int status) { return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// 60 bots over TCP, WebSocket and UDP on two gateways; gateway-1 gets SIGTERM mid-run. Every
// bot that was on it is told to RECONNECT, logs in again, is sent to gateway-2 (never back to
// the draining one) and finds its same process, whose sequence goes on: the bot counts no
// error, no disconnect, nothing lost, reordered or duplicated. The drained gateway exits 0
// within its drain timeout, and a restarted gateway with the same node id takes logins again.
TEST_F(GatewayDrain, ClientsOfADrainedGatewayMoveToTheOtherLosingNothing) {
  start_two_gateways();
  const uint16_t g1 = cluster_->node_id("gateway-1");
  const uint16_t g2 = cluster_->node_id("gateway-2");
  constexpr int kPlayers = 60;
  ChildProcess bot;
  ASSERT_TRUE(bot.start(kBot, {"--name-server", cluster_->name_server_url(), "--players", std::to_string(kPlayers),
                               "--duration", "18", "--transports", "tcp,ws,udp", "--rooms", "3", "--rate", "5",
                               "--reconnects", "0", "--user-prefix", "drain", "--drain", "5", "--json",
                               "--progress"}));
  ASSERT_TRUE(bot.wait_for_output("in room 60/60", Millis(30000))) << bot.output();
  // How many players gateway-1 holds, once both gateways' heartbeats have counted them all.
  uint64_t on_g1 = 0, on_g2 = 0;
  ASSERT_TRUE(wait_until(
      [&] { return node_view(g1, &on_g1, nullptr) && node_view(g2, &on_g2, nullptr) && on_g1 + on_g2 == kPlayers; },
      Millis(10000)))
      << on_g1 << " + " << on_g2;
  ASSERT_GT(on_g1, 0u);
  std::printf("[ measured ] gateway-1 holds %llu players, gateway-2 %llu\n", static_cast<unsigned long long>(on_g1),
              static_cast<unsigned long long>(on_g2));

  const auto t0 = SteadyClock::now();
  ASSERT_TRUE(cluster_->signal("gateway-1", SIGTERM).ok());
  bool draining = false;
  ASSERT_TRUE(wait_until([&] { return node_view(g1, nullptr, &draining) && draining; }, Millis(kDrainNoticeMs)))
      << "the name server must see the drain before the first RECONNECT goes out";
  std::printf("[ measured ] the name server saw gateway-1 draining %.3f s after SIGTERM\n", seconds_since(t0));
  // From now on every login names the other gateway.
  for (int i = 0; i < 10; ++i) {
    Result<LoginResult> l = login_as("probe-" + std::to_string(i));
    ASSERT_TRUE(l.ok()) << l.status().to_string();
    EXPECT_EQ(l->gateway_id, g2) << "a login was sent to the draining gateway";
  }
  const int status = cluster_->wait_exit("gateway-1", kDrainTimeoutMs + 2000);
  const double exit_s = seconds_since(t0);
  EXPECT_TRUE(exited_zero(status)) << tools::LocalCluster::describe_exit(status);
  EXPECT_LT(exit_s, kDrainTimeoutMs / 1000.0) << "the drain must end before its deadline when clients leave";
  std::printf("[ measured ] gateway-1 drained %llu players and exited %.2f s after SIGTERM (notice %d ms, window %d ms)\n",
              static_cast<unsigned long long>(on_g1), exit_s, kDrainNoticeMs, kDrainMs);
  const std::string log = cluster_->log_text("gateway-1");
  EXPECT_NE(log.find("drained: " + std::to_string(on_g1) + " clients told to reconnect"), std::string::npos) << log;

  const int bot_status = bot.wait_exit(Millis(60000));
  const std::string out = bot.output();
  ASSERT_NE(bot_status, -1) << out;
  EXPECT_TRUE(WIFEXITED(bot_status) && WEXITSTATUS(bot_status) == 0) << out;
  rapidjson::Document d;
  ASSERT_TRUE(parse_summary(out, &d)) << out;
  EXPECT_STREQ(d["result"].GetString(), "PASS") << out;
  EXPECT_EQ(field(d, "errors"), 0u) << out;  // no disconnect, no failed login, connect or AUTH, no kick
  EXPECT_EQ(field(d, "lost"), 0u) << out;
  EXPECT_EQ(field(d, "reordered"), 0u) << out;
  EXPECT_EQ(field(d, "duplicated"), 0u) << out;
  EXPECT_EQ(field(d, "state_violations"), 0u) << out;
  EXPECT_EQ(field(d, "abandoned_by_failure"), 0u) << out;
  EXPECT_EQ(field(d, "gateway_reconnects"), on_g1) << out;
  EXPECT_EQ(field(d, "logins"), kPlayers + on_g1) << out;
  EXPECT_EQ(field(d, "same_process"), on_g1) << out;  // the process lived on and was found again
  EXPECT_EQ(field(d, "process_changes"), 0u) << out;
  EXPECT_EQ(field(d, "state_checks"), on_g1) << out;  // each rejoin checked position and score
  EXPECT_EQ(field(d, "players_joined"), static_cast<uint64_t>(kPlayers)) << out;
  std::printf("[ measured ] bot: %llu messages sent, %llu received, %llu abandoned by reconnect (in flight when a "
              "player left its connection), %llu gateway reconnects, 0 lost\n",
              static_cast<unsigned long long>(field(d, "msgs_sent")),
              static_cast<unsigned long long>(field(d, "msgs_received")),
              static_cast<unsigned long long>(field(d, "abandoned_by_reconnect")),
              static_cast<unsigned long long>(field(d, "gateway_reconnects")));

  // A gateway started again with the same node id is not left draining by its predecessor.
  ASSERT_TRUE(cluster_->restart("gateway-1").ok());
  EXPECT_TRUE(wait_until([&] { return node_view(g1, nullptr, &draining) && !draining; }, Millis(5000)));
  EXPECT_TRUE(login_to(g1, "after").ok());
}

// What a draining gateway does to each kind of client: a connection that has not sent its
// AUTH yet gets 503 for it (its ticket was issued before the drain), new TCP and WebSocket
// connections are refused, a UDP AUTH gets 503, and logged-in clients (TCP and UDP) get
// RECONNECT with the reason, can still play until they leave, and find their process again
// through the other gateway. The gateway exits 0 once they left, long before its timeout.
TEST_F(GatewayDrain, ADrainingGatewayRefusesNewClientsAndTellsLoggedInOnesToReconnect) {
  start_two_gateways();
  const uint16_t g1 = cluster_->node_id("gateway-1");
  const uint16_t g2 = cluster_->node_id("gateway-2");
  const auto ports = cluster_->gateway_ports(1);

  Result<LoginResult> tcp_login = login_to(g1, "tcp");
  ASSERT_TRUE(tcp_login.ok()) << tcp_login.status().to_string();
  auto tcp = GameClient::connect(Transport::kTcp, tcp_login->gateway_tcp);
  ASSERT_TRUE(tcp.ok());
  Result<std::string> tcp_pid = (*tcp)->auth(tcp_login->ticket);
  ASSERT_TRUE(tcp_pid.ok()) << tcp_pid.status().to_string();
  ASSERT_TRUE(ping(**tcp, 1));

  Result<LoginResult> udp_login = login_to(g1, "udp");
  ASSERT_TRUE(udp_login.ok()) << udp_login.status().to_string();
  auto udp = GameClient::connect(Transport::kUdp, udp_login->gateway_udp);
  ASSERT_TRUE(udp.ok());
  ASSERT_TRUE((*udp)->auth(udp_login->ticket).ok());

  Result<LoginResult> late_login = login_to(g1, "late");  // AUTH after the drain began
  ASSERT_TRUE(late_login.ok());
  auto late = GameClient::connect(Transport::kTcp, late_login->gateway_tcp);
  ASSERT_TRUE(late.ok());
  Result<LoginResult> late_udp_login = login_to(g1, "lateudp");
  ASSERT_TRUE(late_udp_login.ok());

  const auto t0 = SteadyClock::now();
  ASSERT_TRUE(cluster_->signal("gateway-1", SIGTERM).ok());
  bool draining = false;
  ASSERT_TRUE(wait_until([&] { return node_view(g1, nullptr, &draining) && draining; }, Millis(kDrainNoticeMs)));

  Result<std::string> refused = (*late)->auth(late_login->ticket);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("503"), std::string::npos) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("draining"), std::string::npos) << refused.status().to_string();
  EXPECT_FALSE(GameClient::connect(Transport::kTcp, "127.0.0.1:" + std::to_string(ports.tcp), Millis(1000)).ok());
  EXPECT_FALSE(GameClient::connect(Transport::kWebSocket, "127.0.0.1:" + std::to_string(ports.ws), Millis(1000)).ok());
  auto late_udp = GameClient::connect(Transport::kUdp, late_udp_login->gateway_udp);
  ASSERT_TRUE(late_udp.ok());
  Result<std::string> udp_refused = (*late_udp)->auth(late_udp_login->ticket, Millis(2000));
  ASSERT_FALSE(udp_refused.ok());
  EXPECT_NE(udp_refused.status().message().find("503"), std::string::npos) << udp_refused.status().to_string();

  // The logged-in clients are told within the notice and the window.
  ASSERT_TRUE(await_reconnect(**tcp, Millis(kDrainNoticeMs + kDrainMs + 1000)));
  EXPECT_EQ((*tcp)->reconnect_reason(), "gateway draining");
  ASSERT_TRUE(await_reconnect(**udp, Millis(kDrainNoticeMs + kDrainMs + 1000)));
  std::printf("[ measured ] both clients told to reconnect within %.2f s of SIGTERM\n", seconds_since(t0));
  EXPECT_TRUE(ping(**tcp, 2)) << "the connection relays on until the client leaves";

  // Log in again: the other gateway, the same process.
  Result<LoginResult> again = login_as(tcp_login->user);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->gateway_id, g2);
  auto moved = GameClient::connect(Transport::kTcp, again->gateway_tcp);
  ASSERT_TRUE(moved.ok());
  (*tcp)->close();
  Result<std::string> moved_pid = (*moved)->auth(again->ticket);
  ASSERT_TRUE(moved_pid.ok()) << moved_pid.status().to_string();
  EXPECT_EQ(*moved_pid, *tcp_pid) << "the user's process must live on through its gateway's drain";
  EXPECT_TRUE(ping(**moved, 3));
  (*udp)->close();

  const int status = cluster_->wait_exit("gateway-1", kDrainTimeoutMs);
  EXPECT_TRUE(exited_zero(status)) << tools::LocalCluster::describe_exit(status);
  const double exit_s = seconds_since(t0);
  EXPECT_LT(exit_s, kDrainTimeoutMs / 1000.0 - 3) << "the gateway waits for its clients, not for its deadline";
  std::printf("[ measured ] gateway-1 exited %.2f s after SIGTERM, once its two clients had left\n", exit_s);
}

// The drain is bounded: a client that ignores RECONNECT is closed at --drain-timeout-ms (exit
// 0), and a second SIGTERM stops the gateway at once.
TEST_F(GatewayDrain, ADrainEndsAtItsTimeoutOrAtASecondSignal) {
  start_two_gateways({"--drain-notice-ms", "200", "--drain-ms", "300", "--drain-timeout-ms", "3000"});
  const uint16_t g1 = cluster_->node_id("gateway-1");
  const uint16_t g2 = cluster_->node_id("gateway-2");
  for (auto [service, id, sig2] : {std::tuple{"gateway-1", g1, false}, std::tuple{"gateway-2", g2, true}}) {
    SCOPED_TRACE(service);
    Result<LoginResult> l = login_to(id, std::string("stubborn-") + service);
    ASSERT_TRUE(l.ok()) << l.status().to_string();
    auto c = GameClient::connect(Transport::kTcp, l->gateway_tcp);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->auth(l->ticket).ok());
    const auto t0 = SteadyClock::now();
    ASSERT_TRUE(cluster_->signal(service, SIGTERM).ok());
    ASSERT_TRUE(await_reconnect(**c, Millis(3000)));
    if (sig2) {
      ASSERT_TRUE(cluster_->signal(service, SIGTERM).ok());
    }
    const int status = cluster_->wait_exit(service, 6000);
    const double s = seconds_since(t0);
    EXPECT_TRUE(exited_zero(status)) << tools::LocalCluster::describe_exit(status);
    if (sig2) {
      EXPECT_LT(s, 2.0) << "a second signal stops at once";
    } else {
      EXPECT_GE(s, 2.9) << "the client never left: the drain waits for its deadline";
      EXPECT_LT(s, 5.0);
    }
    std::printf("[ measured ] %s exited %.2f s after SIGTERM (%s)\n", service, s,
                sig2 ? "second SIGTERM" : "drain timeout 3 s");
    // The client is cut off (it never left on its own).
    EXPECT_TRUE(wait_until(
        [&] {
          auto f = (*c)->receive(Millis(100));
          return !f.ok() && f.status().code() == Code::kUnavailable;
        },
        Millis(3000)));
  }
}

}  // namespace
}  // namespace behavior::testing
