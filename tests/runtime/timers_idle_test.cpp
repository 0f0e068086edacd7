// timers_idle_test.cpp — send_after, cancel and periodic ticks; model clean: idle expiry
// through on_stop, traffic resetting the deadline, and the pressure policy shortening it.
#include <atomic>

#include "test_support.h"

namespace behavior::testing {
namespace {

constexpr uint32_t kFire = 50, kTick = 51, kArm = 52, kCancel = 53, kStopped = 54, kKeep = 55;

class Timers : public NodeTest {};

TEST_F(Timers, SendAfterDeliversAfterTheDelay) {
  Pid p = probe().pid();
  Pid t = spawn([p, armed = std::chrono::steady_clock::time_point()](Actor& self, Message& m) mutable -> Task<> {
    if (m.proto_id() == kArm) {
      armed = std::chrono::steady_clock::now();
      self.send_after(Millis(50), kFire, std::string("payload"));
    } else if (m.proto_id() == kFire) {
      auto waited = std::chrono::steady_clock::now() - armed;
      self.send(p, kNote, m.as<std::string>() + (waited >= std::chrono::milliseconds(49) ? ":late-enough" : ":early"));
    }
    co_return;
  });
  node().send(t, kArm);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "payload:late-enough");
}

TEST_F(Timers, CancelledTimerNeverFires) {
  Pid p = probe().pid();
  Pid t = spawn([p](Actor& self, Message& m) -> Task<> {
    if (m.proto_id() == kArm) {
      TimerId id = self.send_after(Millis(30), kFire);
      bool cancelled = self.cancel_timer(id);
      self.send_after(Millis(120), kNote);  // a later marker
      self.send(p, kCancel, cancelled);
    } else {
      self.send(p, m.proto_id());
    }
    co_return;
  });
  node().send(t, kArm);
  MessagePtr c = expect_message(probe(), kCancel);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->as<bool>());
  // The marker comes, and nothing came before it.
  MessagePtr next = probe().receive(Millis(5000));
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->proto_id(), kNote);
}

TEST_F(Timers, TickRepeatsUntilCancelled) {
  Pid p = probe().pid();
  Pid t = spawn([p, id = TimerId{0}, n = 0](Actor& self, Message& m) mutable -> Task<> {
    if (m.proto_id() == kArm) id = self.tick(Millis(10), kTick);
    if (m.proto_id() == kTick && ++n == 3) {
      self.cancel_timer(id);
      self.send(p, kTick, n);
    }
    if (m.proto_id() == kTick && n > 3) self.send(p, kNote, n);
    co_return;
  });
  node().send(t, kArm);
  MessagePtr m = expect_message(probe(), kTick);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<int>(), 3);
  expect_silence(probe(), Millis(100));
}

class Idle : public NodeTest {
 protected:
  NodeOptions node_options() override {
    NodeOptions o = NodeTest::node_options();
    o.capacity = capacity_;
    o.idle_sweep = Millis(10);
    return o;
  }
  // A process that reports its on_stop reason to the probe.
  struct Sleeper : Router {
    explicit Sleeper(Pid probe) : probe_(probe) {}
    Task<> route(Message&) override { co_return; }
    void on_stop(std::string_view reason) override {
      actor().send(probe_, kStopped, std::string(reason));
    }
    Pid probe_;
  };
  Pid spawn_sleeper(Millis idle) {
    SpawnOptions o;
    o.idle_timeout = idle;
    return *node().spawn(std::make_unique<Sleeper>(probe().pid()), o);
  }
  uint32_t capacity_ = 10000;
};

TEST_F(Idle, IdleProcessIsStoppedThroughOnStop) {
  spawn_sleeper(Millis(50));
  MessagePtr m = expect_message(probe(), kStopped);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "idle");
  EXPECT_EQ(node().stats().idle_expired, 1u);
}

TEST_F(Idle, TrafficResetsTheIdleDeadline) {
  auto t0 = std::chrono::steady_clock::now();
  Pid s = spawn_sleeper(Millis(150));
  // Keep it busy for ~3 idle periods.
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(450)) {
    node().send(s, kKeep);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto last_traffic = std::chrono::steady_clock::now();
  MessagePtr m = expect_message(probe(), kStopped);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "idle");
  // It lived past several idle periods because traffic kept resetting its deadline.
  EXPECT_GE(last_traffic - t0, std::chrono::milliseconds(450));
}

class IdleUnderPressure : public Idle {
 protected:
  void SetUp() override {
    capacity_ = 10;
    Idle::SetUp();
  }
};

// 9 of 10 processes alive: watermark 0.9 scales idle times by 0.1, so a 3 s idle timeout
// expires after about 0.3 s.
TEST_F(IdleUnderPressure, HighProcessCountShortensIdleTime) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 9; ++i) spawn_sleeper(Millis(3000));
  MessagePtr m = expect_message(probe(), kStopped, Millis(2500));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "idle");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
}

}  // namespace
}  // namespace behavior::testing
