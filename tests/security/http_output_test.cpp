// http_output_test.cpp — a client that pipelines HTTP requests and never reads the answers
// must not grow a server's memory. The pipelining limit counted only unanswered requests;
// answers already queued for writing had no cap, so such a client took the name server
// from 148 MB to 3.43 GB in 20 s (and every node's /metrics port, the same HTTP code, to
// hundreds of MB). Now the server stops reading a connection whose answers wait unread,
// cuts it past a hard limit, and other clients are served meanwhile.
//
// The attack runs against the name server (its dashboard page, ~40 KB an answer) and a
// local server's /metrics port, on a whole local cluster started as real processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <atomic>
#include <fstream>
#include <thread>

#include "attack_util.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "redis_server.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

struct Attack {
  uint64_t bytes_sent = 0;  // request bytes the server's socket took
  bool cut = false;         // the server closed the connection
  double peak_rss_mib = 0;  // the server's highest RSS while it lasted
};

// Pipelines `request` as fast as the socket takes it for `seconds`, never reading.
Attack pipeline_without_reading(int port, pid_t server, const std::string& request, double seconds) {
  Attack a;
  int fd = tcp_connect(port);
  if (fd < 0) return a;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string batch;
  while (batch.size() < 64 * 1024) batch += request;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  auto next_sample = std::chrono::steady_clock::now();
  size_t off = 0;
  while (std::chrono::steady_clock::now() < end) {
    ssize_t n = ::send(fd, batch.data() + off, batch.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      a.bytes_sent += static_cast<uint64_t>(n);
      off = (off + static_cast<size_t>(n)) % batch.size();
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      a.cut = true;  // EPIPE / ECONNRESET: the server cut us
      break;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (std::chrono::steady_clock::now() >= next_sample) {
      a.peak_rss_mib = std::max(a.peak_rss_mib, rss_mib(server));
      next_sample += std::chrono::milliseconds(50);
    }
  }
  a.peak_rss_mib = std::max(a.peak_rss_mib, rss_mib(server));
  ::close(fd);
  return a;
}

class HttpOutput : public LocalClusterTest {
 protected:
  void SetUp() override { start(1, 1); }

  // The attack must leave the server's memory where it was (within `slack_mib`), answer
  // another client meanwhile, and give the memory back once the attacker has gone.
  void expect_bounded(const std::string& what, int port, pid_t server, const std::string& path) {
    ASSERT_GT(server, 0);
    const double before = rss_mib(server);
    std::atomic<bool> done{false};
    std::atomic<int> answered{0}, asked{0};
    std::thread other([&] {  // another client's health checks during the attack
      while (!done) {
        ++asked;
        if (!http_get(port, path).empty()) ++answered;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: attacker\r\n\r\n";
    Attack a = pipeline_without_reading(port, server, request, 4.0);
    done = true;
    other.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double after = rss_mib(server);
    std::printf("[ measured ] %s: RSS %.1f MiB before, peak %.1f MiB during (%.1f MiB of requests taken%s), "
                "%.1f MiB after; %d/%d other requests answered\n",
                what.c_str(), before, a.peak_rss_mib, a.bytes_sent / 1048576.0, a.cut ? ", then cut" : "", after,
                answered.load(), asked.load());
    constexpr double kSlackMib = 48;
    EXPECT_LT(a.peak_rss_mib - before, kSlackMib) << what << ": output queued for a client that never reads";
    EXPECT_LT(after - before, kSlackMib) << what << ": memory kept after the attacker left";
    // The server stopped taking requests it could not answer: a few MiB, not hundreds.
    EXPECT_LT(a.bytes_sent, 64u * 1024 * 1024) << what;
    EXPECT_EQ(answered.load(), asked.load()) << what << ": another client went unanswered";
    EXPECT_FALSE(http_get(port, path).empty()) << what << " answers after the attack";
  }

};

TEST_F(HttpOutput, NameServerBoundsAnswersAClientNeverReads) {
  expect_bounded("name server GET /", cluster_->name_server_port(), cluster_->pid("name_server"), "/");
}

TEST_F(HttpOutput, NodeMetricsPortBoundsAnswersAClientNeverReads) {
  const std::string at = redis_command(
      redis_port(), "",
      {"HGET", cluster_->redis_prefix() + "node:" + std::to_string(cluster_->node_id("local_server-1")), "metrics"});
  ASSERT_NE(at.find(':'), std::string::npos) << at;
  expect_bounded("local server GET /metrics", std::stoi(at.substr(at.rfind(':') + 1)), cluster_->pid("local_server-1"),
                 "/metrics");
}

}  // namespace
}  // namespace behavior::testing
