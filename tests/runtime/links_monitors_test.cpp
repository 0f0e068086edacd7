// links_monitors_test.cpp — crash isolation, links (exit propagation, trap_exit, normal
// exits, unlink, kill) and monitors (DOWN with the reason, demonitor, noproc).
#include "test_support.h"

namespace behavior::testing {
namespace {

constexpr uint32_t kCrash = 30, kLinkTo = 31, kUnlinkFrom = 32, kQuit = 33, kAsk = 34;

// Crashes on kCrash, stops normally on kQuit, answers kAsk, links or unlinks the pid in
// the body on kLinkTo/kUnlinkFrom. When it traps exits it reports each EXIT's reason to the
// probe as a kNote.
class Worker : public Router {
 public:
  Worker(Pid probe, bool trap) : probe_(probe), trap_(trap) {}
  void on_start() override { actor().trap_exit(trap_); }
  Task<> route(Message& m) override {
    switch (m.proto_id()) {
      case kCrash: throw std::runtime_error("boom");
      case kQuit: actor().stop(); break;
      case kAsk: actor().reply(m, kAsk, std::string("alive")); break;
      case kLinkTo: actor().link(m.as<Pid>()); actor().reply(m, kLinkTo); break;
      case kUnlinkFrom: actor().unlink(m.as<Pid>()); actor().reply(m, kUnlinkFrom); break;
      case proto::kExit: actor().send(probe_, kNote, m.as<pb::ExitSignal>().reason()); break;
      default: break;
    }
    co_return;
  }

 private:
  Pid probe_;
  bool trap_;
};

class LinksMonitors : public NodeTest {
 protected:
  Pid spawn_worker(bool trap, int shard = -1) {
    SpawnOptions o;
    o.shard = shard;
    Result<Pid> pid = node().spawn(std::make_unique<Worker>(probe().pid(), trap), o);
    EXPECT_TRUE(pid.ok());
    return *pid;
  }
  void link(Pid a, Pid b) { ASSERT_TRUE(probe().call(a, kLinkTo, b).ok()); }
};

TEST_F(LinksMonitors, ACrashEndsOnlyThatProcess) {
  Pid a = spawn_worker(false, 0);
  Pid b = spawn_worker(false, 0);  // same worker as the crashing one
  Pid c = spawn_worker(false, 1);
  watch(a);
  node().send(a, kCrash);
  EXPECT_EQ(next_down_reason(probe()), "exception: boom");
  for (Pid other : {b, c}) {
    Reply r = probe().call(other, kAsk);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r.as<std::string>(), "alive");
  }
  EXPECT_EQ(node().stats().crashed, 1u);
}

TEST_F(LinksMonitors, LinkedProcessDiesWithTheSameReason) {
  Pid a = spawn_worker(false, 0);
  Pid b = spawn_worker(false, 1);
  link(a, b);
  watch(b);
  node().send(a, kCrash);
  EXPECT_EQ(next_down_reason(probe()), "exception: boom");
}

TEST_F(LinksMonitors, TrappingProcessGetsExitAsAMessageAndLivesOn) {
  Pid a = spawn_worker(false, 0);
  Pid b = spawn_worker(true, 1);
  link(a, b);
  node().send(a, kCrash);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "exception: boom");
  EXPECT_TRUE(probe().call(b, kAsk).ok());
}

TEST_F(LinksMonitors, NormalExitDoesNotTakeLinkedProcessesDown) {
  Pid a = spawn_worker(false, 0);
  Pid b = spawn_worker(false, 1);
  link(a, b);
  watch(a);
  node().send(a, kQuit);
  EXPECT_EQ(next_down_reason(probe()), "normal");
  EXPECT_TRUE(probe().call(b, kAsk).ok());
}

TEST_F(LinksMonitors, UnlinkedProcessSurvivesTheCrash) {
  Pid a = spawn_worker(false, 0);
  Pid b = spawn_worker(false, 1);
  link(a, b);
  ASSERT_TRUE(probe().call(b, kUnlinkFrom, a).ok());
  watch(a);
  node().send(a, kCrash);
  EXPECT_EQ(next_down_reason(probe()), "exception: boom");
  EXPECT_TRUE(probe().call(b, kAsk).ok());
}

