// gateway_test.cpp — the gateway end to end with real binaries as separate processes:
// redis-server, a local_server (the demo "user" kind echoes kEcho back to its client), the
// gateway and the name server, on 127.0.0.1. Clients log in through the name server and
// talk to the gateway over TCP and WebSocket with the client library (game_client.h).
#include <behavior/game_client.h>
#include <behavior/ticket.h>

#include <chrono>
#include <thread>

#include "../cluster/cluster_fixture.h"

namespace behavior::testing {
namespace {

inline const std::string kGatewayBin = std::string(BEHAVIOR_BIN_DIR) + "/gateway";
inline const std::string kNameServerBin = std::string(BEHAVIOR_BIN_DIR) + "/name_server";
constexpr uint16_t kGatewayNode = 40;
using Transport = GameClient::Transport;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint32_t error_code(const ClientFrame& f) {
  pb::ErrorFrame e;
  return f.proto_id == proto::kError && e.ParseFromString(f.body) ? e.code() : 0;
}

class GatewayTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    start_server(1);
    gateway_ = start_child(kGatewayBin, {"--node-id", std::to_string(kGatewayNode), "--tcp-port", "0", "--ws-port", "0",
                                         "--auth-timeout-ms", "1000", "--idle-timeout-ms", "2000",
                                         "--max-output-bytes", "262144", "--frame-rate", "500", "--frame-burst", "100"},
                           "gateway ready");
    http_port_ = free_port();
    name_server_ = start_child(kNameServerBin, {"--node-id", "50", "--auth", "dev", "--login-rate", "0",
                                                "--http-port", std::to_string(http_port_)},
                               "name_server ready");
    // Logins succeed once the name server sees the local node and the gateway.
    ASSERT_TRUE(wait_until([&] { return login("127.0.0.1", http_port_, "probe").ok(); }, Millis(10000)));
  }

  void TearDown() override {
    for (ChildProcess* p : {name_server_, gateway_}) {
      if (!p || p->wait_exit(Millis(0)) != -1) continue;
      p->signal(SIGTERM);
      int status = p->wait_exit(Millis(10000));
      EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << p->output();
    }
    ClusterTest::TearDown();
  }

