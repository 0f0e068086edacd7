// call_test.cpp — request/reply: awaited and callback calls on the same and on different
// workers, timeouts, late replies dropped (never given to a later request), fast errors for
// dead or unknown callees, and callers that die before the reply.
#include "test_support.h"

namespace behavior::testing {
namespace {

constexpr uint32_t kEcho = 20, kSlow = 21, kLater = 22;

struct Deferred {
  ReplyTo to;
  int delay;
};

class Calls : public NodeTest {
 protected:
  // Replies to kEcho at once; to kSlow after the number of ms in the body (deferred reply).
  Pid spawn_server(int shard) {
    return spawn_on(shard, [](Actor& self, Message& m) -> Task<> {
      if (m.proto_id() == kEcho) self.reply(m, kEcho, std::string(m.body().raw()));
      if (m.proto_id() == kSlow) {
        auto delay = m.as<int>();
        self.send_after(Millis(delay), kLater, Deferred{m.reply_to(), delay});
      }
      if (m.proto_id() == kLater) {
        auto& d = m.as<Deferred>();
        self.reply(d.to, kSlow, "late:" + std::to_string(d.delay));
      }
      co_return;
    });
  }
};

class CallsOnWorkers : public Calls, public ::testing::WithParamInterface<int> {};

// Same worker (param 0) and across workers (param 1).
TEST_P(CallsOnWorkers, AwaitedCallGetsTheReply) {
  Pid server = spawn_server(0);
  Pid p = probe().pid();
  Pid client = spawn_on(GetParam(), [p, server](Actor& self, Message&) -> Task<> {
    std::string out;
    for (int i = 0; i < 100; ++i) {
      Reply r = co_await self.call(server, kEcho, std::to_string(i));
      if (!r.ok() || r.as<std::string>() != std::to_string(i)) out = "bad reply " + std::to_string(i);
    }
    self.send(p, kNote, out.empty() ? std::string("ok") : out);
  });
  node().send(client, kGo);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "ok");
}

TEST_P(CallsOnWorkers, CallbackCallRunsInTheCallerWithTheReply) {
  Pid server = spawn_server(0);
  Pid p = probe().pid();
  Pid client = spawn_on(GetParam(), [p, server](Actor& self, Message&) -> Task<> {
    Pid me = self.pid();
    self.call(server, kEcho, std::string("cb"), Millis(5000), [&self, p, me](Reply r) {
      // Runs inside the caller: self is usable, one message at a time.
      self.send(p, kNote, std::string(r.ok() ? r.as<std::string>() : r.status().to_string()) +
                              (self.pid() == me ? "@caller" : "@elsewhere"));
    });
    co_return;
  });
  node().send(client, kGo);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "cb@caller");
}

INSTANTIATE_TEST_SUITE_P(SameAndCrossWorker, CallsOnWorkers, ::testing::Values(0, 1));

// The first call times out; its reply arrives while the second call waits and must not be
// taken for the second call's reply.
TEST_F(Calls, LateReplyAfterTimeoutIsDroppedNotDeliveredToTheNextCall) {
  Pid server = spawn_server(1);
  Pid p = probe().pid();
  Pid client = spawn_on(0, [p, server](Actor& self, Message&) -> Task<> {
    Reply first = co_await self.call(server, kSlow, 150, Millis(30));
    Reply second = co_await self.call(server, kSlow, 400, Millis(3000));
    std::string out = std::string(code_name(first.status().code())) + "|" +
                      (second.ok() ? second.as<std::string>() : second.status().to_string());
    self.send(p, kNote, out);
  });
  node().send(client, kGo);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  // The second call's reply names its own delay (400), not the first call's (150).
  EXPECT_EQ(m->as<std::string>(), "timeout|late:400");
}

TEST_F(Calls, CallbackTimeoutThenLateReplyIsDropped) {
  Pid server = spawn_server(1);
  Pid p = probe().pid();
  Pid client = spawn_on(0, [p, server](Actor& self, Message& m) -> Task<> {
    if (m.proto_id() == kGo) {
      self.call(server, kSlow, 100, Millis(20), [&self, p](Reply r) {
        self.send(p, kNote, std::string(code_name(r.status().code())));
      });
    }
    co_return;
  });
  node().send(client, kGo);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "timeout");
  expect_silence(probe(), Millis(300));  // the late reply never runs the callback again
}