TEST_F(LinksMonitors, KillCannotBeTrappedAndLinkedSeeKilled) {
  Pid a = spawn_worker(true, 0);
  Pid b = spawn_worker(true, 1);
  link(a, b);
  watch(a);
  node().exit(a, "kill");
  // Two reports in either order: the watcher's DOWN for a, and b's trapped EXIT.
  std::string down, exit_seen;
  for (int i = 0; i < 2; ++i) {
    MessagePtr m = probe().receive(Millis(5000));
    ASSERT_NE(m, nullptr);
    if (m->proto_id() == proto::kDown) down = m->as<pb::DownSignal>().reason();
    if (m->proto_id() == kNote) exit_seen = m->as<std::string>();
  }
  EXPECT_EQ(down, "killed");
  EXPECT_EQ(exit_seen, "killed");
}

TEST_F(LinksMonitors, ExitSignalWithAReasonEndsANonTrappingProcess) {
  Pid a = spawn_worker(false, 1);
  watch(a);
  node().exit(a, "custom_reason");
  EXPECT_EQ(next_down_reason(probe()), "custom_reason");
}

TEST_F(LinksMonitors, LinkToADeadProcessGivesExitNoproc) {
  Pid gone = spawn_worker(false, 0);
  watch(gone);
  node().send(gone, kQuit);
  EXPECT_EQ(next_down_reason(probe()), "normal");
  Pid b = spawn_worker(true, 1);
  link(b, gone);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "noproc");
}

TEST_F(LinksMonitors, MonitorOfADeadProcessGivesDownNoproc) {
  Pid gone = spawn_worker(false, 0);
  watch(gone);
  node().send(gone, kQuit);
  EXPECT_EQ(next_down_reason(probe()), "normal");
  watch(gone);
  EXPECT_EQ(next_down_reason(probe()), "noproc");
}

TEST_F(LinksMonitors, DemonitorMeansNoDown) {
  Pid target = spawn_worker(false, 0);
  Pid p = probe().pid();
  Pid watcher = spawn_on(1, [p, target, ref = uint64_t{0}](Actor& self, Message& m) mutable -> Task<> {
    if (m.proto_id() == kLinkTo) {
      ref = self.monitor(target);
      self.demonitor(ref);
      self.reply(m, kLinkTo);
    }
    if (m.proto_id() == proto::kDown) self.send(p, proto::kDown, std::string("unexpected"));
    co_return;
  });
  ASSERT_TRUE(probe().call(watcher, kLinkTo).ok());
  node().send(target, kCrash);
  expect_silence(probe(), Millis(300));
}

TEST_F(LinksMonitors, SpawnOptionLinkFromAPlainThreadLinksBothWays) {
  Pid watcher = spawn_worker(true, 0);  // traps exits: reports them
  SpawnOptions o;
  o.link = watcher;
  o.shard = 1;
  Result<Pid> child = node().spawn(std::make_unique<Worker>(probe().pid(), false), o);
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(probe().call(*child, kAsk).ok());  // alive and adopted
  node().send(*child, kCrash);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "exception: boom");
}

TEST_F(LinksMonitors, SpawnLinkTiesTheChildToTheParentFromBirth) {
  Pid p = probe().pid();
  Pid parent = spawn([p](Actor& self, Message& m) -> Task<> {
    if (m.proto_id() == kGo) {
      Result<Pid> child = self.spawn_link(std::make_unique<FnRouter<std::function<Task<>(Actor&, Message&)>>>(
          [](Actor&, Message&) -> Task<> {
            throw std::runtime_error("child failed");
            co_return;
          }));
      self.send(*child, kGo);
    }
    co_return;
  });
  watch(parent);
  node().send(parent, kGo);
  EXPECT_EQ(next_down_reason(probe()), "exception: child failed");
}

}  // namespace
}  // namespace behavior::testing
