// cluster_fixture.h — a real cluster for a test: redis-server on a free port, N local_server
// OS processes joined to it, and this test process as one more node (id 100) with its own
// Cluster, so the test can send, call and ensure across real s2s links.
#pragma once

#include <behavior/behavior.h>
#include <behavior/cluster.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "net_util.h"
#include "redis_server.h"
#include "test_support.h"

namespace behavior::testing {

inline const std::string kLocalServer = std::string(BEHAVIOR_BIN_DIR) + "/local_server";
inline const std::string kDemoGame = std::string(BEHAVIOR_BIN_DIR) + "/../lib/libbehavior_demo_game.so";
inline constexpr const char* kSecret = "test-cluster-secret";
inline constexpr uint16_t kTestNode = 100;
inline constexpr uint32_t kEcho = 1, kCount = 2;  // local_server's demo "user" kind

// Whether `cluster`'s view of live nodes has node `id`.
inline bool knows_node(const Cluster& cluster, uint16_t id) {
  for (auto& n : cluster.nodes()) {
    if (n.id == id) return true;
  }
  return false;
}

class ClusterTest : public ::testing::Test {
 protected:
  static constexpr int kHeartbeatMs = 200;
  static constexpr int kTtlMs = 1000;

  void SetUp() override {
    prefix_ = "t" + std::to_string(::getpid()) + ":";
    ASSERT_TRUE(redis_.start()) << "redis-server did not start";
  }

  void TearDown() override {
    stop_test_node();
    for (auto& s : servers_) {
      if (!s || s->wait_exit(Millis(0)) != -1) continue;  // killed by the test itself
      s->signal(SIGTERM);
      int status = s->wait_exit(Millis(10000));
      // A clean exit: under ASan this also means no leaks in the server.
      EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << s->output();
    }
    servers_.clear();
    redis_.stop();
  }

  std::vector<std::string> server_args(uint16_t id, const std::string& secret, int heartbeat_ms) {
    return {"--node-id", std::to_string(id), "--workers", "1", "--redis", redis_.address(),
            "--redis-prefix", prefix_, "--heartbeat-ms", std::to_string(heartbeat_ms), "--ttl-ms",
            std::to_string(heartbeat_ms * kTtlMs / kHeartbeatMs), "--log-level", "debug", "--cluster-secret", secret, "--kinds-lib", kDemoGame};
  }

  // Starts local_server node `id` and waits until it is ready.
  ChildProcess& start_server(uint16_t id, const std::string& secret = kSecret, int heartbeat_ms = kHeartbeatMs,
                             std::vector<std::string> extra = {}) {
    auto p = std::make_unique<ChildProcess>();
    std::vector<std::string> args = server_args(id, secret, heartbeat_ms);
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_TRUE(p->start(kLocalServer, args));
    EXPECT_TRUE(p->wait_for_output("local_server ready", std::chrono::milliseconds(10000))) << p->output();
    servers_.push_back(std::move(p));
    return *servers_.back();
  }

  void start_test_node(bool io_on_worker = true) {
    NodeOptions no;
    no.node_id = kTestNode;
    no.workers = 2;
    node_ = std::make_unique<Node>(no);
    ASSERT_TRUE(node_->start().ok());
    ClusterOptions co;
    co.redis_port = redis_.port();
    co.prefix = prefix_;
    co.secret = kSecret;
    co.heartbeat = Millis(kHeartbeatMs);
    co.ttl = Millis(kTtlMs);
    co.metrics_port = -1;
    co.io_on_worker = io_on_worker;
    if (configure_test_node_) configure_test_node_(co);
    cluster_ = std::make_unique<Cluster>(*node_, co);
    ASSERT_TRUE(cluster_->start().ok());
    probe_ = std::make_unique<Inbox>(*node_);
  }

  void stop_test_node() {
    probe_.reset();
    if (cluster_) cluster_->stop();
    if (node_) node_->shutdown();
    cluster_.reset();
    node_.reset();
  }

  // Monitors a remote demo "user" process and acks with kWatch once the monitor is in place
  // at the remote node: its echo call travels the same link as the monitor signal, after it.
  // Then passes on what the monitor hears: kMoved (live migration), kDown.
  class RemoteWatcher : public Router {
   public:
    RemoteWatcher(Pid target, Pid probe) : target_(target), probe_(probe) {}
    void on_start() override {
      actor().monitor(target_);
      actor().send(actor().pid(), kWatch);
    }
    Task<> route(Message& m) override {
      if (m.proto_id() == kWatch) {
        co_await actor().call(target_, kEcho, std::string("sync"));
        actor().send(probe_, kWatch);
      } else if (m.proto_id() == proto::kMoved) {
        actor().send(probe_, proto::kMoved, pb::Moved(m.as<pb::Moved>()));
      } else if (m.proto_id() == proto::kDown) {
        actor().send(probe_, proto::kDown, pb::DownSignal(m.as<pb::DownSignal>()));
      }
    }

   private:
    Pid target_, probe_;
  };

  // Monitors `target` from a process on the test node; the DOWN goes to the probe.
  void watch_from_here(Pid target) {
    Result<Pid> w = node_->spawn(std::make_unique<RemoteWatcher>(target, probe_->pid()));
    ASSERT_TRUE(w.ok());
    ASSERT_NE(expect_message(*probe_, kWatch), nullptr);
  }

  bool wait_for_nodes(size_t n) {
    return wait_until([&] { return cluster_->nodes().size() == n; }, Millis(10000));
  }

  bool knows_node(uint16_t id) { return testing::knows_node(*cluster_, id); }

  // Counts lines containing `needle` across every server's output.
  int count_in_outputs(const std::string& needle) {
    int n = 0;
    for (auto& s : servers_) {
      std::string out = s->output();
      for (size_t pos = out.find(needle); pos != std::string::npos; pos = out.find(needle, pos + 1)) ++n;
    }
    return n;
  }

  std::string key(const std::string& suffix) const { return prefix_ + suffix; }

  RedisServer redis_;
  std::string prefix_;
  std::vector<std::unique_ptr<ChildProcess>> servers_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Inbox> probe_;
  std::function<void(ClusterOptions&)> configure_test_node_;  // say, to make it a gateway
};

}  // namespace behavior::testing
