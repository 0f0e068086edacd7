// s2s_flood_test.cpp — connections to a node's s2s port that never prove the cluster secret.
// Before: each cost ~5.6 KB with no limit (a 64 KiB read buffer per link), 17k of them took
// a node from 13 MB to 98 MB (130 MB kept afterwards), and the flood wrote 35k warnings in
// 60 s. Now handshakes in progress are bounded per address (64, more are refused) and in all
// (128, then the oldest gives way), an accepted link has 3 s to prove the secret, links share
// one read buffer, and the warnings are throttled (behavior_log_lines_suppressed_total).
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "attack_util.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "redis_server.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

// True while the server keeps the connection (what it sent is read and dropped).
bool held(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

int count_held(const std::vector<int>& fds) {
  int n = 0;
  for (int fd : fds) n += held(fd) ? 1 : 0;
  return n;
}

int count_lines(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

class S2sFlood : public LocalClusterTest {};

TEST_F(S2sFlood, ConnectionsThatNeverProveTheSecretAreBoundedAndTheClusterPlaysOn) {
  start(1, 1, {"--login-rate", "0"});
  const std::string node = cluster_->redis_prefix() + "node:" + std::to_string(cluster_->node_id("local_server-1"));
  const std::string s2s = redis_command(redis_port(), "", {"HGET", node, "s2s"});
  ASSERT_NE(s2s.find(':'), std::string::npos) << s2s;
  const int port = std::stoi(s2s.substr(s2s.rfind(':') + 1));
  const pid_t server = cluster_->pid("local_server-1");
  const double before = rss_mib(server);
  const int fds_before = open_fds(server);

  // 20 addresses x 100 connections, none of which says anything.
  std::vector<int> fds;
  for (int a = 0; a < 20; ++a) {
    for (int i = 0; i < 100; ++i) {
      int fd = tcp_connect(port, "127.0.0." + std::to_string(10 + a));
      if (fd >= 0) fds.push_back(fd);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int kept = count_held(fds);
  const double during = rss_mib(server);
  std::printf("[ measured ] %zu connections opened, %d held by the node; RSS %.1f MiB before, %.1f during\n",
              fds.size(), kept, before, during);
  EXPECT_LE(kept, 128) << "handshakes in progress are not bounded";
  EXPECT_GT(kept, 0);
  // The real cluster goes on meanwhile: a player logs in and is attached to its process on
  // this node, through the gateway's s2s link.
  auto l = behavior::login("127.0.0.1", cluster_->name_server_port(), "bystander");
  ASSERT_TRUE(l.ok()) << l.status().to_string();
  auto c = GameClient::connect(GameClient::Transport::kTcp, l->gateway_tcp);
  ASSERT_TRUE(c.ok());
  auto pid = (*c)->auth(l->ticket);
  EXPECT_TRUE(pid.ok()) << pid.status().to_string();
  // Every handshake is given up within 3 s: the node's descriptors come back.
  EXPECT_TRUE(wait_until([&] { return open_fds(server) <= fds_before + 4; }, Millis(8000)))
      << open_fds(server) << " descriptors open, " << fds_before << " before the flood";
  for (int fd : fds) ::close(fd);
  EXPECT_LT(during - before, 16.0) << "memory grew with connections that never proved the secret";
  // The warnings were throttled: a few lines per second, not one per connection.
  const std::string log = cluster_->log_dir() + "/local_server-1.log";
  const int warnings = count_lines(log, "warning node=1 s2s:");
  std::printf("[ measured ] %d s2s log lines for %zu refused connections\n", warnings, fds.size());
  EXPECT_LT(warnings, 200);
}

}  // namespace
}  // namespace behavior::testing
