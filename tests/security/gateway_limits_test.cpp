// gateway_limits_test.cpp — connections that never log in must not take the gateway's
// descriptors from real players. Before: --max-connections defaulted to 1,000,000 while the
// process could open 20,000, so 20,000 connections that never authenticated left real
// clients reset at accept. Now the default follows RLIMIT_NOFILE less a reserve for the
// cluster's own sockets, one address holds at most --max-unauth-per-address connections
// waiting for AUTH, and under pressure those get less time to authenticate.
//
// The attackers use other loopback addresses (127.0.0.3, ...) than the real player
// (127.0.0.1), against a whole local cluster started as real processes.
#include <behavior/client_frame.h>
#include <behavior/game_client.h>
#include <behavior/message.h>
#include <behavior/websocket.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "attack_util.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

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

// Heartbeats and WebSocket pings count toward the frame rate limit (before: 3,000 pings
// got 3,000 pongs, whatever --frame-rate said).
TEST_F(GatewayLimits, HeartbeatsAndWebSocketPingsAreRateLimitedLikeFrames) {
  start_with_gateway({"--frame-rate", "50", "--frame-burst", "100"});
  auto l = behavior::login("127.0.0.1", cluster_->name_server_port(), "pinger");
  ASSERT_TRUE(l.ok()) << l.status().to_string();
  auto tcp = GameClient::connect(GameClient::Transport::kTcp, l->gateway_tcp);
  ASSERT_TRUE(tcp.ok());
  ASSERT_TRUE((*tcp)->auth(l->ticket).ok());
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE((*tcp)->send(proto::kHeartbeat, "hb").ok());
  int heartbeats = 0, limited = 0;
  for (;;) {
    auto f = (*tcp)->receive(Millis(1000));
    if (!f.ok()) break;
    if (f->proto_id == proto::kHeartbeat) ++heartbeats;
    if (f->proto_id == proto::kError) ++limited;
  }
  std::printf("[ measured ] 3000 heartbeats at 50/s (burst 100): %d answered, %d rate-limit errors\n", heartbeats,
              limited);
  EXPECT_LT(heartbeats, 1000);
  EXPECT_GT(limited, 0);

  auto l2 = behavior::login("127.0.0.1", cluster_->name_server_port(), "ws-pinger");
  ASSERT_TRUE(l2.ok());
  auto ws = GameClient::connect(GameClient::Transport::kWebSocket, l2->gateway_ws);
  ASSERT_TRUE(ws.ok());
  ASSERT_TRUE((*ws)->auth(l2->ticket).ok());
  std::string pings;
  for (int i = 0; i < 3000; ++i) ws::append_frame(ws::Opcode::kPing, "p", true, &pings);
  ASSERT_TRUE((*ws)->send_raw(pings).ok());
  ws::FrameDecoder decoder(false, 1 << 20);
  int pongs = 0;
  char buf[65536];
  for (;;) {
    pollfd p{(*ws)->fd(), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) break;
    ssize_t n = ::recv((*ws)->fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    Status st = decoder.feed(buf, static_cast<size_t>(n), [&](ws::Opcode op, std::string_view) {
      if (op == ws::Opcode::kPong) ++pongs;
      return true;
    });
    if (!st.ok()) break;
  }
  std::printf("[ measured ] 3000 WebSocket pings at 50/s (burst 100): %d pongs\n", pongs);
  EXPECT_GT(pongs, 0);
  EXPECT_LT(pongs, 1000);
}

// A client that sends its first frame in the same packet as its upgrade request is heard
// (before: the bytes after the request were dropped, and the AUTH never arrived).
TEST_F(GatewayLimits, FramesInTheSamePacketAsTheWebSocketUpgradeAreRead) {
  start_with_gateway({});
  auto l = behavior::login("127.0.0.1", cluster_->name_server_port(), "eager");
  ASSERT_TRUE(l.ok());
  const int fd = tcp_connect(cluster_->gateway_ports(1).ws);
  ASSERT_GE(fd, 0);
  std::string packet = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: " + ws::new_client_key() + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  std::string frame;
  append_client_frame(proto::kAuth, l->ticket, &frame);
  ws::append_frame(ws::Opcode::kBinary, std::string_view(frame).substr(4), true, &packet);
  ASSERT_TRUE(send_all(fd, packet));
  std::string got;
  char buf[4096];
  size_t header_end = std::string::npos;
  bool authed = false;
  ws::FrameDecoder decoder(false, 1 << 20);
  while (!authed) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = got.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      ASSERT_EQ(got.rfind("HTTP/1.1 101", 0), 0u) << got;
      got.erase(0, header_end + 4);
    }
    (void)decoder.feed(got.data(), got.size(), [&](ws::Opcode op, std::string_view payload) {
      uint32_t proto = 0;
      std::string_view body;
      if (op == ws::Opcode::kBinary && split_client_payload(payload, &proto, &body) && proto == proto::kAuth) {
        authed = true;
      }
      return true;
    });
    got.clear();
  }
  ::close(fd);
  EXPECT_TRUE(authed) << "the AUTH frame behind the upgrade request was not answered";
}

}  // namespace
}  // namespace behavior::testing
