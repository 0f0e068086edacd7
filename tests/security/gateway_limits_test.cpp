// gateway_limits_test.cpp — connections that never log in must not take the gateway's
// descriptors from real players. Before: --max-connections defaulted to 1,000,000 while the
// process could open 20,000, so 20,000 connections that never authenticated left real
// clients reset at accept. Now the default follows RLIMIT_NOFILE less a reserve for the
// cluster's own sockets, one address holds at most --max-unauth-per-address connections
// waiting for AUTH, and under pressure those get less time to authenticate.
//
// The attackers use other loopback addresses (127.0.0.3, ...) than the real player
// (127.0.0.1), against a whole local cluster started as real processes.
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "local_cluster_test.h"
#include "net_util.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

std::vector<int> open_idle(int port, const std::string& from, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = tcp_connect(port, from);
    if (fd >= 0) fds.push_back(fd);
  }
  return fds;
}

int still_open(const std::vector<int>& fds) {
  int open = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) ++open;
  }
  return open;
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

class GatewayLimits : public LocalClusterTest {
 protected:
  void start_with_gateway(std::vector<std::string> gateway_args) {
    tools::LocalClusterOptions o = options(1, 1);
    o.gateway_args = std::move(gateway_args);
    o.name_server_args = {"--login-rate", "0"};
    start(std::move(o));
  }

  // A real player from 127.0.0.1: logs in, connects over `transport`, authenticates.
  Status play(GameClient::Transport transport) {
    auto login = behavior::login("127.0.0.1", cluster_->name_server_port(), "player");
    if (!login.ok()) return login.status();
    const std::string& address = transport == GameClient::Transport::kTcp ? login->gateway_tcp : login->gateway_ws;
    auto client = GameClient::connect(transport, address);
    if (!client.ok()) return client.status();
    auto pid = (*client)->auth(login->ticket);
    return pid.ok() ? Status() : pid.status();
  }

  std::string gateway_log() const {
    std::ifstream in(cluster_->log_dir() + "/gateway-1.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

TEST_F(GatewayLimits, OneAddressHoldsFewConnectionsWaitingForAuthAndPlayersGetIn) {
  start_with_gateway({"--max-connections", "400", "--max-unauth-per-address", "50", "--auth-timeout-ms", "30000"});
  const auto ports = cluster_->gateway_ports(1);
  std::vector<int> tcp = open_idle(ports.tcp, "127.0.0.3", 200);
  std::vector<int> ws = open_idle(ports.ws, "127.0.0.4", 200);
  ASSERT_TRUE(wait_until([&] { return still_open(tcp) <= 50 && still_open(ws) <= 50; }, Millis(5000)))
      << still_open(tcp) << " " << still_open(ws);
  std::printf("[ measured ] 127.0.0.3 holds %d of 200 TCP connections, 127.0.0.4 holds %d of 200 WebSocket ones\n",
              still_open(tcp), still_open(ws));
  EXPECT_EQ(still_open(tcp), 50);
  EXPECT_EQ(still_open(ws), 50);
  // The flood takes 100 of 400 slots; real players get in over both stream transports.
  Status tcp_play = play(GameClient::Transport::kTcp);
  EXPECT_TRUE(tcp_play.ok()) << tcp_play.to_string();
  Status ws_play = play(GameClient::Transport::kWebSocket);
  EXPECT_TRUE(ws_play.ok()) << ws_play.to_string();
  // An address's count goes down as its connections leave: it may open as many again.
  close_all(tcp);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<int> again = open_idle(ports.tcp, "127.0.0.3", 50);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(still_open(again), 50);
  close_all(again);
  close_all(ws);
}

TEST_F(GatewayLimits, UnderPressureConnectionsWaitingForAuthGetLessTime) {
  // 30 waiting for AUTH is more than a quarter of 100 slots: pressure; 500 ms, not 30 s.
  start_with_gateway({"--max-connections", "100", "--max-unauth-per-address", "1000", "--auth-timeout-ms", "30000",
                      "--auth-timeout-pressure-ms", "500"});
  std::vector<int> fds = open_idle(cluster_->gateway_ports(1).tcp, "127.0.0.3", 30);
  ASSERT_EQ(still_open(fds), 30);
  EXPECT_TRUE(wait_until([&] { return still_open(fds) == 0; }, Millis(5000)))
      << still_open(fds) << " still open: no shorter AUTH deadline under pressure";
  close_all(fds);
  Status s = play(GameClient::Transport::kTcp);
  EXPECT_TRUE(s.ok()) << s.to_string();
}

TEST_F(GatewayLimits, TheDefaultMaximumFollowsTheDescriptorLimitLessAReserve) {
  start_with_gateway({});
  const std::string log = gateway_log();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(at most (\d+) client connections \(descriptor limit (\d+)\))")))
      << log;
  const long held = std::stol(m[1]), nofile = std::stol(m[2]);
  std::printf("[ measured ] at most %ld connections under a descriptor limit of %ld\n", held, nofile);
  EXPECT_LT(held, nofile);
  EXPECT_GE(nofile - held, 64) << "no reserve for s2s links and Redis";
}

}  // namespace
}  // namespace behavior::testing
