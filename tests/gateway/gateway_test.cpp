// gateway_test.cpp — the gateway end to end with real binaries as separate processes:
// redis-server, a local_server (the demo "user" kind echoes kEcho back to its client), the
// gateway and the name server, on 127.0.0.1. Clients log in through the name server and
// talk to the gateway over TCP, WebSocket and UDP (KCP) with the client library
// (game_client.h); a relay in the test drops and reorders UDP datagrams.
#include <behavior/crypto.h>
#include <behavior/game_client.h>
#include <behavior/ticket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <regex>
#include <thread>

#include "client_frames.h"
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

class GatewayTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    start_server(1);
    gateway_ = start_child(kGatewayBin, {"--node-id", std::to_string(kGatewayNode), "--tcp-port", "0", "--ws-port", "0", "--udp-port", "0",
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
    auto c = GameClient::connect(t, pick(*l, t));
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    if (!c.ok()) return nullptr;
    Result<std::string> who = (*c)->auth(l->ticket);
    EXPECT_TRUE(who.ok()) << who.status().to_string();
    if (!who.ok()) return nullptr;
    if (pid) *pid = *who;
    return std::move(*c);
  }

  static std::string pick(const LoginResult& l, Transport t) {
    return t == Transport::kTcp ? l.gateway_tcp : t == Transport::kWebSocket ? l.gateway_ws : l.gateway_udp;
  }

  std::string address(Transport t) {
    Result<LoginResult> l = login("127.0.0.1", http_port_, "addr");
    return l.ok() ? pick(*l, t) : "";
  }

  std::string gateway_metrics() {
    std::string m = redis_.command({"HGET", key("node:40"), "metrics"});
    return http_get(std::stoi(m.substr(m.rfind(':') + 1)), "/metrics");
  }

  // The ticket a name server would sign, with chosen fields.
  std::string ticket(const std::string& user, int64_t expires_ms, uint16_t gateway = kGatewayNode) {
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
  for (Transport t : {Transport::kTcp, Transport::kWebSocket, Transport::kUdp}) {
    std::string user = "alice" + std::to_string(static_cast<int>(t));
    std::string pid;
    auto c = connect(user, t, &pid);
    ASSERT_NE(c, nullptr);
    // "<node.shard.serial>" in decimal (docs/protocol.md): lives on node 1.
    EXPECT_TRUE(std::regex_match(pid, std::regex(R"(<1\.[0-9]{1,3}\.[0-9]+>)"))) << pid;
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

// A heartbeat's body is at most 64 bytes (docs/protocol.md): up to that it comes back
// byte for byte; a longer one is refused with error 400 and not echoed (it was cut to 64
// bytes without a word), and the connection goes on.
TEST_F(GatewayTest, HeartbeatsUpTo64BytesAreEchoedAndLongerOnesRefused) {
  for (Transport t : {Transport::kTcp, Transport::kWebSocket, Transport::kUdp}) {
    auto c = connect("beat" + std::to_string(static_cast<int>(t)), t);
    ASSERT_NE(c, nullptr);
    const std::string full(64, 'b');
    ASSERT_TRUE(c->send(proto::kHeartbeat, full).ok());
    Result<ClientFrame> f = c->receive();
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(f->proto_id, proto::kHeartbeat) << describe(*f);
    EXPECT_EQ(f->body, full);
    ASSERT_TRUE(c->send(proto::kHeartbeat, std::string(65, 'b')).ok());
    f = c->receive();
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(error_code(*f), 400u) << describe(*f);
    ASSERT_TRUE(c->send(kEcho, "still open").ok());
    f = c->receive();
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(f->body, "still open") << describe(*f);
  }
  EXPECT_NE(gateway_metrics().find("behavior_gateway_refused_frames_total{reason=\"heartbeat_too_long\"} 3"),
            std::string::npos);
}

// The ticket's `g` is the gateway's node id as a JSON number (docs/protocol.md); a name
// server from before wrote it as a decimal string, and the gateway still takes that.
TEST_F(GatewayTest, ATicketWithTheGatewayAsAStringFromAnOlderNameServerIsAccepted) {
  const std::string payload = R"({"e":)" + std::to_string(now_ms() + 30000) + R"(,"g":")" +
                              std::to_string(kGatewayNode) + R"(","n":1,"r":")" + base64url_encode("old-nonce") +
                              R"(","u":"olden","v":1})";
  const std::string token = base64url_encode(payload) + "." + base64url_encode(hmac_sha256(kSecret, payload));
  Result<Ticket> parsed = verify_ticket(token, kSecret, now_ms());
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->gateway, kGatewayNode);
  auto c = GameClient::connect(Transport::kTcp, address(Transport::kTcp));
  ASSERT_TRUE(c.ok());
  Result<std::string> who = (*c)->auth(token);
  ASSERT_TRUE(who.ok()) << who.status().to_string();
  EXPECT_NE(who->find("<1."), std::string::npos) << *who;  // the user's process, on node 1
  ASSERT_TRUE((*c)->send(kEcho, "from an old ticket").ok());
  Result<ClientFrame> f = (*c)->receive();
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->body, "from an old ticket");
  // Not a number in a string: refused.
  const std::string bad_payload = R"({"e":)" + std::to_string(now_ms() + 30000) + R"(,"g":"gw40","n":1,"r":"AA","u":"olden","v":1})";
  expect_refused(Transport::kTcp, base64url_encode(bad_payload) + "." + base64url_encode(hmac_sha256(kSecret, bad_payload)),
                 "gateway not a number");
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
  expect_refused(Transport::kTcp, ticket("dave", now_ms() + 30000, 99), "for another gateway");
  // The good one works once, then never again.
  auto c = GameClient::connect(Transport::kTcp, address(Transport::kTcp));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->auth(good).ok());
  expect_refused(Transport::kTcp, good, "replayed");
}