  ChildProcess* start_child(const std::string& bin, std::vector<std::string> extra, const std::string& ready) {
    std::vector<std::string> args = {"--redis",        redis_.address(), "--redis-prefix", prefix_,
                                     "--heartbeat-ms", std::to_string(kHeartbeatMs), "--ttl-ms", std::to_string(kTtlMs),
                                     "--cluster-secret", kSecret, "--log-level", "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ChildProcess>();
    EXPECT_TRUE(p->start(bin, args));
    EXPECT_TRUE(p->wait_for_output(ready, Millis(10000))) << p->output();
    servers_.push_back(std::move(p));  // ClusterTest stops them (SIGTERM, clean exit) too
    return servers_.back().get();
  }

  // Logs `user` in and opens an authenticated connection over `t`.
  std::unique_ptr<GameClient> connect(const std::string& user, Transport t, std::string* pid = nullptr) {
    Result<LoginResult> l = login("127.0.0.1", http_port_, user);
    EXPECT_TRUE(l.ok()) << l.status().to_string();
    if (!l.ok()) return nullptr;
    EXPECT_EQ(l->gateway_id, kGatewayNode);
    auto c = GameClient::connect(t, t == Transport::kTcp ? l->gateway_tcp : l->gateway_ws);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    if (!c.ok()) return nullptr;
    Result<std::string> who = (*c)->auth(l->ticket);
    EXPECT_TRUE(who.ok()) << who.status().to_string();
    if (!who.ok()) return nullptr;
    if (pid) *pid = *who;
    return std::move(*c);
  }

  std::string address(Transport t) {
    Result<LoginResult> l = login("127.0.0.1", http_port_, "addr");
    return l.ok() ? (t == Transport::kTcp ? l->gateway_tcp : l->gateway_ws) : "";
  }

  // The ticket a name server would sign, with chosen fields.
  std::string ticket(const std::string& user, int64_t expires_ms, const std::string& gateway = std::to_string(kGatewayNode)) {
    Ticket t;
    t.user = user;
    t.node = 1;
    t.gateway = gateway;
    t.expires_ms = expires_ms;
    t.nonce = "n" + std::to_string(now_ms()) + user;
    return sign_ticket(t, kSecret);
  }

  void expect_refused(Transport t, const std::string& token, const std::string& what) {
    auto c = GameClient::connect(t, address(t));
    ASSERT_TRUE(c.ok());
    Result<std::string> who = (*c)->auth(token);
    EXPECT_FALSE(who.ok()) << what;
    EXPECT_EQ(who.status().code(), Code::kUnauthenticated) << what << ": " << who.status().to_string();
    EXPECT_EQ((*c)->receive(Millis(3000)).status().code(), Code::kUnavailable) << what << ": not closed";
  }

  int http_port_ = 0;
  ChildProcess* gateway_ = nullptr;
  ChildProcess* name_server_ = nullptr;
};

// ---------------------------------------------------------------------------------------

TEST_F(GatewayTest, EchoThroughTheUsersProcessOnEachTransport) {
  for (Transport t : {Transport::kTcp, Transport::kWebSocket}) {
    std::string user = t == Transport::kTcp ? "tcp-alice" : "ws-alice";
    std::string pid;
    auto c = connect(user, t, &pid);
    ASSERT_NE(c, nullptr);
    EXPECT_NE(pid.find("<1."), std::string::npos) << pid;  // lives on node 1
    for (int i = 0; i < 50; ++i) {
      std::string body = "hello " + std::to_string(i) + std::string(static_cast<size_t>(i) * 100, 'x');
      ASSERT_TRUE(c->send(kEcho, body).ok());
      Result<ClientFrame> f = c->receive();
      ASSERT_TRUE(f.ok()) << f.status().to_string();
      ASSERT_EQ(f->proto_id, kEcho) << gateway_->output() << servers_[0]->output();
      EXPECT_EQ(f->body, body);
    }
    // Heartbeats are answered by the gateway.
    ASSERT_TRUE(c->send(proto::kHeartbeat, "beat").ok());
    Result<ClientFrame> hb = c->receive();
    ASSERT_TRUE(hb.ok());
    EXPECT_EQ(hb->proto_id, proto::kHeartbeat);
    EXPECT_EQ(hb->body, "beat");
  }
}

TEST_F(GatewayTest, AReconnectReturnsToTheSameProcess) {
  std::string first, second;
  {
    auto c = connect("bob", Transport::kTcp, &first);
    ASSERT_NE(c, nullptr);
  }
  // The process lives on; the name server sends bob back to its node (7) and the gateway
  // finds the same process.
  auto c = connect("bob", Transport::kWebSocket, &second);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(first, second);
  ASSERT_TRUE(c->send(kEcho, "still me").ok());
  Result<ClientFrame> f = c->receive();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->body, "still me");
}

TEST_F(GatewayTest, ASecondLoginKicksTheFirstConnection) {
  auto first = connect("carol", Transport::kTcp);
  ASSERT_NE(first, nullptr);
  auto second = connect("carol", Transport::kWebSocket);
  ASSERT_NE(second, nullptr);
  Result<ClientFrame> kick = first->receive(Millis(3000));
  ASSERT_TRUE(kick.ok()) << kick.status().to_string();
  EXPECT_EQ(kick->proto_id, proto::kKick);
  EXPECT_EQ(first->receive(Millis(3000)).status().code(), Code::kUnavailable);  // and closed
  ASSERT_TRUE(second->send(kEcho, "the new one").ok());
  Result<ClientFrame> f = second->receive();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->body, "the new one");
}

TEST_F(GatewayTest, ForgedExpiredReplayedAndForeignTicketsAreRefused) {
  std::string good = ticket("dave", now_ms() + 30000);
  std::string forged = good;
  forged[forged.size() / 3] = forged[forged.size() / 3] == 'A' ? 'B' : 'A';
  expect_refused(Transport::kTcp, forged, "forged");
  expect_refused(Transport::kWebSocket, "not.a-ticket", "garbage");
  expect_refused(Transport::kTcp, ticket("dave", now_ms() - 1000), "expired");
  expect_refused(Transport::kTcp, ticket("dave", now_ms() + 30000, "99"), "for another gateway");
  // The good one works once, then never again.
  auto c = GameClient::connect(Transport::kTcp, address(Transport::kTcp));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->auth(good).ok());
  expect_refused(Transport::kTcp, good, "replayed");
}

