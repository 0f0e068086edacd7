// affinity_test.cpp — a process that gets its messages from another worker moves there
// (shard.cpp, "Affinity"): a pair that talks across workers ends up on one, every sender's
// messages stay in order while it moves (from its new worker, its home worker, and a plain
// thread), a moved process that ends is reported and calls to it fail at once, and a
// process with a timer, or a node with affinity off, stays where it was placed.
#include <map>

#include "test_support.h"

namespace behavior::testing {
namespace {

constexpr uint32_t kSeq = 20, kReport = 21, kDone = 22;

struct Seq {
  uint64_t sender;
  uint32_t n;
};
struct Tally {
  uint32_t received;
  uint32_t out_of_order;
};

class Affinity : public NodeTest {
 protected:
  // Answers kPing with kPong; checks that each sender's kSeq numbers come in order.
  Pid spawn_target(int shard, bool with_timer = false) {
    return spawn_on(shard, [with_timer, started = false, next = std::map<uint64_t, uint32_t>(),
                            tally = Tally{0, 0}](Actor& self, Message& m) mutable -> Task<> {
      if (with_timer && !started) {
        started = true;
        self.tick(Millis(50), kNote);
      }
      if (m.proto_id() == kPing) {
        self.send(m.from(), kPong, m.as<int>());
      } else if (m.proto_id() == kSeq) {
        Seq s = m.as<Seq>();
        uint32_t& expected = next[s.sender];
        if (s.n != expected) ++tally.out_of_order;
        expected = s.n + 1;
        ++tally.received;
      } else if (m.proto_id() == kReport) {
        self.reply(m, kReport, tally);
      }
      co_return;
    });
  }

  // Pings `target` `rounds` times, one at a time; every `every` pongs it tells each helper to
  // send a burst; then tells the probe.
  Pid spawn_pinger(int shard, Pid target, int rounds, std::vector<Pid> helpers = {}, int every = 1) {
    Pid p = probe().pid();
    return spawn_on(shard, [=](Actor& self, Message& m) -> Task<> {
      int k = m.proto_id() == kGo ? rounds : m.as<int>();
      if (m.proto_id() == kPong && k % every == 0) {
        for (Pid h : helpers) self.send(h, kGo);
      }
      if (k == 0) {
        self.send(p, kDone);
      } else {
        self.send(target, kPing, k - 1);
      }
      co_return;
    });
  }

  // On each kGo sends `burst` numbered messages to `target`. One that ticks never moves
  // (its kGo come from another worker).
  Pid spawn_sender(int shard, Pid target, uint32_t burst, bool ticks = false) {
    return spawn_on(shard, [=, n = 0u](Actor& self, Message& m) mutable -> Task<> {
      if (m.proto_id() == kNote) co_return;
      if (ticks && n == 0) self.tick(Millis(1000), kNote);
      for (uint32_t i = 0; i < burst; ++i) self.send(target, kSeq, Seq{self.pid().raw(), n++});
    });
  }

  // A pinger on worker 0 plays `rounds` with `target`; true when it finished.
  bool ping_from_worker_0(Pid target, int rounds) {
    node().send(spawn_pinger(0, target, rounds), kGo);
    return expect_message(probe(), kDone, Millis(20000)) != nullptr;
  }

  // Asks the target for its tally until it has received `want` (or 10 s passed).
  Tally tally_of(Pid target, uint32_t want) {
    Tally t{0, 0};
    for (int i = 0; i < 1000; ++i) {
      Reply r = probe().call(target, kReport, {}, Millis(2000));
      if (!r.ok()) break;
      t = r.message().as<Tally>();
      if (t.received >= want) break;
      std::this_thread::sleep_for(Millis(10));
    }
    return t;
  }
};

TEST_F(Affinity, APairTalkingAcrossWorkersEndsUpOnOneWorker) {
  Pid target = spawn_target(1);  // on worker 1: the higher pid of the two, so it moves
  ASSERT_TRUE(ping_from_worker_0(target, 5000));
  EXPECT_EQ(node().stats().moved, 1u);
  // It still answers, at the same pid, from its new worker.
  Reply r = probe().call(target, kReport, {}, Millis(2000));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
}

// The target moves from worker 1 to worker 0 while numbered messages come at it from a
// process on worker 0 (whose sends go through worker 1 until the target settles), from a
// process on worker 1 (its home: passed on), and from this thread. Ten rounds, so the
// move lands at different points of the traffic.
TEST_F(Affinity, EverySendersMessagesStayInOrderWhileAProcessMoves) {
  constexpr int kRounds = 10, kPings = 3000, kEvery = 20;
  constexpr uint32_t kBurst0 = 8, kBurst1 = 1, kFromThread = 2000;
  for (int round = 0; round < kRounds; ++round) {
    Pid target = spawn_target(1);
    Pid near = spawn_sender(0, target, kBurst0);  // on the worker it moves to
    Pid home = spawn_sender(1, target, kBurst1, /*ticks=*/true);  // on its home worker
    Pid pinger = spawn_pinger(0, target, kPings, {near, home}, kEvery);
    node().send(pinger, kGo);
    for (uint32_t n = 0; n < kFromThread; ++n) probe().send(target, kSeq, Seq{probe().pid().raw(), n});
    ASSERT_NE(expect_message(probe(), kDone, Millis(20000)), nullptr) << "round " << round;
    const uint32_t bursts = kPings / kEvery;
    const uint32_t want = bursts * (kBurst0 + kBurst1) + kFromThread;
    Tally t = tally_of(target, want);
    EXPECT_EQ(t.received, want) << "round " << round;
    EXPECT_EQ(t.out_of_order, 0u) << "round " << round;
    for (Pid p : {target, near, home, pinger}) node().stop(p);
    EXPECT_LE(node().stats().moved, static_cast<uint64_t>(round + 1)) << "only the target moves, at most once";
  }
  // A move waits for its destination to have time to spare, so not every round need see one.
  EXPECT_GE(node().stats().moved, 1u);
}

TEST_F(Affinity, AMovedProcessThatEndsIsReportedAndCallsToItFailAtOnce) {
  Pid target = spawn_target(1);
  ASSERT_TRUE(ping_from_worker_0(target, 2000));
  ASSERT_EQ(node().stats().moved, 1u);
  watch(target);
  ASSERT_TRUE(node().stop(target).ok());
  EXPECT_EQ(next_down_reason(probe()), "normal");
  Reply r = probe().call(target, kReport, {}, Millis(5000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNoProcess) << r.status().to_string();
}

TEST_F(Affinity, AProcessWithATimerStaysOnItsWorker) {
  Pid target = spawn_target(1, /*with_timer=*/true);
  node().send(target, kNote);  // starts its tick
  ASSERT_TRUE(ping_from_worker_0(target, 2000));
  EXPECT_EQ(node().stats().moved, 0u);
}

class AffinityOff : public Affinity {
 protected:
  NodeOptions node_options() override {
    NodeOptions o = Affinity::node_options();
    o.affinity = false;
    return o;
  }
};

TEST_F(AffinityOff, ProcessesStayWhereTheyWerePlaced) {
  Pid target = spawn_target(1);
  ASSERT_TRUE(ping_from_worker_0(target, 2000));
  EXPECT_EQ(node().stats().moved, 0u);
}

}  // namespace
}  // namespace behavior::testing