// A client cannot reach another user's process: frames carry no address (the gateway sends
// them to the connection's own process), and the reserved system protoIDs through which a
// process is attached, detached, stopped or told of exits and DOWNs are refused with an error
// frame, as is a second AUTH (here with alice's own unused ticket) on an authenticated
// connection, also when pipelined right behind the AUTH. Alice's process and connection
// notice nothing. (Her ticket replayed on a new
// connection: ForgedExpiredReplayedAndForeignTicketsAreRefused.)
TEST_F(GatewayTest, AClientCannotReachAnotherUsersProcess) {
  std::string alice_pid, mallory_pid;
  auto alice = connect("alice", Transport::kTcp, &alice_pid);
  auto mallory = connect("mallory", Transport::kTcp, &mallory_pid);
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(mallory, nullptr);
  ASSERT_NE(alice_pid, mallory_pid);
  const std::string alice_entry = redis_.command({"GET", key("dir:user/alice")});
  ASSERT_FALSE(alice_entry.empty());
  Result<LoginResult> alices_next = login("127.0.0.1", http_port_, "alice");  // a ticket not used yet
  ASSERT_TRUE(alices_next.ok()) << alices_next.status().to_string();
  const std::vector<std::pair<uint32_t, std::string>> attempts = {
      {proto::kAttach, alice_pid},       {proto::kDetach, alice_pid},   {proto::kStop, std::string(reason::kKill)},
      {proto::kExit, alice_pid},         {proto::kDown, alice_pid},     {proto::kUndeliverable, alice_pid},
      {proto::kKick, "alice"},           {proto::kError, "x"},          {proto::kAuth, alices_next->ticket},
      {proto::kSystemBase + 999, "any"}};
  for (const auto& [proto_id, body] : attempts) {
    ASSERT_TRUE(mallory->send(proto_id, body).ok());
    Result<ClientFrame> f = mallory->receive(Millis(5000));
    ASSERT_TRUE(f.ok()) << proto_id << ": " << f.status().to_string();
    EXPECT_EQ(error_code(*f), 400u) << "protoID " << proto_id << " answered with " << describe(*f);
  }
  // The same, pipelined right behind AUTH (held until her process is found, then checked).
  Result<LoginResult> again = login("127.0.0.1", http_port_, "mallory");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  auto early = GameClient::connect(Transport::kTcp, again->gateway_tcp);
  ASSERT_TRUE(early.ok());
  std::string pipelined;
  append_client_frame(proto::kAuth, again->ticket, &pipelined);
  append_client_frame(proto::kAttach, alice_pid, &pipelined);
  ASSERT_TRUE((*early)->send_raw(pipelined).ok());
  Result<ClientFrame> auth = (*early)->receive(Millis(5000));
  ASSERT_TRUE(auth.ok()) << auth.status().to_string();
  EXPECT_EQ(auth->proto_id, proto::kAuth) << describe(*auth);
  EXPECT_EQ(auth->body, mallory_pid);
  Result<ClientFrame> refused = (*early)->receive(Millis(5000));
  ASSERT_TRUE(refused.ok()) << refused.status().to_string();
  EXPECT_EQ(error_code(*refused), 400u) << describe(*refused);
  mallory = std::move(*early);  // the first connection was kicked by this one
  // Mallory is still herself: her echo comes back to her (from alice's process it would go
  // to alice's connection), and alice got nothing at all.
  ASSERT_TRUE(mallory->send(kEcho, "mallory's").ok());
  Result<ClientFrame> own = mallory->receive(Millis(5000));
  ASSERT_TRUE(own.ok()) << own.status().to_string();
  EXPECT_EQ(own->body, "mallory's") << describe(*own);
  Result<ClientFrame> stray = alice->receive(Millis(300));
  EXPECT_EQ(stray.status().code(), Code::kTimeout) << (stray.ok() ? describe(*stray) : stray.status().to_string());
  // Alice's process is the same one and still serves her.
  ASSERT_TRUE(alice->send(kEcho, "still alice").ok());
  Result<ClientFrame> echo = alice->receive(Millis(5000));
  ASSERT_TRUE(echo.ok()) << echo.status().to_string();
  EXPECT_EQ(echo->body, "still alice") << describe(*echo);
  EXPECT_EQ(redis_.command({"GET", key("dir:user/alice")}), alice_entry);
  std::string metrics = gateway_metrics();
  EXPECT_NE(metrics.find("behavior_gateway_refused_frames_total{reason=\"reserved_proto\"} " +
                         std::to_string(attempts.size() + 1) + "\n"),
            std::string::npos)
      << metrics;
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

// RFC 6455 4.4: an upgrade of another WebSocket version gets 426 and the version we speak
// (it got a bare 400), so a client can retry with 13.
TEST_F(GatewayTest, AWebSocketUpgradeOfAnotherVersionGets426WithOurs) {
  const std::string ws = address(Transport::kWebSocket);
  ASSERT_FALSE(ws.empty());
  const int fd = tcp_connect(std::atoi(ws.c_str() + ws.rfind(':') + 1));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"));
  std::string answer;
  ASSERT_TRUE(recv_exact(fd, 40, &answer));
  EXPECT_EQ(answer.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u) << answer;
  for (std::string byte; recv_exact(fd, 1, &byte);) answer += byte;  // until the gateway closes
  EXPECT_NE(answer.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos) << answer;
  ::close(fd);
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
  // WebSocket errors get the error frame too (docs/protocol.md, "When the gateway closes"),
  // then a close frame whose code names the kind of error: 1003 a text message, 1002 a
  // violation of RFC 6455, 1008 a message that is not `u32 protoID | body`.
  const std::pair<std::string, uint16_t> ws_cases[] = {
      {"heidi", ws::kCloseUnsupportedData}, {"ivan", ws::kCloseProtocolError}, {"ines", ws::kClosePolicy}};
  for (const auto& [user, code] : ws_cases) {
    auto c = connect(user, Transport::kWebSocket);
    ASSERT_NE(c, nullptr);
    std::string bad;
    if (code == ws::kCloseUnsupportedData) {
      ws::append_frame(ws::Opcode::kText, "hello", true, &bad);
    } else if (code == ws::kCloseProtocolError) {  // unmasked
      ws::append_frame(ws::Opcode::kBinary, std::string("\x00\x00\x00\x01hi", 6), false, &bad);
    } else {  // 2 bytes: no room for a protoID
      ws::append_frame(ws::Opcode::kBinary, "hi", true, &bad);
    }
    c->send_raw(bad);
    Result<ClientFrame> f = c->receive();
    ASSERT_TRUE(f.ok()) << user << ": " << f.status().to_string();
    EXPECT_EQ(error_code(*f), 400u) << user << ": " << describe(*f);
    EXPECT_EQ(c->receive().status().code(), Code::kUnavailable) << user;
    EXPECT_EQ(c->close_code(), code) << user;
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
  auto idle_ws = connect("kim", Transport::kWebSocket);
  auto beating = connect("leo", Transport::kWebSocket);
  ASSERT_NE(idle, nullptr);
  ASSERT_NE(idle_ws, nullptr);
  ASSERT_NE(beating, nullptr);
  for (int i = 0; i < 6; ++i) {  // 3 s, past the 2 s idle timeout
    std::this_thread::sleep_for(Millis(500));
    ASSERT_TRUE(beating->send(proto::kHeartbeat, "").ok());
    Result<ClientFrame> hb = beating->receive();
    ASSERT_TRUE(hb.ok()) << "heartbeat " << i << ": " << hb.status().to_string() << "\n" << gateway_->output();
    EXPECT_EQ(hb->proto_id, proto::kHeartbeat);
  }
  // 408: idle, a code of its own (docs/protocol.md's table), not 400 (a bad frame).
  Result<ClientFrame> f = idle->receive(Millis(100));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(error_code(*f), 408u) << describe(*f);
  EXPECT_EQ(idle->receive().status().code(), Code::kUnavailable);
  // A WebSocket client is told the same, then gets a close frame (the closing handshake).
  f = idle_ws->receive(Millis(100));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(error_code(*f), 408u) << describe(*f);
  EXPECT_EQ(idle_ws->receive().status().code(), Code::kUnavailable);
  EXPECT_EQ(idle_ws->close_code(), ws::kClosePolicy);
  ASSERT_TRUE(beating->send(kEcho, "alive").ok());
  EXPECT_EQ(beating->receive()->body, "alive");
}

// GameClient::close() says goodbye on each transport (UDP BYE, WebSocket close frame, TCP
// FIN): the gateway forgets every connection at once, none waits for the idle cut, and the
// users log in again to the same processes.
TEST_F(GatewayTest, ClientsThatCloseAreForgottenAtOnceOnEachTransport) {
  const std::vector<std::pair<std::string, Transport>> users = {
      {"olga", Transport::kTcp}, {"omar", Transport::kWebSocket}, {"otto", Transport::kUdp}};
  std::vector<std::unique_ptr<GameClient>> clients;
  std::vector<std::string> pids;
  for (auto& [user, t] : users) {
    std::string pid;
    clients.push_back(connect(user, t, &pid));
    ASSERT_NE(clients.back(), nullptr) << user;
    pids.push_back(pid);
  }
  auto open = [&] {
    std::string m = gateway_metrics();
    int n = 0;
    for (const char* t : {"tcp", "ws", "udp"}) {
      if (m.find("behavior_gateway_connections{transport=\"" + std::string(t) + "\"} 1") != std::string::npos) ++n;
    }
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return open() == 3; })) << gateway_metrics();
  for (auto& c : clients) c->close();
  EXPECT_TRUE(wait_until([&] { return open() == 0; })) << gateway_metrics();
  EXPECT_NE(gateway_metrics().find("behavior_gateway_disconnects_total{reason=\"idle\"} 0"), std::string::npos)
      << gateway_metrics();
  EXPECT_EQ(clients[0]->receive(Millis(10)).status().code(), Code::kUnavailable);  // closed on our side too
  for (size_t i = 0; i < users.size(); ++i) {
    std::string pid;
    auto again = connect(users[i].first, users[i].second, &pid);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(pid, pids[i]) << users[i].first;
  }
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
    if (sent % 50 == 49) {
      std::this_thread::sleep_for(Millis(100));  // stay under the rate limit
      ASSERT_TRUE(fast->send(proto::kHeartbeat, "").ok());  // a loaded machine may take past the idle timeout
    }
  }
  // Meanwhile others are served.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(fast->send(kEcho, "quick").ok());
    Result<ClientFrame> f = fast->receive();
    while (f.ok() && f->proto_id == proto::kHeartbeat) f = fast->receive();  // answers to the beats above
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
  std::string metrics = gateway_metrics();
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
  EXPECT_EQ(redis_.command({"HGET", key("node:40"), "a.udp"}), address(Transport::kUdp));
  EXPECT_TRUE(wait_until([&] { return redis_.command({"HGET", key("node:40"), "connections"}) == "2"; }));
  // Its UDP socket's drops (the kernel's count, SO_MEMINFO), per second and in total: none here.
  EXPECT_EQ(redis_.command({"HGET", key("node:40"), "udp_drops"}), "0.0");
  EXPECT_NE(gateway_metrics().find("behavior_gateway_udp_dropped_total{reason=\"socket_full\"} 0\n"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// UDP.

// Between a client and the gateway: drops `loss` of the datagrams each way and delays the
// rest by 0-30 ms at random (so they also arrive out of order).
class LossyRelay {
 public:
  LossyRelay(const std::string& gateway, double loss) : loss_(loss) {
    front_ = socket(AF_INET, SOCK_DGRAM, 0);
    back_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(front_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(front_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    sockaddr_in g{};
    g.sin_family = AF_INET;
    g.sin_port = htons(static_cast<uint16_t>(std::stoi(gateway.substr(gateway.rfind(':') + 1))));
    g.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(back_, reinterpret_cast<sockaddr*>(&g), sizeof g);
    thread_ = std::thread([this] { run(); });
  }
  ~LossyRelay() {
    stop_ = true;
    thread_.join();
    close(front_);
    close(back_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int dropped() const { return dropped_; }

 private:
  struct Pending {
    std::chrono::steady_clock::time_point at;
    bool to_gateway;
    std::string data;
  };
  void run() {
    std::mt19937 rng(42);
    std::vector<Pending> queue;
    sockaddr_in client{};
    bool have_client = false;
    char buf[65536];
    while (!stop_) {
      pollfd p[2] = {{front_, POLLIN, 0}, {back_, POLLIN, 0}};
      poll(p, 2, 1);
      for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & POLLIN)) continue;
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(p[i].fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n <= 0) continue;
        if (i == 0) {
          client = from;
          have_client = true;
        }
        if (std::uniform_real_distribution<double>(0, 1)(rng) < loss_) {
          ++dropped_;
          continue;
        }
        queue.push_back({std::chrono::steady_clock::now() + Millis(rng() % 30), i == 0,
                         std::string(buf, static_cast<size_t>(n))});
      }
      auto now = std::chrono::steady_clock::now();
      for (size_t k = 0; k < queue.size();) {
        if (queue[k].at > now) {
          ++k;
          continue;
        }
        if (queue[k].to_gateway) {
          send(back_, queue[k].data.data(), queue[k].data.size(), 0);
        } else if (have_client) {
          sendto(front_, queue[k].data.data(), queue[k].data.size(), 0, reinterpret_cast<sockaddr*>(&client),
                 sizeof client);
        }
        queue.erase(queue.begin() + static_cast<long>(k));
      }
    }
  }
  double loss_;
  int front_, back_, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> dropped_{0};
  std::thread thread_;
};

TEST_F(GatewayTest, UdpWithTwentyPercentLossAndReorderingDeliversEverythingInOrder) {
  Result<LoginResult> l = login("127.0.0.1", http_port_, "udp-lossy");
  ASSERT_TRUE(l.ok());
  LossyRelay relay(l->gateway_udp, 0.2);
  auto c = GameClient::connect(Transport::kUdp, relay.address());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->auth(l->ticket, Millis(10000)).ok());  // AUTH itself may need resending
  constexpr int kCount = 300;
  int next = 0;
  for (int i = 0; i < kCount; ++i) {
    // Some spread over several KCP fragments.
    ASSERT_TRUE((*c)->send(kEcho, std::to_string(i) + ":" + std::string(i % 7 == 0 ? 3000 : 20, 'u')).ok());
    if (i % 20 == 19) {  // keep under the rate limit; also read what came back so far
      int quiet = 0;  // half-seconds without a frame
      while (next <= i) {
        Result<ClientFrame> f = (*c)->receive(Millis(500));
        if (!f.ok() && f.status().code() == Code::kTimeout && ++quiet < 20) {
          // Retransmissions under this much loss can take longer than the gateway's idle
          // timeout (2 s here): heartbeats keep the session, as a real client's would.
          ASSERT_TRUE((*c)->send(proto::kHeartbeat, "").ok());
          continue;
        }
        ASSERT_TRUE(f.ok()) << "after " << next << ": " << f.status().to_string();
        if (f->proto_id == proto::kHeartbeat) continue;
        quiet = 0;
        ASSERT_EQ(f->proto_id, kEcho) << "after " << next << ": " << describe(*f);
        ASSERT_EQ(f->body.substr(0, f->body.find(':')), std::to_string(next)) << "out of order";
        ++next;
      }
    }
  }
  EXPECT_EQ(next, kCount);
  EXPECT_GT(relay.dropped(), 20);  // the loss was real
}

TEST_F(GatewayTest, UdpDatagramsForASessionFromAnotherAddressAreRefused) {
  auto c = connect("udp-victim", Transport::kUdp);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->send(kEcho, "mine").ok());
  ASSERT_EQ(c->receive()->body, "mine");
  // Another socket (another source port) speaks KCP for the victim's conv: a PUSH with an
  // echo request, and an unreliable frame. Neither may reach the victim's process.
  int other = socket(AF_INET, SOCK_DGRAM, 0);
  std::string gw = address(Transport::kUdp);
  sockaddr_in g{};
  g.sin_family = AF_INET;
  g.sin_port = htons(static_cast<uint16_t>(std::stoi(gw.substr(gw.rfind(':') + 1))));
  g.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string payload;
  append_client_frame(kEcho, "spoofed", &payload);
  Kcp forger(c->conv(), [&](std::string_view d) {
    sendto(other, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&g), sizeof g);
  });
  ASSERT_TRUE(forger.send(std::string_view(payload).substr(4)).ok());
  forger.flush(1);
  std::string unreliable = udp_control(kUdpData, c->conv(), std::string_view(payload).substr(4));
  sendto(other, unreliable.data(), unreliable.size(), 0, reinterpret_cast<sockaddr*>(&g), sizeof g);
  Result<ClientFrame> f = c->receive(Millis(500));
  EXPECT_FALSE(f.ok()) << "the spoofed echo came back: " << (f.ok() ? f->body : "");
  ::close(other);
  EXPECT_NE(gateway_metrics().find("behavior_gateway_udp_dropped_total{reason=\"other_address\"} 2"), std::string::npos)
      << gateway_metrics();
  // The victim's session goes on; the unreliable channel works both ways from its own
  // address (the demo process answers kEchoUnreliable with send_to_client_unreliable).
  ASSERT_TRUE(c->send_unreliable(kEcho, "unreliable but mine").ok());
  f = c->receive();
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->body, "unreliable but mine");
  constexpr uint32_t kEchoUnreliable = 3;
  ASSERT_TRUE(c->send(kEchoUnreliable, "state update").ok());
  f = c->receive();
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->proto_id, kEchoUnreliable);
  EXPECT_EQ(f->body, "state update");
  EXPECT_NE(gateway_metrics().find("behavior_gateway_udp_unreliable_out_total 1"), std::string::npos);
}

