// name_server_limits_test.cpp — one address must not starve the name server's other clients.
// Before: 10,100 idle connections from one address refused 52 of 57 health checks from
// another (every slot taken); 400 wrong-password logins from 10 addresses went unthrottled,
// and a correct login among them got no answer (the idle timer cut it while it waited for
// the password pool). Now connections are limited per address with slots kept for other
// addresses, a connection that starts no request is cut sooner, the password pool's queue
// is bounded (503 + Retry-After), and wrong passwords back off per user and per address.
//
// Other clients are played from other loopback addresses (127.0.0.2, ...), on a whole local
// cluster started as real processes.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "attack_util.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

int health_checks(int port, const std::string& from, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    HttpClient c(port, from);
    if (c.request("GET", "/healthz").status == 200) ++ok;
  }
  return ok;
}

std::string credentials(const std::string& user, const std::string& password) {
  return "{\"user\":\"" + user + "\",\"password\":\"" + password + "\"}";
}

std::string header(const HttpReply& r, const std::string& name) {
  size_t at = r.headers.find(name + ": ");
  if (at == std::string::npos) return "";
  size_t end = r.headers.find("\r\n", at);
  return r.headers.substr(at + name.size() + 2, end - at - name.size() - 2);
}

class NameServerLimits : public LocalClusterTest {};

TEST_F(NameServerLimits, OneAddressCannotTakeEverySlotAndOthersAreServed) {
  start(1, 1,
          {"--http-max-connections", "300", "--http-max-per-address", "200", "--http-reserved", "20",
           "--http-first-request-ms", "60000"});
  const int port = cluster_->name_server_port();

  // One address: held to its own limit, however many it opens.
  std::vector<int> a = open_idle(port, "127.0.0.3", 400);
  ASSERT_TRUE(wait_until([&] { return still_open(a) <= 200; }, Millis(5000))) << still_open(a);
  // A second address: it gets slots only until the reserve for others is reached.
  std::vector<int> b = open_idle(port, "127.0.0.4", 400);
  ASSERT_TRUE(wait_until([&] { return still_open(a) + still_open(b) <= 300 - 20 + 1; }, Millis(5000)));
  const int held_a = still_open(a), held_b = still_open(b);
  std::printf("[ measured ] 127.0.0.3 holds %d of 400, 127.0.0.4 holds %d of 400\n", held_a, held_b);
  EXPECT_GE(held_a, 150);  // the limits cut the flood, not every connection
  EXPECT_GT(held_b, 0);

  // A third address is still served, every time.
  EXPECT_EQ(health_checks(port, "127.0.0.2", 30), 30);
  const std::string metrics = http_get(port, "/metrics");
  EXPECT_NE(metrics.find("behavior_http_refused_total{limit=\"per_address\"}"), std::string::npos) << metrics;

  // The slots come back when the flood leaves.
  close_all(a);
  close_all(b);
  std::vector<int> again = open_idle(port, "127.0.0.3", 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(still_open(again), 100);
  close_all(again);
}

TEST_F(NameServerLimits, AConnectionThatStartsNoRequestIsCutSooner) {
  start(1, 1, {"--http-first-request-ms", "300", "--http-idle-ms", "60000"});
  const int port = cluster_->name_server_port();
  int silent = tcp_connect(port, "127.0.0.3");
  ASSERT_GE(silent, 0);
  EXPECT_TRUE(closed_by_peer(silent)) << "a connection that sent nothing was kept";
  ::close(silent);
  // One that asked something is idle-timed (60 s here), not cut at 300 ms.
  HttpClient talker(port, "127.0.0.3");
  ASSERT_EQ(talker.request("GET", "/healthz").status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(talker.request("GET", "/healthz").status, 200);
  EXPECT_NE(http_get(port, "/metrics").find("behavior_http_timed_out_total 1"), std::string::npos);
}

TEST_F(NameServerLimits, WrongPasswordFloodBacksOffAndARealLoginGetsIn) {
  tools::LocalClusterOptions o = LocalClusterTest::options(1, 1);
  o.auth = "accounts";
  // A short idle timeout: a login waiting for the password pool must not be cut by it.
  o.name_server_args = {"--login-rate", "0", "--pbkdf2-iterations", "20000", "--password-queue", "4",
                        "--http-idle-ms", "500"};
  start(o);
  const int port = cluster_->name_server_port();
  {
    HttpClient c(port, "127.0.0.2");
    ASSERT_EQ(c.request("POST", "/v1/register", credentials("real", "the right one")).status, 201);
    ASSERT_EQ(c.request("POST", "/v1/register", credentials("victim", "unguessable")).status, 201);
  }

  // 400 wrong passwords from 10 addresses, 40 each, all at once.
  std::mutex mu;
  std::map<int, int> statuses;
  int busy_without_retry_after = 0;
  std::vector<std::thread> attackers;
  for (int i = 0; i < 10; ++i) {
    attackers.emplace_back([&, i] {
      HttpClient c(port, "127.0.0." + std::to_string(10 + i));
      for (int k = 0; k < 40; ++k) {
        const std::string user = k % 2 ? "victim" : "guess" + std::to_string(i * 100 + k);
        HttpReply r;
        do {  // a busy pool (503) is asked again soon: every attempt ends as 401 or 429
          r = c.request("POST", "/v1/login", credentials(user, "wrong" + std::to_string(k)));
          std::lock_guard lock(mu);
          ++statuses[r.status];
          if ((r.status == 503 || r.status == 429) && header(r, "Retry-After").empty()) ++busy_without_retry_after;
          if (r.status == 503) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } while (r.status == 503);
        if (r.status == 0) break;
      }
    });
  }
  // Meanwhile a real player logs in, honouring Retry-After when the pool is busy.
  int real_status = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    HttpClient c(port, "127.0.0.2");
    HttpReply r = c.request("POST", "/v1/login", credentials("real", "the right one"));
    real_status = r.status;
    if (r.status != 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& t : attackers) t.join();
  std::printf("[ measured ] 400 wrong passwords:");
  for (auto& [status, n] : statuses) std::printf(" %d×%d", n, status);
  std::printf("\n");
  EXPECT_EQ(real_status, 200) << "the real player's login";
  EXPECT_EQ(statuses[0], 0) << "connections cut while their logins waited";
  EXPECT_EQ(statuses[200], 0);
  // 20 free failures per address; the 21st starts the backoff: at most 210 reach the hash.
  EXPECT_LE(statuses[401], 210) << "wrong passwords did not back off";
  EXPECT_EQ(statuses[401] + statuses[429], 400);
  EXPECT_GT(statuses[503], 0) << "the password pool's queue was never full (4 slots, 10 clients at once)";
  EXPECT_EQ(busy_without_retry_after, 0);
  // The victim is blocked for a while, with a Retry-After that says how long.
  HttpClient c(port, "127.0.0.2");
  HttpReply blocked = c.request("POST", "/v1/login", credentials("victim", "unguessable"));
  EXPECT_EQ(blocked.status, 429);
  EXPECT_FALSE(header(blocked, "Retry-After").empty()) << blocked.headers;
}

}  // namespace
}  // namespace behavior::testing
