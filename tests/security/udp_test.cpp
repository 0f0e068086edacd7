// udp_test.cpp — the gateway's UDP endpoint against a hostile sender. Before:
//   - a frame over the 64 KiB limit was accepted over KCP (TCP and WebSocket refuse it);
//   - a 5-byte datagram from any source got 42 bytes back in two datagrams (an 8.4x
//     reflection for a forged source address);
//   - a replayed AUTH from another port made the real client's resent AUTH fail with 401.
// Now the limit holds on every transport; nothing made before AUTH succeeds answers with
// more bytes than it was sent; a ticket already being used from one address is ignored from
// another. And a KCP datagram naming a live session from another address gets silence, as
// one naming no session does: a scanner cannot tell live sessions.
//
// Raw UDP sockets on 127.0.0.1 play the attacker; the real players use GameClient.
#include <arpa/inet.h>
#include <behavior/client_frame.h>
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "client_frames.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

// A UDP socket on 127.0.0.1 aimed at the gateway's UDP port.
class RawUdp {
 public:
  explicit RawUdp(int port) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    to_.sin_family = AF_INET;
    to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to_.sin_port = htons(static_cast<uint16_t>(port));
  }
  ~RawUdp() { ::close(fd_); }
  void send(std::string_view d) {
    ::sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to_), sizeof to_);
  }
  // Every datagram that arrives within `ms` of quiet.
  std::vector<std::string> receive_all(int ms) {
    std::vector<std::string> got;
    char buf[65536];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, ms) <= 0) break;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0) break;
      got.emplace_back(buf, static_cast<size_t>(n));
    }
    return got;
  }

 private:
  int fd_;
  sockaddr_in to_{};
};

size_t total_bytes(const std::vector<std::string>& ds) {
  size_t n = 0;
  for (auto& d : ds) n += d.size();
  return n;
}

// A KCP push segment for `conv` (the 24-byte header, then the data).
std::string kcp_push(uint32_t conv, std::string_view data) {
  std::string s(24, '\0');
  std::memcpy(&s[0], &conv, 4);
  s[4] = 81;  // push
  s[6] = 32;  // window
  uint32_t len = static_cast<uint32_t>(data.size());
  std::memcpy(&s[20], &len, 4);
  s.append(data);
  return s;
}

class UdpAttack : public LocalClusterTest {
 protected:
  void SetUp() override { start(1, 1, {"--login-rate", "0"}); }
  int udp_port() const { return cluster_->gateway_ports(1).udp; }
  LoginResult login(const std::string& user) {
    auto r = behavior::login("127.0.0.1", cluster_->name_server_port(), user);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : LoginResult{};
  }
};

TEST_F(UdpAttack, AFrameOverTheLimitIsRefusedOverKcpAsOverTcp) {
  LoginResult l = login("big");
  auto c = GameClient::connect(GameClient::Transport::kUdp, l.gateway_udp);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->auth(l.ticket).ok());
  ASSERT_TRUE((*c)->send(1000, std::string(70 * 1024, 'x')).ok());
  auto f = (*c)->receive(Millis(5000));
  ASSERT_TRUE(f.ok()) << "no answer to a 70 KiB frame: " << f.status().to_string();
  EXPECT_EQ(error_code(*f), 400u) << describe(*f);
  EXPECT_NE(f->body.find("over the limit"), std::string::npos) << describe(*f);
}

TEST_F(UdpAttack, AnUnauthenticatedDatagramGetsNoMoreBytesBackThanItSent) {
  RawUdp attacker(udp_port());
  const std::string tiny = udp_control(kUdpAuth, 0, "");  // 5 bytes
  attacker.send(tiny);
  const auto tiny_back = attacker.receive_all(500);
  EXPECT_LE(total_bytes(tiny_back), tiny.size()) << tiny_back.size() << " datagrams";
  // A forged ticket of 120 bytes: an error may come back, never more than 120 bytes.
  const std::string forged = udp_control(kUdpAuth, 0, std::string(115, 'A'));
  attacker.send(forged);
  const auto forged_back = attacker.receive_all(500);
  EXPECT_LE(total_bytes(forged_back), forged.size()) << forged_back.size() << " datagrams";
  // 1000 of them leave nothing behind: the gateway still serves a real player.
  for (int i = 0; i < 1000; ++i) attacker.send(forged);
  LoginResult l = login("after-flood");
  auto c = GameClient::connect(GameClient::Transport::kUdp, l.gateway_udp);
  ASSERT_TRUE(c.ok());
  auto pid = (*c)->auth(l.ticket);
  EXPECT_TRUE(pid.ok()) << pid.status().to_string();
}

TEST_F(UdpAttack, ALiveSessionsConvFromAnotherAddressGetsTheSilenceAnUnknownOneGets) {
  LoginResult l = login("victim");
  auto victim = GameClient::connect(GameClient::Transport::kUdp, l.gateway_udp);
  ASSERT_TRUE(victim.ok());
  ASSERT_TRUE((*victim)->auth(l.ticket).ok());
  const uint32_t live = (*victim)->conv();
  ASSERT_NE(live, 0u);

  RawUdp scanner(udp_port());
  scanner.send(udp_control(kUdpAuth, 0, std::string(200, 'B')));  // a refused AUTH first
  (void)scanner.receive_all(500);
  scanner.send(kcp_push(live, "probe"));
  scanner.send(udp_control(kUdpBye, live, ""));
  const auto live_back = scanner.receive_all(500);
  scanner.send(kcp_push(live ^ 0x5a5a5a5a, "probe"));
  const auto unknown_back = scanner.receive_all(500);
  EXPECT_EQ(live_back.size(), 0u) << "a live conv answered: the scanner learns it is live";
  EXPECT_EQ(unknown_back.size(), 0u);
  // And the victim's session did not notice.
  ASSERT_TRUE((*victim)->send(proto::kHeartbeat, "").ok());
  auto f = (*victim)->receive(Millis(3000));
  EXPECT_TRUE(f.ok() && f->proto_id == proto::kHeartbeat) << (f.ok() ? describe(*f) : f.status().to_string());
}

TEST_F(UdpAttack, AReplayedAuthFromAnotherPortDoesNotSpoilTheRealClientsResend) {
  LoginResult l = login("resender");
  const std::string auth = udp_control(kUdpAuth, 0, l.ticket);
  RawUdp real(udp_port()), replayer(udp_port());
  auto auth_ok = [](const std::vector<std::string>& ds) {
    for (auto& d : ds) {
      if (d.size() > 9 && d.compare(0, 5, std::string("\0\0\0\0\1", 5)) == 0) return true;
    }
    return false;
  };
  real.send(auth);
  std::vector<std::string> first;
  ASSERT_TRUE(wait_until([&] {
    auto got = real.receive_all(200);
    first.insert(first.end(), got.begin(), got.end());
    return auth_ok(first);
  }, Millis(5000)));
  replayer.send(auth);  // a copy of the datagram, from another port
  const auto replay_back = replayer.receive_all(500);
  EXPECT_TRUE(replay_back.empty()) << replay_back.size() << " datagrams answered the replay";
  real.send(auth);  // the real client did not hear the first answer: it resends
  const auto resent_back = real.receive_all(500);
  EXPECT_TRUE(auth_ok(resent_back)) << "the real client's resent AUTH was refused";
  for (auto& d : resent_back) {
    if (d.size() >= 5 && d[4] == kUdpError) ADD_FAILURE() << "an error to the real client";
  }
}

}  // namespace
}  // namespace behavior::testing
