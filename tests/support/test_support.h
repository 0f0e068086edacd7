// test_support.h — helpers shared by the runtime tests: a started node with a probe inbox,
// condition waits with deadlines (never fixed sleeps), and expecting a message on a probe.
#pragma once

#include <behavior/behavior.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include <behavior/system.pb.h>

namespace behavior::testing {

// Polls `pred` until it holds or `timeout` passes; returns the last value.
inline bool wait_until(const std::function<bool()>& pred, Millis timeout = Millis(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Seconds since `t0`, for the "[ measured ]" lines tests print (never asserted).
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The next message on `inbox` must come within `timeout` and carry `proto_id`.
inline MessagePtr expect_message(Inbox& inbox, uint32_t proto_id, Millis timeout = Millis(5000)) {
  MessagePtr m = inbox.receive(timeout);
  EXPECT_NE(m, nullptr) << "no message " << proto_id << " within " << timeout.count() << " ms";
  if (m) {
    EXPECT_EQ(m->proto_id(), proto_id);
  }
  return m;
}

// Nothing must arrive on `inbox` for `quiet` (used to show that something did NOT happen).
inline void expect_silence(Inbox& inbox, Millis quiet = Millis(200)) {
  MessagePtr m = inbox.receive(quiet);
  EXPECT_EQ(m, nullptr) << "unexpected message " << (m ? m->proto_id() : 0);
}

class NodeTest : public ::testing::Test {
 protected:
  virtual NodeOptions node_options() {
    NodeOptions o;
    o.workers = 2;
    return o;
  }
  void SetUp() override {
    node_ = std::make_unique<Node>(node_options());
    ASSERT_TRUE(node_->start().ok());
    probe_ = std::make_unique<Inbox>(*node_);
  }
  void TearDown() override {
    probe_.reset();
    node_->shutdown();
    node_.reset();
  }
  Node& node() { return *node_; }
  Inbox& probe() { return *probe_; }

  template <class F>
  Pid spawn(F f, SpawnOptions o = {}) {
    Result<Pid> pid = node_->spawn_fn(std::move(f), std::move(o));
    EXPECT_TRUE(pid.ok()) << pid.status().to_string();
    return pid.ok() ? *pid : Pid();
  }
  // Spawns with a pinned worker, to force same-worker or cross-worker paths.
  template <class F>
  Pid spawn_on(int shard, F f, SpawnOptions o = {}) {
    o.shard = shard;
    return spawn(std::move(f), std::move(o));
  }
  // Monitors `target` from a helper process that forwards the DOWN to the probe.
  Pid watch(Pid target);

  std::unique_ptr<Node> node_;
  std::unique_ptr<Inbox> probe_;
};

// proto ids used by the tests' own messages
inline constexpr uint32_t kPing = 10, kPong = 11, kNote = 12, kWatch = 13, kGo = 14;

// Monitors a target and forwards its DOWN (as a DownSignal) to the probe. It acks with
// kWatch once the monitor is in place, so a later trigger cannot overtake it.
class Watcher : public Router {
 public:
  Watcher(Pid target, Pid probe) : target_(target), probe_(probe) {}
  void on_start() override {
    actor().monitor(target_);
    actor().send(probe_, kWatch);
  }
  Task<> route(Message& m) override {
    if (m.proto_id() == proto::kDown) actor().send(probe_, proto::kDown, pb::DownSignal(m.as<pb::DownSignal>()));
    co_return;
  }

 private:
  Pid target_, probe_;
};

inline Pid NodeTest::watch(Pid target) {
  Result<Pid> w = node_->spawn(std::make_unique<Watcher>(target, probe().pid()));
  EXPECT_TRUE(w.ok());
  expect_message(probe(), kWatch);
  return w.ok() ? *w : Pid();
}

// The reason in the next DOWN on the probe.
inline std::string next_down_reason(Inbox& inbox, Millis timeout = Millis(5000)) {
  MessagePtr m = expect_message(inbox, proto::kDown, timeout);
  return m ? m->as<pb::DownSignal>().reason() : std::string("<none>");
}

}  // namespace behavior::testing
