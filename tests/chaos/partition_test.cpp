// partition_test.cpp — network partitions between real nodes, each in a network namespace
// of its own (tests/support/netns_lab.h: a bridge, veth pairs, iptables DROP inside a host;
// nothing outside these namespaces is touched). Redis runs on host "core", local servers on
// "n1" and "n2", and this test process is a node on host "t" (its node's threads live in
// that namespace). Two promises:
//   - a partition between live nodes makes calls across it fail with a clear error (a
//     timeout, never a hang), leaves the rest of the cluster alone, never activates a name
//     twice, and the cluster converges by itself once the network heals (s2s ticks cut the
//     silent link, the next message redials);
//   - a node cut off from everything, Redis included, is declared dead after the TTL, its
//     names are activated elsewhere, and when the network comes back it fences itself
//     (drops the stale processes) instead of serving them on: no split brain.
#include <behavior/behavior.h>
#include <behavior/cluster.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "../cluster/cluster_fixture.h"
#include "netns_lab.h"

namespace behavior::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kCoreIp = "10.77.0.1";
constexpr const char* kN1Ip = "10.77.0.11";
constexpr const char* kN2Ip = "10.77.0.12";
constexpr const char* kTestIp = "10.77.0.100";
constexpr const char* kRedisPassword = "partition-test-pass";  // bound off loopback: Redis wants one
constexpr int kHeartbeat = 200, kTtl = 1500, kS2sTimeout = 1000;

class Partition : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!NetnsLab::available(&why)) GTEST_SKIP() << why;
    lab_ = std::make_unique<NetnsLab>();
    for (auto [host, ip] : {std::pair{"core", kCoreIp}, {"n1", kN1Ip}, {"n2", kN2Ip}, {"t", kTestIp}}) {
      Status s = lab_->add_host(host, ip);
      ASSERT_TRUE(s.ok()) << s.to_string();
    }
    redis_ = start_in("core", "/usr/bin/redis-server",
                      {"--port", "6379", "--bind", kCoreIp, "--requirepass", kRedisPassword, "--save", "", "--appendonly", "no"},
                      "Ready to accept connections");
    n1_ = start_in("n1", kLocalServer, server_args(1, kN1Ip), "local_server ready");
    n2_ = start_in("n2", kLocalServer, server_args(2, kN2Ip), "local_server ready");
    ASSERT_TRUE(redis_ && n1_ && n2_);
    Status in = lab_->in("t", [&] {
      NodeOptions no;
      no.node_id = kTestNode;
      no.workers = 2;
      node_ = std::make_unique<Node>(no);
      if (!node_->start().ok()) return;
      ClusterOptions co;
      co.redis_host = kCoreIp;
      co.redis_port = 6379;
      co.redis_password = kRedisPassword;
      co.secret = kSecret;
      co.s2s_host = kTestIp;
      co.heartbeat = Millis(kHeartbeat);
      co.ttl = Millis(kTtl);
      co.s2s_timeout = Millis(kS2sTimeout);
      cluster_ = std::make_unique<Cluster>(*node_, co);
      started_ = cluster_->start();
    });
    ASSERT_TRUE(in.ok()) << in.to_string();
    ASSERT_TRUE(started_.ok()) << started_.to_string();
    probe_ = std::make_unique<Inbox>(*node_);
    ASSERT_TRUE(wait_until([&] { return cluster_->nodes().size() == 3; }, Millis(15000)))
        << "the nodes did not find each other across the bridge";
  }

  void TearDown() override {
    probe_.reset();
    if (cluster_) cluster_->stop();
    if (node_) node_->shutdown();
    cluster_.reset();
    node_.reset();
    for (ChildProcess* p : {n1_.get(), n2_.get(), redis_.get()}) {
      if (!p || p->wait_exit(Millis(0)) != -1) continue;
      p->signal(SIGTERM);
      EXPECT_NE(p->wait_exit(Millis(10000)), -1) << p->output();
    }
    n1_.reset();
    n2_.reset();
    redis_.reset();
    lab_.reset();  // the namespaces go last, after everything running in them
  }

  std::vector<std::string> server_args(uint16_t id, const char* ip) {
    return {"--node-id", std::to_string(id), "--workers", "1", "--redis", std::string(kCoreIp) + ":6379",
            "--redis-password", kRedisPassword,
            "--heartbeat-ms", std::to_string(kHeartbeat), "--ttl-ms", std::to_string(kTtl), "--s2s-host", ip,
            "--s2s-timeout-ms", std::to_string(kS2sTimeout), "--log-level", "debug", "--cluster-secret", kSecret,
            "--kinds-lib", kDemoGame};
  }

  std::unique_ptr<ChildProcess> start_in(const std::string& host, const std::string& binary,
                                         const std::vector<std::string>& args, const std::string& ready) {
    std::vector<std::string> argv = lab_->exec_args(host);
    argv.push_back(binary);
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = std::make_unique<ChildProcess>();
    const std::string path = argv[0];
    argv.erase(argv.begin());
    if (!p->start(path, argv) || !p->wait_for_output(ready, Millis(15000))) {
      ADD_FAILURE() << binary << " did not start in " << host << ": " << p->output();
      return nullptr;
    }
    return p;
  }

  Reply echo(Pid pid, const std::string& text, Millis timeout) {
    return probe_->call(pid, kEcho, text, timeout);
  }
  bool knows_node(uint16_t id) { return testing::knows_node(*cluster_, id); }

  std::unique_ptr<NetnsLab> lab_;
  std::unique_ptr<ChildProcess> redis_, n1_, n2_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Inbox> probe_;
  Status started_;
};