TEST_F(Calls, InboxCallTimesOutAndIgnoresTheLateReply) {
  Pid server = spawn_server(0);
  Reply r1 = probe().call(server, kSlow, 100, Millis(20));
  EXPECT_EQ(r1.status().code(), Code::kTimeout);
  Reply r2 = probe().call(server, kEcho, std::string("fresh"), Millis(3000));
  ASSERT_TRUE(r2.ok()) << r2.status().to_string();
  EXPECT_EQ(r2.as<std::string>(), "fresh");
  // The late reply to r1 arrives later and is discarded, not returned by receive().
  expect_silence(probe(), Millis(250));
}

TEST_F(Calls, CallToADeadPidFailsAtOnceWithNoProcess) {
  Pid gone = spawn([](Actor& self, Message&) -> Task<> {
    self.stop();
    co_return;
  });
  watch(gone);
  node().send(gone, kGo);
  EXPECT_EQ(next_down_reason(probe()), "normal");
  auto t0 = std::chrono::steady_clock::now();
  Reply r = probe().call(gone, kEcho, {}, Millis(5000));
  EXPECT_EQ(r.status().code(), Code::kNoProcess);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(4000));
}

TEST_F(Calls, CallToUnknownNameFailsAtOnceWithNotFound) {
  Reply r = probe().call("no/such/name", kEcho);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(Calls, CalleeCrashingOnTheCallAnswersCrashedNotTimeout) {
  Pid bomb = spawn([](Actor&, Message&) -> Task<> {
    throw std::runtime_error("boom");
    co_return;
  });
  Reply r = probe().call(bomb, kEcho, {}, Millis(5000));
  EXPECT_EQ(r.status().code(), Code::kCrashed);
  EXPECT_NE(r.status().message().find("boom"), std::string::npos);
}

TEST_F(Calls, CallsQueuedBehindACrashAreAnsweredNoProcess) {
  Pid p = probe().pid();
  // Handles kGo by awaiting a slow call (so calls pile up), then crashes.
  Pid server = spawn_server(1);
  Pid victim = spawn_on(0, [server](Actor& self, Message& m) -> Task<> {
    if (m.proto_id() == kGo) {
      co_await self.call(server, kSlow, 100);
      throw std::runtime_error("crash after the slow call");
    }
    co_return;
  });
  node().send(victim, kGo);
  Pid caller = spawn_on(1, [p, victim](Actor& self, Message&) -> Task<> {
    Reply r = co_await self.call(victim, kEcho, {}, Millis(5000));
    self.send(p, kNote, std::string(code_name(r.status().code())));
  });
  node().send(caller, kGo);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "no_process");
}

TEST_F(Calls, ReplyToACallerThatDiedIsDroppedAndCounted) {
  Pid server = spawn_server(1);
  Pid p = probe().pid();
  Pid caller = spawn_on(0, [server, p](Actor& self, Message&) -> Task<> {
    self.send(p, kNote);  // the call below goes out in this same step, before any kill
    co_await self.call(server, kSlow, 100, Millis(5000));
  });
  watch(caller);
  uint64_t dropped_before = node().stats().dropped;
  node().send(caller, kGo);
  ASSERT_NE(expect_message(probe(), kNote), nullptr);
  node().exit(caller, "kill");
  EXPECT_EQ(next_down_reason(probe()), "killed");
  EXPECT_TRUE(wait_until([&] { return node().stats().dropped > dropped_before; }));
  // The server is unharmed.
  Reply r = probe().call(server, kEcho, std::string("still here"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.as<std::string>(), "still here");
}

TEST_F(Calls, ExceptionInANestedTaskCrashesOnlyTheCaller) {
  struct Nested : Router {
    Task<int> helper(bool fail) {
      if (fail) throw std::runtime_error("nested failure");
      co_return 41;
    }
    Task<> route(Message& m) override {
      int v = co_await helper(m.proto_id() == kNote);
      actor().reply(m, kEcho, v + 1);
    }
  };
  Pid n = *node().spawn(std::make_unique<Nested>());
  Reply ok = probe().call(n, kEcho);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.as<int>(), 42);
  Reply bad = probe().call(n, kNote);
  EXPECT_EQ(bad.status().code(), Code::kCrashed);
  EXPECT_NE(bad.status().message().find("nested failure"), std::string::npos);
}

}  // namespace
}  // namespace behavior::testing