// The unreliable datagram byte by byte as docs/protocol.md gives it: 4 zero bytes, type 2,
// the conv little-endian, the protoID big-endian, the body; both ways.
TEST_F(GatewayTest, UnreliableDatagramsAreTheDocumentedBytes) {
  auto c = connect("bytes", Transport::kUdp);
  ASSERT_NE(c, nullptr);
  const uint32_t conv = c->conv();
  std::string head("\0\0\0\0\x02", 5);
  for (int i = 0; i < 4; ++i) head.push_back(static_cast<char>(conv >> (8 * i)));
  ASSERT_TRUE(c->send_raw(head + std::string("\0\0\0\x01", 4) + "by hand").ok());  // kEcho = 1
  Result<ClientFrame> f = c->receive();
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->proto_id, kEcho) << describe(*f);
  EXPECT_EQ(f->body, "by hand");
  constexpr uint32_t kEchoUnreliable = 3;  // answered with send_to_client_unreliable
  ASSERT_TRUE(c->send(kEchoUnreliable, "state").ok());
  const std::string expected = head + std::string("\0\0\0\x03", 4) + "state";
  std::string got;
  for (int i = 0; i < 100 && got != expected; ++i) {  // KCP ACKs arrive on the same socket
    pollfd p{c->fd(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) break;
    char buf[2048];
    ssize_t n = ::recv(c->fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    if (n >= 4 && std::string(buf, 4) == std::string(4, '\0')) got.assign(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, expected);
}

TEST_F(GatewayTest, UdpRefusesBadTicketsAndIsToldWhenClosed) {
  auto c = GameClient::connect(Transport::kUdp, address(Transport::kUdp));
  ASSERT_TRUE(c.ok());
  // A forged ticket as long as a real one is refused with 401. (A datagram shorter than the
  // error gets silence: nothing answers an unauthenticated sender with more bytes than it
  // sent, tests/security/udp_test.cpp.)
  Result<std::string> who = (*c)->auth(std::string(100, 'f') + ".forged", Millis(3000));
  EXPECT_EQ(who.status().code(), Code::kUnauthenticated) << who.status().to_string();
  // A session cut by the gateway (idle here: 2 s without frames) hears BYE.
  auto idle = connect("udp-idle", Transport::kUdp);
  ASSERT_NE(idle, nullptr);
  Status end;
  for (int i = 0; i < 10 && end.ok(); ++i) {
    Result<ClientFrame> f = idle->receive(Millis(1000));
    if (!f.ok() && f.status().code() != Code::kTimeout) end = f.status();
  }
  EXPECT_EQ(end.code(), Code::kUnavailable) << end.to_string();
}

}  // namespace
}  // namespace behavior::testing