TEST_F(Partition, CallsAcrossAPartitionFailClearlyAndTheClusterConvergesAfterTheHeal) {
  Result<Pid> alice = cluster_->ensure("user/alice", "user", 1);
  Result<Pid> bob = cluster_->ensure("user/bob", "user", 2);
  ASSERT_TRUE(alice.ok() && bob.ok());
  ASSERT_TRUE(echo(*bob, "before", Millis(5000)).ok());

  // This node and n2 can no longer reach each other; both still reach Redis and n1.
  Status cut = lab_->cut("n2", kTestIp);
  ASSERT_TRUE(cut.ok()) << cut.to_string();
  Reply during = echo(*bob, "during", Millis(1000));
  ASSERT_FALSE(during.ok()) << "a call across the partition cannot be answered";
  EXPECT_EQ(during.status().code(), Code::kTimeout) << during.status().to_string();
  std::printf("[ measured ] a call across the partition: %s\n", during.status().to_string().c_str());
  Reply other = echo(*alice, "unaffected", Millis(5000));
  EXPECT_TRUE(other.ok()) << "n1 is not partitioned: " << other.status().to_string();

  // The silent link is cut by the ticks' timeout (not minutes later by TCP).
  EXPECT_TRUE(wait_until(
      [&] { return cluster_->metrics_text().find("behavior_s2s_timeouts_total{node=\"100\"} 0\n") == std::string::npos; },
      Millis(10000)))
      << cluster_->metrics_text();
  // Both sides still heartbeat to Redis: nobody is declared dead, and the name stays where
  // it is (an ensure through n1 finds bob on n2 instead of activating a second one).
  std::this_thread::sleep_for(Millis(2 * kTtl));  // longer than the TTL: time for a wrong death
  EXPECT_TRUE(knows_node(2)) << "a partition that leaves Redis reachable must not kill a node";
  Result<Pid> again = cluster_->ensure("user/bob", "user", 1);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*again, *bob) << "one activation per name, partition or not";

  // Heal: the next call redials and gets through.
  ASSERT_TRUE(lab_->heal("n2").ok());
  auto t0 = SteadyClock::now();
  EXPECT_TRUE(wait_until([&] { return echo(*bob, "after", Millis(500)).ok(); }, Millis(15000)))
      << "the cluster did not converge after the heal";
  std::printf("[ measured ] calls to n2 answered again %.2f s after the heal\n", seconds_since(t0));
  EXPECT_TRUE(echo(*alice, "still", Millis(5000)).ok());
  EXPECT_TRUE(n2_->wait_for_output("nothing received for", Millis(1000)))
      << "n2 also cut its side of the silent link";
}

TEST_F(Partition, AnIsolatedNodeIsDeclaredDeadItsNamesMoveAndItFencesItselfOnTheHeal) {
  Result<Pid> bob = cluster_->ensure("user/bob", "user", 2);
  ASSERT_TRUE(bob.ok());
  ASSERT_TRUE(echo(*bob, "before", Millis(5000)).ok());

  // n2 loses its network entirely, Redis included; it keeps running.
  ASSERT_TRUE(lab_->isolate("n2").ok());
  auto t0 = SteadyClock::now();
  ASSERT_TRUE(wait_until([&] { return !knows_node(2); }, Millis(15000))) << "n2 was never declared dead";
  std::printf("[ measured ] the isolated node declared dead %.2f s after the cut (TTL %d ms)\n", seconds_since(t0),
              kTtl);
  Result<Pid> moved = cluster_->ensure("user/bob", "user", 1);
  ASSERT_TRUE(moved.ok()) << moved.status().to_string();
  EXPECT_EQ(moved->node(), 1) << "bob is activated again on a live node";
  EXPECT_TRUE(echo(*moved, "moved", Millis(5000)).ok());

  // The network comes back: n2 finds it was declared dead and fences itself.
  ASSERT_TRUE(lab_->heal("n2").ok());
  t0 = SteadyClock::now();
  ASSERT_TRUE(n2_->wait_for_output("was declared dead", Millis(20000))) << n2_->output();
  EXPECT_TRUE(wait_until([&] { return knows_node(2); }, Millis(15000))) << "n2 did not rejoin";
  std::printf("[ measured ] n2 fenced itself and rejoined %.2f s after the heal\n", seconds_since(t0));
  // The stale bob on n2 is gone; the name means the one on n1, from anywhere.
  Reply stale = echo(*bob, "stale", Millis(2000));
  EXPECT_FALSE(stale.ok()) << "the stale process on the fenced node must not answer";
  Result<Pid> looked = cluster_->lookup("user/bob");
  ASSERT_TRUE(looked.ok()) << looked.status().to_string();
  EXPECT_EQ(*looked, *moved);
  Result<Pid> ensured = cluster_->ensure("user/bob", "user", 2);
  ASSERT_TRUE(ensured.ok());
  EXPECT_EQ(*ensured, *moved) << "one activation per name after the heal";
  // And n2 serves new activations.
  Result<Pid> carol = cluster_->ensure("user/carol", "user", 2);
  ASSERT_TRUE(carol.ok()) << carol.status().to_string();
  EXPECT_TRUE(echo(*carol, "new", Millis(5000)).ok());
}

}  // namespace
}  // namespace behavior::testing