TEST_F(GatewayTest, FramesBeforeAuthAndSilenceAreRefused) {
  auto c = GameClient::connect(Transport::kTcp, address(Transport::kTcp));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->send(kEcho, "let me in").ok());
  Result<ClientFrame> f = (*c)->receive();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(error_code(*f), 401u);
  EXPECT_EQ((*c)->receive().status().code(), Code::kUnavailable);
  // Nothing at all: cut off after the auth timeout (1 s here).
  auto silent = GameClient::connect(Transport::kWebSocket, address(Transport::kWebSocket));
  ASSERT_TRUE(silent.ok());
  f = (*silent)->receive(Millis(5000));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(error_code(*f), 401u);
  EXPECT_EQ((*silent)->receive(Millis(3000)).status().code(), Code::kUnavailable);
}

TEST_F(GatewayTest, OversizedAndMalformedFramesCloseOnlyThatConnection) {
  auto bystander = connect("erin", Transport::kTcp);
  ASSERT_NE(bystander, nullptr);
  {
    auto c = connect("frank", Transport::kTcp);
    ASSERT_NE(c, nullptr);
    std::string huge;
    append_client_frame(kEcho, std::string(100 * 1024, 'h'), &huge);  // over the 64 KiB maximum
    c->send_raw(huge);
    Result<ClientFrame> f = c->receive();
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(error_code(*f), 400u);
  }
  {
    auto c = connect("grace", Transport::kTcp);
    ASSERT_NE(c, nullptr);
    c->send_raw(std::string("\x00\x00\x00\x02zz", 6));  // length 2: no room for a protoID
    Result<ClientFrame> f = c->receive();
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(error_code(*f), 400u);
    EXPECT_EQ(c->receive().status().code(), Code::kUnavailable);
  }
  {
    auto c = connect("heidi", Transport::kWebSocket);
    ASSERT_NE(c, nullptr);
    std::string text;
    ws::append_frame(ws::Opcode::kText, "hello", true, &text);
    c->send_raw(text);
    EXPECT_EQ(c->receive().status().code(), Code::kUnavailable);
    EXPECT_EQ(c->close_code(), ws::kCloseUnsupportedData);
  }
  {
    auto c = connect("ivan", Transport::kWebSocket);
    ASSERT_NE(c, nullptr);
    std::string unmasked;
    ws::append_frame(ws::Opcode::kBinary, std::string("\x00\x00\x00\x01hi", 6), false, &unmasked);
    c->send_raw(unmasked);
    EXPECT_EQ(c->receive().status().code(), Code::kUnavailable);
    EXPECT_EQ(c->close_code(), ws::kCloseProtocolError);
  }
  {
    auto c = connect("judy", Transport::kTcp);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->send(proto::kSystemBase + 99, "").ok());  // reserved: an error, not a close
    Result<ClientFrame> f = c->receive();
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(error_code(*f), 400u);
    ASSERT_TRUE(c->send(kEcho, "fine").ok());
    EXPECT_EQ(c->receive()->body, "fine");
  }
  ASSERT_TRUE(bystander->send(kEcho, "unharmed").ok());
  Result<ClientFrame> f = bystander->receive();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->body, "unharmed");
}

TEST_F(GatewayTest, IdleConnectionsAreClosedAndHeartbeatsKeepThemOpen) {
  auto idle = connect("kate", Transport::kTcp);
  auto beating = connect("leo", Transport::kWebSocket);
  ASSERT_NE(idle, nullptr);
  ASSERT_NE(beating, nullptr);
  for (int i = 0; i < 6; ++i) {  // 3 s, past the 2 s idle timeout
    std::this_thread::sleep_for(Millis(500));
    ASSERT_TRUE(beating->send(proto::kHeartbeat, "").ok());
    ASSERT_TRUE(beating->receive().ok());
  }
  Result<ClientFrame> f = idle->receive(Millis(100));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(error_code(*f), 400u);
  EXPECT_EQ(idle->receive().status().code(), Code::kUnavailable);
  ASSERT_TRUE(beating->send(kEcho, "alive").ok());
  EXPECT_EQ(beating->receive()->body, "alive");
}

