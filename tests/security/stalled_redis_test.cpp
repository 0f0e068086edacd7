// stalled_redis_test.cpp — a Redis that stops answering (SIGSTOP: a long fork, a swapped-out
// host) must not hang logins or use up tickets. Before: a login hung with no deadline; a
// game client's AUTH got 401 "no AUTH in time" after 5 s, and its ticket was used up when
// Redis resumed, so the player could not log in with it again. Now every request a client
// waits on has a deadline (--redis-timeout-ms): HTTP 503 with Retry-After, a kError 503
// frame (WebSocket close 1013, "try again later"), and the ticket's single-use mark is
// taken back, so the same ticket works once Redis answers again.
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "local_cluster_test.h"
#include "net_util.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

class StalledRedis : public LocalClusterTest {
 protected:
  void TearDown() override {
    if (stopped_) ::kill(cluster_->pid("redis"), SIGCONT);
    LocalClusterTest::TearDown();
  }
  void stop_redis() {
    ASSERT_EQ(::kill(cluster_->pid("redis"), SIGSTOP), 0);
    stopped_ = true;
  }
  void resume_redis() {
    ASSERT_EQ(::kill(cluster_->pid("redis"), SIGCONT), 0);
    stopped_ = false;
  }
  bool stopped_ = false;
};

TEST_F(StalledRedis, RequestsAreAnsweredRetryAndTheTicketIsNotUsedUp) {
  tools::LocalClusterOptions o = options(1, 1);
  o.name_server_args = {"--login-rate", "0", "--redis-timeout-ms", "1000"};
  o.gateway_args = {"--redis-timeout-ms", "1000"};
  start(std::move(o));
  const int ns = cluster_->name_server_port();
  auto tcp_login = behavior::login("127.0.0.1", ns, "tcp-player");
  ASSERT_TRUE(tcp_login.ok()) << tcp_login.status().to_string();
  auto ws_login = behavior::login("127.0.0.1", ns, "ws-player");
  ASSERT_TRUE(ws_login.ok()) << ws_login.status().to_string();

  stop_redis();
  // A login waits on Redis (the user's directory entry): 503 with Retry-After, in time.
  HttpClient http(ns);
  HttpReply r = http.request("POST", "/v1/login", "{\"user\":\"newcomer\"}");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.headers.find("Retry-After: "), std::string::npos) << r.headers;
  // AUTH waits on Redis (the ticket's single-use mark): "retry", not 401.
  auto tcp = GameClient::connect(GameClient::Transport::kTcp, tcp_login->gateway_tcp);
  ASSERT_TRUE(tcp.ok());
  auto refused = (*tcp)->auth(tcp_login->ticket, Millis(8000));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message().rfind("503", 0), 0u) << refused.status().to_string();
  auto ws = GameClient::connect(GameClient::Transport::kWebSocket, ws_login->gateway_ws);
  ASSERT_TRUE(ws.ok());
  auto ws_refused = (*ws)->auth(ws_login->ticket, Millis(8000));
  ASSERT_FALSE(ws_refused.ok());
  EXPECT_EQ(ws_refused.status().message().rfind("503", 0), 0u) << ws_refused.status().to_string();
  (void)(*ws)->receive(Millis(2000));  // the close frame
  EXPECT_EQ((*ws)->close_code(), 1013) << "WebSocket close code: try again later";

  resume_redis();
  // The same tickets work now: the answered-"retry" AUTHs did not use them up.
  ASSERT_TRUE(wait_until([&] { return http_get(ns, "/readyz").find("ready") != std::string::npos; }, Millis(10000)));
  for (auto* login : {&tcp_login, &ws_login}) {
    const bool is_tcp = login == &tcp_login;
    auto again = GameClient::connect(is_tcp ? GameClient::Transport::kTcp : GameClient::Transport::kWebSocket,
                                     is_tcp ? (*login)->gateway_tcp : (*login)->gateway_ws);
    ASSERT_TRUE(again.ok());
    auto pid = (*again)->auth((*login)->ticket, Millis(8000));
    EXPECT_TRUE(pid.ok()) << (is_tcp ? "tcp: " : "ws: ") << pid.status().to_string();
  }
  // Logins come back once the nodes' heartbeats are fresh again.
  EXPECT_TRUE(wait_until(
      [&] { return HttpClient(ns).request("POST", "/v1/login", "{\"user\":\"newcomer\"}").status == 200; },
      Millis(10000)));
}

}  // namespace
}  // namespace behavior::testing
