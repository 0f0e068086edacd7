// mailbox_test.cpp — bounded mailboxes: reject (calls fail with kMailboxFull at once, infos
// bounce back as proto::kUndeliverable) and drop (dropped and counted).
#include "test_support.h"

namespace behavior::testing {
namespace {

constexpr uint32_t kBlock = 60, kRelease = 61, kFill = 62, kCount = 63;

class Mailbox : public NodeTest {
 protected:
  // A process that, on kBlock, awaits a call to `gate` (so its mailbox fills up meanwhile);
  // counts every kFill it handles and answers kCount with the total.
  Pid spawn_bounded(uint32_t limit, Overflow overflow, Pid gate) {
    SpawnOptions o;
    o.mailbox_limit = limit;
    o.overflow = overflow;
    o.shard = 0;
    return spawn([gate, n = 0](Actor& self, Message& m) mutable -> Task<> {
      if (m.proto_id() == kBlock) co_await self.call(gate, kBlock, {}, Millis(10000));
      if (m.proto_id() == kFill) ++n;
      if (m.proto_id() == kCount) self.reply(m, kCount, n);
    }, o);
  }
  // Holds kBlock calls until it gets kRelease; tells the probe when it holds one.
  Pid spawn_gate() {
    Pid p = probe().pid();
    return spawn_on(1, [p, held = ReplyTo{}](Actor& self, Message& m) mutable -> Task<> {
      if (m.proto_id() == kBlock) {
        held = m.reply_to();
        self.send(p, kBlock);
      }
      if (m.proto_id() == kRelease) self.reply(held, kBlock);
      co_return;
    });
  }
};

TEST_F(Mailbox, RejectPolicyBouncesInfosAndFailsCallsAtOnce) {
  Pid gate = spawn_gate();
  Pid box = spawn_bounded(5, Overflow::kReject, gate);
  node().send(box, kBlock);
  ASSERT_NE(expect_message(probe(), kBlock), nullptr);  // box now waits, its mailbox empty
  for (int i = 0; i < 8; ++i) probe().send(box, kFill, i);
  // Five fit; three did not, and each bounces back to the sender.
  for (int i = 0; i < 3; ++i) {
    MessagePtr m = expect_message(probe(), proto::kUndeliverable);
    ASSERT_NE(m, nullptr);
    auto& u = m->as<pb::Undeliverable>();
    EXPECT_EQ(u.proto_id(), kFill);
    EXPECT_EQ(Pid::from_raw(u.to()), box);
  }
  auto t0 = std::chrono::steady_clock::now();
  Reply r = probe().call(box, kCount, {}, Millis(5000));
  EXPECT_EQ(r.status().code(), Code::kMailboxFull);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(4000));
  node().send(gate, kRelease);
  ASSERT_TRUE(wait_until([&] {
    Reply c = probe().call(box, kCount);
    return c.ok() && c.as<int>() == 5;
  }));
}

TEST_F(Mailbox, DropPolicyDropsAndCounts) {
  Pid gate = spawn_gate();
  Pid box = spawn_bounded(4, Overflow::kDrop, gate);
  node().send(box, kBlock);
  ASSERT_NE(expect_message(probe(), kBlock), nullptr);  // box now waits, its mailbox empty
  uint64_t before = node().stats().dropped;
  for (int i = 0; i < 10; ++i) probe().send(box, kFill, i);
  EXPECT_TRUE(wait_until([&] { return node().stats().dropped - before == 6; }));
  expect_silence(probe(), Millis(100));  // no bounces under the drop policy
  node().send(gate, kRelease);
  ASSERT_TRUE(wait_until([&] {
    Reply c = probe().call(box, kCount);
    return c.ok() && c.as<int>() == 4;
  }));
}

TEST_F(Mailbox, SameWorkerSendToAFullMailboxReturnsMailboxFull) {
  Pid gate = spawn_gate();
  Pid box = spawn_bounded(1, Overflow::kReject, gate);
  node().send(box, kBlock);
  ASSERT_NE(expect_message(probe(), kBlock), nullptr);  // box now waits, its mailbox empty
  Pid p = probe().pid();
  Pid sender = spawn_on(0, [p, box](Actor& self, Message&) -> Task<> {
    Status first = self.send(box, kFill, 1);
    Status second = self.send(box, kFill, 2);
    self.send(p, kNote, std::string(code_name(first.code())) + "," + std::string(code_name(second.code())));
    co_return;
  });
  node().send(sender, kGo);
  MessagePtr m = expect_message(probe(), kNote);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "ok,mailbox_full");
  node().send(gate, kRelease);
}

}  // namespace
}  // namespace behavior::testing
