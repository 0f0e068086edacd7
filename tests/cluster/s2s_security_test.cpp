// s2s_security_test.cpp — the s2s port against hostile input, byte by byte over a raw
// socket: a peer without the secret is refused; malformed and oversized frames close that
// connection only; a peer that goes silent (or never finishes the handshake) is cut after
// the s2s timeout while ticks keep a quiet link open; the node keeps serving everyone else.
#include <unistd.h>

#include <behavior/crypto.h>

#include "cluster_fixture.h"
#include "envelope.h"
#include "s2s.pb.h"

namespace behavior::testing {
namespace {

class S2sSecurity : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    ChildProcess& s = start_server(1);
    ports_of(s, &s2s_port_, &metrics_port_);
    start_test_node();
    ASSERT_TRUE(wait_for_nodes(2));
    user_ = *cluster_->ensure("user/guard", "user", 1);
  }

  static void ports_of(ChildProcess& server, int* s2s, int* metrics) {
    std::string out = server.output();
    auto pos = out.find("s2s_port=");
    ASSERT_NE(pos, std::string::npos);
    *s2s = std::atoi(out.c_str() + pos + 9);
    pos = out.find("metrics_port=");
    ASSERT_NE(pos, std::string::npos);
    *metrics = std::atoi(out.c_str() + pos + 13);
  }
  static std::string frame(const std::string& payload) {
    std::string f;
    detail::append_frame(payload, &f);
    return f;
  }
  // Reads one frame's payload from fd.
  static bool read_frame(int fd, std::string* payload) {
    std::string len;
    if (!recv_exact(fd, 4, &len)) return false;
    auto* p = reinterpret_cast<const unsigned char*>(len.data());
    size_t n = size_t{p[0]} << 24 | size_t{p[1]} << 16 | size_t{p[2]} << 8 | p[3];
    return recv_exact(fd, n, payload);
  }
  // Connects and answers the challenge with `secret`; returns the socket after the Welcome
  // (or -1 if the node closed it).
  int handshake(const std::string& secret, uint16_t as_node, int port = 0) {
    int fd = tcp_connect(port ? port : s2s_port_);
    std::string payload;
    if (fd < 0 || !read_frame(fd, &payload)) return -1;
    pb::Challenge c;
    if (!c.ParseFromString(payload)) return -1;
    pb::Hello h;
    h.set_node_id(as_node);
    h.set_nonce(std::string(32, 'n'));
    std::string node{static_cast<char>(as_node >> 8), static_cast<char>(as_node & 0xFF)};
    h.set_proof(hmac_sha256(secret, "behavior-s2s-dialer" + c.nonce() + node));
    send_all(fd, frame(h.SerializeAsString()));
    if (!read_frame(fd, &payload)) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  void expect_node_still_serves() {
    Reply r = probe_->call(user_, kEcho, std::string("still serving"), Millis(10000));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r.as<std::string>(), "still serving");
  }
  double metric(const std::string& name, int node = 1, int port = 0) {
    std::string body = http_get(port ? port : metrics_port_, "/metrics");
    std::string key = name + "{node=\"" + std::to_string(node) + "\"} ";
    auto pos = body.find(key);
    return pos == std::string::npos ? -1 : std::atof(body.c_str() + pos + key.size());
  }

  int s2s_port_ = 0;
  int metrics_port_ = 0;
  Pid user_;
};

TEST_F(S2sSecurity, PeerWithTheWrongSecretIsRefusedAndCounted) {
  EXPECT_EQ(handshake("not-the-secret", 7), -1);
  EXPECT_TRUE(wait_until([&] { return metric("behavior_s2s_refused_handshakes_total") == 1; }, Millis(10000)))
      << "refused_handshakes_total = " << metric("behavior_s2s_refused_handshakes_total");
  EXPECT_TRUE(servers_[0]->wait_for_output("refused a peer", Millis(2000)));
  expect_node_still_serves();
}

TEST_F(S2sSecurity, GarbageBeforeTheHandshakeClosesTheConnection) {
  int fd = tcp_connect(s2s_port_);
  ASSERT_GE(fd, 0);
  send_all(fd, frame("this is not a Hello"));
  EXPECT_TRUE(closed_by_peer(fd));
  ::close(fd);
  expect_node_still_serves();
}

TEST_F(S2sSecurity, MalformedEnvelopeClosesThatConnectionOnly) {
  int fd = handshake(kSecret, 7);
  ASSERT_GE(fd, 0) << "a correct handshake must be accepted";
  send_all(fd, frame(std::string("\x0f\xff\xff\xff\xff", 5)));  // field 1 with a bad wire type
  EXPECT_TRUE(closed_by_peer(fd));
  ::close(fd);
  EXPECT_TRUE(wait_until([&] { return metric("behavior_s2s_bad_frames_total") >= 1; }, Millis(10000)))
      << "bad_frames_total = " << metric("behavior_s2s_bad_frames_total");
  expect_node_still_serves();
}

TEST_F(S2sSecurity, OversizedFrameClosesThatConnectionOnly) {
  int fd = handshake(kSecret, 7);
  ASSERT_GE(fd, 0);
  send_all(fd, std::string("\x7f\xff\xff\xff", 4));  // announces a 2 GiB frame
  EXPECT_TRUE(closed_by_peer(fd));
  ::close(fd);
  expect_node_still_serves();
}

