// cluster_test.cpp — the cluster layer with real parts: redis-server, three local_server
// processes and this test process as a fourth node, talking over s2s on 127.0.0.1.
#include <atomic>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "cluster_fixture.h"

namespace behavior::testing {
namespace {

class Cluster3 : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    for (uint16_t id : {1, 2, 3}) start_server(id);
    start_test_node();
    ASSERT_TRUE(wait_for_nodes(4)) << "the test node does not see all nodes";
  }
  Pid ensure_on(const std::string& name, uint16_t node, Pid writer = {}) {
    Result<Pid> pid = cluster_->ensure(name, "user", node, writer);
    EXPECT_TRUE(pid.ok()) << pid.status().to_string();
    return pid.ok() ? *pid : Pid();
  }
};

TEST_F(Cluster3, RemoteSendAndCallByPidAndByName) {
  Pid a = ensure_on("user/a", 1), b = ensure_on("user/b", 2), c = ensure_on("user/c", 3);
  EXPECT_EQ(a.node(), 1);
  EXPECT_EQ(b.node(), 2);
  EXPECT_EQ(c.node(), 3);
  for (Pid p : {a, b, c}) {
    Reply r = probe_->call(p, kEcho, std::string("hi ") + p.to_string());
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r.as<std::string>(), "hi " + p.to_string());
  }
  // By name: not on this node, so the directory says where.
  Reply byname = probe_->call("user/b", kEcho, std::string("by name"));
  ASSERT_TRUE(byname.ok()) << byname.status().to_string();
  EXPECT_EQ(byname.as<std::string>(), "by name");
  EXPECT_EQ(probe_->call("user/nobody", kEcho).status().code(), Code::kNotFound);
  // Large both ways: the reply comes back on the link this node dialed.
  std::string big(300 * 1024, 'b');
  Reply large = probe_->call(a, kEcho, big);
  ASSERT_TRUE(large.ok()) << large.status().to_string();
  EXPECT_EQ(large.as<std::string>(), big);
}

TEST_F(Cluster3, RemoteStopByNameRunsOnStopAndFreesTheName) {
  Pid s = ensure_on("user/s", 2);
  watch_from_here(s);
  ASSERT_TRUE(node_->stop(std::string_view("user/s"), "retired").ok());
  EXPECT_EQ(next_down_reason(*probe_), "retired") << servers_[1]->output();
  EXPECT_TRUE(wait_until([&] { return !redis_.exists(key("dir:user/s")); }));
  // Answered at once either way: kNotFound from the directory, or kNoProcess if this node
  // still had the name cached (2 s) and node 2 answered for the dead pid.
  Code c = probe_->call("user/s", kEcho, {}, Millis(4000)).status().code();
  EXPECT_TRUE(c == Code::kNotFound || c == Code::kNoProcess) << code_name(c);
}

TEST_F(Cluster3, RemoteProcessWritesToAWriterOnAnotherNode) {
  // The writer lives here (the test node); the user process on node 2 sends it client frames.
  Pid p = probe_->pid();
  Result<Pid> writer = node_->spawn_fn([p](Actor& self, Message& m) -> Task<> {
    if (m.kind() == Kind::kClient) self.send(p, m.proto_id(), std::string(m.body().raw()));
    co_return;
  });
  ASSERT_TRUE(writer.ok());
  Pid user = ensure_on("user/w", 2, *writer);
  for (int i = 0; i < 50; ++i) probe_->send(user, kEcho, std::to_string(i));
  for (int i = 0; i < 50; ++i) {  // in order, none lost
    MessagePtr m = expect_message(*probe_, kEcho);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->as<std::string>(), std::to_string(i));
  }
}

TEST_F(Cluster3, ConcurrentEnsuresFromThreeNodesActivateOnce) {
  constexpr int kEnsures = 100;
  std::vector<Pid> got(kEnsures);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kEnsures; i += 4) {
        Result<Pid> r = cluster_->ensure("user/hot", "user", static_cast<uint16_t>(1 + i % 3));
        if (r.ok()) got[i] = *r;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < kEnsures; ++i) ASSERT_EQ(got[i], got[0]) << "ensure " << i;
  ASSERT_TRUE(got[0].valid());
  EXPECT_TRUE(wait_until([&] { return count_in_outputs("activated user/hot") >= 1; }));
  expect_silence(*probe_, Millis(100));
  EXPECT_EQ(count_in_outputs("activated user/hot"), 1);
  EXPECT_EQ(redis_.command({"GET", key("dir:user/hot")}), std::to_string(got[0].node()) + ":" +
                                                              std::to_string(got[0].raw()));
}