TEST_F(GatewayTest, AFloodingClientIsRateLimited) {
  auto c = connect("mallory", Transport::kTcp);
  ASSERT_NE(c, nullptr);
  std::string burst;
  for (int i = 0; i < 400; ++i) append_client_frame(kEcho, "x", &burst);  // burst 100 at 500/s
  ASSERT_TRUE(c->send_raw(burst).ok());
  int echoes = 0, limited = 0;
  while (true) {
    Result<ClientFrame> f = c->receive(Millis(1000));
    if (!f.ok()) break;
    if (f->proto_id == kEcho) ++echoes;
    if (error_code(*f) == 429u) ++limited;
  }
  EXPECT_GE(echoes, 100);
  EXPECT_LT(echoes, 400);
  EXPECT_GE(limited, 1);
}

TEST_F(GatewayTest, ASlowReaderIsCutOffWithoutHurtingOthers) {
  auto slow = connect("oscar", Transport::kTcp);
  auto fast = connect("peggy", Transport::kWebSocket);
  ASSERT_NE(slow, nullptr);
  ASSERT_NE(fast, nullptr);
  // 60 KB echoes, never read: far more than the kernel buffers plus the 256 KiB the gateway
  // queues for one client.
  std::string frame;
  append_client_frame(kEcho, std::string(60 * 1024, 's'), &frame);
  int sent = 0;
  for (; sent < 600; ++sent) {
    if (!slow->send_raw(frame).ok()) break;
    if (sent % 50 == 49) std::this_thread::sleep_for(Millis(100));  // stay under the rate limit
  }
  // Meanwhile others are served.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(fast->send(kEcho, "quick").ok());
    Result<ClientFrame> f = fast->receive();
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(f->body, "quick");
  }
  // The slow one was cut off: reading now ends in a closed connection, not endless echoes.
  int frames = 0;
  Status end;
  while (true) {
    Result<ClientFrame> f = slow->receive(Millis(3000));
    if (!f.ok()) {
      end = f.status();
      break;
    }
    ++frames;
  }
  EXPECT_EQ(end.code(), Code::kUnavailable) << end.to_string();
  EXPECT_LT(frames, sent);
  std::string metrics = http_get(std::stoi(redis_.command({"HGET", key("node:40"), "metrics"}).substr(10)), "/metrics");
  EXPECT_NE(metrics.find("behavior_gateway_disconnects_total{reason=\"slow_reader\"} 1"), std::string::npos) << metrics;
}

TEST_F(GatewayTest, WhenTheUsersProcessEndsTheClientIsTold) {
  std::string pid;
  auto c = connect("quinn", Transport::kTcp, &pid);
  ASSERT_NE(c, nullptr);
  start_test_node();
  ASSERT_TRUE(wait_for_nodes(4));
  ASSERT_TRUE(node_->stop(user_process_name("quinn")).ok());
  Result<ClientFrame> f = c->receive(Millis(5000));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(error_code(*f), 410u);
  EXPECT_EQ(c->receive().status().code(), Code::kUnavailable);
}

TEST_F(GatewayTest, TheGatewayRegistersItsAddressesAndConnections) {
  auto a = connect("rita", Transport::kTcp);
  auto b = connect("sam", Transport::kWebSocket);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(redis_.command({"HGET", key("node:40"), "kind"}), "gateway");
  EXPECT_EQ(redis_.command({"HGET", key("node:40"), "a.tcp"}), address(Transport::kTcp));
  EXPECT_EQ(redis_.command({"HGET", key("node:40"), "a.ws"}), address(Transport::kWebSocket));
  EXPECT_TRUE(wait_until([&] { return redis_.command({"HGET", key("node:40"), "connections"}) == "2"; }));
}

}  // namespace
}  // namespace behavior::testing