TEST_F(S2sSecurity, SpoofedSenderIsDropped) {
  int fd = handshake(kSecret, 7);
  ASSERT_GE(fd, 0);
  // Claims to come from a process on node 100 (the test node) while connected as node 7.
  Message m(user_, Pid(kTestNode, 0, 1), Kind::kInfo, kEcho, Body::bytes("spoof"));
  std::string f;
  ASSERT_TRUE(detail::append_envelope_frame(m, 1 << 20, &f).ok());
  send_all(fd, f);
  EXPECT_TRUE(servers_[0]->wait_for_output("claiming to be from", Millis(3000)));
  ::close(fd);
  expect_node_still_serves();
}

// Keepalive (Erlang's net ticks): a node with --s2s-timeout-ms 800 ticks on a quiet link
// every 200 ms; a peer that sends nothing for 800 ms (a partition drops packets without a
// FIN) is cut, as is a connection that never finishes the handshake. Our own ticks keep a
// link open well past the timeout.
TEST_F(S2sSecurity, SilentPeersAreCutAfterTheTimeoutWhileTicksKeepAQuietLinkOpen) {
  ChildProcess& quick = start_server(2, kSecret, kHeartbeatMs, {"--s2s-timeout-ms", "800"});
  int port = 0, metrics = 0;
  ports_of(quick, &port, &metrics);

  int stalled = tcp_connect(port);  // takes the challenge, never answers it
  ASSERT_GE(stalled, 0);
  std::string payload;
  ASSERT_TRUE(read_frame(stalled, &payload));
  EXPECT_TRUE(closed_by_peer(stalled)) << "a handshake that never finishes must be given up";
  ::close(stalled);

  int ticking = handshake(kSecret, 7, port);
  ASSERT_GE(ticking, 0);
  // The node ticks to us: empty frames. We tick back for 2.5 s, three timeouts' worth.
  const auto until = std::chrono::steady_clock::now() + Millis(2500);
  int ticks = 0;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(read_frame(ticking, &payload)) << "the link closed although we ticked";
    EXPECT_TRUE(payload.empty()) << "only ticks travel on an idle link";
    ++ticks;
    send_all(ticking, std::string(4, '\0'));
  }
  EXPECT_GE(ticks, 5);
  // Silence: the node cuts the link.
  EXPECT_TRUE(closed_by_peer(ticking)) << "a silent peer must be cut";
  ::close(ticking);
  EXPECT_TRUE(wait_until([&] { return metric("behavior_s2s_timeouts_total", 2, metrics) == 2; }, Millis(10000)))
      << "timeouts_total = " << metric("behavior_s2s_timeouts_total", 2, metrics);
  EXPECT_TRUE(quick.wait_for_output("nothing received for", Millis(2000))) << quick.output();
  expect_node_still_serves();
}

TEST(RedisAuth, NodesJoinARedisThatRequiresAPassword) {
  RedisServer redis("s3cret-pass");
  ASSERT_TRUE(redis.start());
  ChildProcess server;
  ASSERT_TRUE(server.start(kLocalServer, {"--node-id", "5", "--redis", redis.address(), "--workers", "1",
                                          "--heartbeat-ms", "200", "--ttl-ms", "1000"},
                           {"BEHAVIOR_CLUSTER_SECRET=x", "BEHAVIOR_REDIS_PASSWORD=s3cret-pass"}));
  ASSERT_TRUE(server.wait_for_output("local_server ready", Millis(10000))) << server.output();
  EXPECT_TRUE(wait_until([&] { return redis.exists("behavior:node:5"); }));
  server.signal(SIGTERM);
  EXPECT_NE(server.wait_exit(Millis(10000)), -1);
  EXPECT_FALSE(redis.exists("behavior:node:5"));  // left gracefully
}

TEST(RedisAuth, AWrongPasswordIsLoggedAndRetriedWithoutCrashing) {
  RedisServer redis("right");
  ASSERT_TRUE(redis.start());
  ChildProcess server;
  ASSERT_TRUE(server.start(kLocalServer, {"--node-id", "6", "--redis", redis.address(), "--workers", "1"},
                           {"BEHAVIOR_CLUSTER_SECRET=x", "BEHAVIOR_REDIS_PASSWORD=wrong"}));
  ASSERT_TRUE(server.wait_for_output("AUTH refused", Millis(10000))) << server.output();
  EXPECT_EQ(server.wait_exit(Millis(300)), -1);  // still running
  server.signal(SIGTERM);
  EXPECT_NE(server.wait_exit(Millis(10000)), -1);
}

TEST(ClusterFlags, ClusterWithoutASecretRefusesToStart) {
  ChildProcess server;
  ASSERT_TRUE(server.start(kLocalServer, {"--redis", "127.0.0.1:1"}));
  int status = server.wait_exit(Millis(10000));
  ASSERT_NE(status, -1);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(server.output().find("BEHAVIOR_CLUSTER_SECRET"), std::string::npos) << server.output();
}

}  // namespace
}  // namespace behavior::testing