TEST_F(Cluster3, KilledNodeIsCleanedUpAndItsCallsFailFast) {
  Pid a = ensure_on("user/a", 1);
  Pid k = ensure_on("user/k", 3);
  ASSERT_TRUE(redis_.exists(key("dir:user/k")));
  // A process here monitors user/k, and a call to it is in flight when node 3 dies.
  watch_from_here(k);
  ChildProcess& node3 = *servers_[2];
  node3.signal(SIGSTOP);  // the call below gets no answer...
  ASSERT_TRUE(node3.wait_stopped(Millis(5000)));
  std::atomic<int> code{-1};
  std::thread caller([&] {
    Inbox inbox(*node_);
    code = static_cast<int>(inbox.call(k, kEcho, std::string("x"), Millis(20000)).status().code());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  node3.signal(SIGKILL);  // ...and then node 3 is gone for good
  auto t0 = std::chrono::steady_clock::now();
  caller.join();
  EXPECT_EQ(code.load(), static_cast<int>(Code::kUnavailable));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(10000));  // not the 20 s timeout
  EXPECT_EQ(next_down_reason(*probe_), "noconnection");
  EXPECT_TRUE(wait_until([&] { return !redis_.exists(key("dir:user/k")); }));
  EXPECT_FALSE(redis_.exists(key("node:3")));
  EXPECT_FALSE(knows_node(3));
  // A new call to it fails at once; the other nodes are unaffected.
  EXPECT_EQ(probe_->call(k, kEcho, {}, Millis(5000)).status().code(), Code::kUnavailable);
  Reply r = probe_->call(a, kEcho, std::string("still here"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  // The name can be activated again elsewhere (7+4 falls through to a live node).
  Pid k2 = ensure_on("user/k", 2);
  EXPECT_EQ(k2.node(), 2);
}

// A node that stops (SIGTERM; or a ctl command that is done) leaves: the others see "left",
// not a failure (no warning, behavior_cluster_nodes_down_total stays 0), and its processes'
// monitors still fire, since those processes are gone.
TEST_F(Cluster3, AGracefullyStoppedNodeHasLeftAndIsNotCountedAsDown) {
  Pid g = ensure_on("user/g", 3);
  watch_from_here(g);
  ChildProcess& node3 = *servers_[2];
  node3.signal(SIGTERM);
  int status = node3.wait_exit(Millis(10000));
  ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << node3.output();
  // The demo's user kind is durable: it passivates (saves, releases its name) while its node
  // still runs, so the monitor hears the real reason rather than the node's leaving.
  EXPECT_EQ(next_down_reason(*probe_), "shutdown");
  EXPECT_TRUE(wait_until([&] { return !knows_node(3); }));
  std::string here = cluster_->metrics_text();
  EXPECT_NE(here.find("behavior_cluster_nodes_left_total{node=\"100\"} 1"), std::string::npos) << here;
  EXPECT_NE(here.find("behavior_cluster_nodes_down_total{node=\"100\"} 0"), std::string::npos) << here;
  EXPECT_TRUE(wait_until([&] { return servers_[0]->output().find("node 3 left") != std::string::npos; }))
      << servers_[0]->output();
  EXPECT_EQ(servers_[0]->output().find("node 3 is down"), std::string::npos) << servers_[0]->output();
}

// A node paused past the TTL (SIGSTOP) is declared dead and its names activate elsewhere;
// when it resumes it must not serve them on (split brain): it finds the cleanup's mark at its
// next heartbeat, kills its processes that held cluster names, fires its links and monitors
// to other nodes, and stays a member, empty-handed.
TEST_F(Cluster3, APausedNodeDeclaredDeadDropsItsStaleProcessesWhenItResumes) {
  Pid stale = ensure_on("user/s", 3);
  Pid other = ensure_on("user/o", 1);
  ChildProcess& node3 = *servers_[2];
  node3.signal(SIGSTOP);
  ASSERT_TRUE(node3.wait_stopped(Millis(5000)));
  ASSERT_TRUE(wait_until([&] { return !knows_node(3) && !redis_.exists(key("dir:user/s")); }, Millis(10000)));
  EXPECT_TRUE(redis_.exists(key("dead:3")));
  Pid fresh = ensure_on("user/s", 2);  // the name lives on node 2 now
  ASSERT_EQ(fresh.node(), 2);

  node3.signal(SIGCONT);
  EXPECT_TRUE(node3.wait_for_output("declared dead while it could not heartbeat", Millis(10000))) << node3.output();
  EXPECT_TRUE(wait_until([&] { return knows_node(3) && !redis_.exists(key("dead:3")); }, Millis(10000)));
  // The stale activation is gone; the name still resolves to node 2's; node 3 serves on.
  EXPECT_TRUE(wait_until([&] { return probe_->call(stale, kEcho, std::string("stale?"), Millis(2000)).status().code() != Code::kOk; }));
  EXPECT_EQ(redis_.command({"GET", key("dir:user/s")}), std::to_string(fresh.node()) + ":" + std::to_string(fresh.raw()));
  Reply r = probe_->call("user/s", kEcho, std::string("who"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r.message().from(), fresh);
  Pid again = ensure_on("user/n", 3);
  EXPECT_EQ(again.node(), 3);
  EXPECT_TRUE(probe_->call(again, kEcho, std::string("new")).ok());
  EXPECT_TRUE(probe_->call(other, kEcho, std::string("other")).ok());
}

TEST_F(Cluster3, RedisRestartNodesReRegisterAndRepublish) {
  Pid a = ensure_on("user/a", 1);
  Pid b = ensure_on("user/b", 2);
  redis_.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Messages between nodes do not go through Redis: still fine while it is down.
  ASSERT_TRUE(probe_->call(a, kEcho, std::string("during")).ok());
  ASSERT_TRUE(redis_.start());
  EXPECT_TRUE(wait_until([&] {
    return cluster_->redis_connected() && redis_.exists(key("node:1")) && redis_.exists(key("node:2")) &&
           redis_.exists(key("node:3")) && redis_.exists(key("dir:user/a")) && redis_.exists(key("dir:user/b"));
  }, Millis(10000))) << "node:1 " << redis_.exists(key("node:1")) << " node:2 " << redis_.exists(key("node:2"))
                     << " node:3 " << redis_.exists(key("node:3")) << " dir:user/a " << redis_.exists(key("dir:user/a"))
                     << " dir:user/b " << redis_.exists(key("dir:user/b")) << "\n" << servers_[0]->output() << "\n"
                     << servers_[1]->output() << "\n" << servers_[2]->output();
  Reply r = probe_->call("user/b", kEcho, std::string("after"));
  ASSERT_TRUE(r.ok()) << r.status().to_string() << "\n" << servers_[1]->output();
  EXPECT_EQ(r.message().from(), b);
  for (auto& s : servers_) EXPECT_EQ(s->wait_exit(Millis(0)), -1) << "a server exited\n" << s->output();
}

TEST_F(Cluster3, LostPubSubStillConvergesThroughTheTtl) {
  ensure_on("user/p", 2);
  // Drop every subscriber connection, then kill node 2 without a word.
  redis_.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  servers_[1]->signal(SIGKILL);
  EXPECT_TRUE(wait_until([&] { return !knows_node(2) && !redis_.exists(key("dir:user/p")); }, Millis(10000)));
}

// /readyz is readiness, /healthz liveness: a node whose heartbeat Redis refuses (here
// min-replicas-to-write without replicas: every write gets -NOREPLICAS, reads work) still
// answers /healthz but says 503 on /readyz, with the reason, and 200 again once its
// heartbeats go through.
TEST_F(Cluster3, ReadinessFollowsWhetherRedisTakesTheHeartbeat) {
  std::string out = servers_[0]->output();
  auto pos = out.find("metrics_port=");
  ASSERT_NE(pos, std::string::npos);
  const int port = std::atoi(out.c_str() + pos + 13);
  auto readyz = [port] {
    HttpClient c(port);
    return c.request("GET", "/readyz");
  };
  HttpReply r = readyz();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "ready\n");
  ASSERT_EQ(redis_.command({"CONFIG", "SET", "min-replicas-to-write", "1"}), "OK");
  EXPECT_TRUE(wait_until([&] { return readyz().status == 503; }, Millis(5000)));
  r = readyz();
  EXPECT_NE(r.body.find("not ready: Redis does not take this node's heartbeat"), std::string::npos) << r.body;
  EXPECT_EQ(http_get(port, "/healthz"), "ok\n");  // alive all the same
  ASSERT_EQ(redis_.command({"CONFIG", "SET", "min-replicas-to-write", "0"}), "OK");
  EXPECT_TRUE(wait_until([&] { return readyz().status == 200; }, Millis(5000)));
}

TEST_F(Cluster3, MetricsEndpointServesPrometheusText) {
  ensure_on("user/m", 1);
  std::string out = servers_[0]->output();
  auto pos = out.find("metrics_port=");
  ASSERT_NE(pos, std::string::npos);
  int port = std::atoi(out.c_str() + pos + 13);
  ASSERT_GT(port, 0);
  std::string body = http_get(port, "/metrics");
  EXPECT_NE(body.find("behavior_processes{node=\"1\"}"), std::string::npos) << body;
  EXPECT_NE(body.find("behavior_s2s_connections{node=\"1\"}"), std::string::npos);
  EXPECT_NE(body.find("behavior_redis_connected{node=\"1\"} 1"), std::string::npos);
  EXPECT_NE(body.find("behavior_heartbeat_age_seconds"), std::string::npos);
  // The families every process shows, and the build.
  EXPECT_NE(body.find("behavior_build_info{version=\""), std::string::npos) << body;
  EXPECT_NE(body.find("\nprocess_resident_memory_bytes "), std::string::npos) << body;
  EXPECT_NE(body.find("\nprocess_open_fds "), std::string::npos) << body;
  EXPECT_NE(body.find("\nprocess_cpu_seconds_total "), std::string::npos) << body;
  EXPECT_NE(body.find("behavior_remote_call_seconds_bucket{node=\"1\",le=\"+Inf\"}"), std::string::npos) << body;
  // Every family has HELP and TYPE before its first sample.
  std::istringstream in(body);
  std::set<std::string> described;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) described.insert(line.substr(7, line.find(' ', 7) - 7));
    if (line.empty() || line[0] == '#') continue;
    std::string name = line.substr(0, line.find_first_of("{ "));
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!described.count(name) && name.size() > std::strlen(suffix) &&
          name.compare(name.size() - std::strlen(suffix), std::string::npos, suffix) == 0) {
        name.resize(name.size() - std::strlen(suffix));
      }
    }
    EXPECT_TRUE(described.count(name)) << name << " has no # TYPE before it";
  }
}

}  // namespace
}  // namespace behavior::testing

namespace behavior::testing {
namespace {

class JustJoined : public ClusterTest {};
class IoPlacement : public ClusterTest {};

// The test node calls a server right after joining, before the server has seen it join:
// the server refreshes only every 5 s here and misses the "up" event (its subscription was
// just cut). Its reply must wait for an on-demand refresh, not be dropped.
TEST_F(JustJoined, ANodeCanCallRightAfterJoining) {
  start_server(1, kSecret, 5000);
  redis_.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  start_test_node();
  Result<Pid> pid = cluster_->ensure("user/early", "user", 1, Pid(), Millis(5000));
  ASSERT_TRUE(pid.ok()) << pid.status().to_string();
  Reply r = probe_->call(*pid, kEcho, std::string("hello"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r.as<std::string>(), "hello");
}

// The network on a thread of its own (--cluster-io-thread, io_on_worker = false) on both
// sides: the same calls work.
TEST_F(IoPlacement, TheNetworkOnAThreadOfItsOwnWorksTheSame) {
  start_server(1, kSecret, kHeartbeatMs, {"--cluster-io-thread"});
  start_test_node(false);
  ASSERT_TRUE(wait_for_nodes(2));
  Result<Pid> pid = cluster_->ensure("user/threaded", "user", 1);
  ASSERT_TRUE(pid.ok()) << pid.status().to_string();
  for (int i = 0; i < 100; ++i) {
    Reply r = probe_->call(*pid, kEcho, std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r.as<std::string>(), std::to_string(i));
  }
}

// Node::shutdown without Cluster::stop first: the node still leaves the cluster at once
// (before its workers stop, since the network runs on worker 0) instead of hanging or
// waiting for the TTL.
TEST_F(IoPlacement, NodeShutdownLeavesTheClusterFirst) {
  start_server(1);
  start_test_node();
  ASSERT_TRUE(wait_for_nodes(2));
  ASSERT_EQ(redis_.command({"EXISTS", prefix_ + "node:" + std::to_string(kTestNode)}), "1");
  probe_.reset();
  node_->shutdown();
  EXPECT_EQ(redis_.command({"EXISTS", prefix_ + "node:" + std::to_string(kTestNode)}), "0");
  cluster_.reset();
  node_.reset();
}

}  // namespace
}  // namespace behavior::testing
