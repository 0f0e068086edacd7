// messaging_test.cpp — info sends: per-sender order across workers, sends by name, the
// not-found error for unknown names, and moving C++ objects without serializing them.
#include <atomic>
#include <map>

#include "test_support.h"

namespace behavior::testing {
namespace {

class Messaging : public NodeTest {};

struct Seq {
  uint64_t sender;
  uint32_t n;
};

// Several senders on both workers and one plain thread send numbered messages; the
// receiver checks every sender's numbers arrive in order with none missing.
TEST_F(Messaging, MessagesFromOneSenderStayInOrderAcrossWorkers) {
  constexpr uint32_t kPerSender = 20000;
  constexpr int kSenders = 4;
  Pid p = probe().pid();
  Pid receiver = spawn_on(0, [p, got = std::map<uint64_t, uint32_t>(), total = 0u](
                                 Actor& self, Message& m) mutable -> Task<> {
    Seq s = m.as<Seq>();
    uint32_t& next = got[s.sender];
    if (s.n != next) {
      self.send(p, kNote, std::string("out of order"));
      self.stop();
      co_return;
    }
    ++next;
    if (++total == kPerSender * (kSenders + 1)) self.send(p, kPong, total);
  });
  for (int i = 0; i < kSenders; ++i) {
    Pid sender = spawn_on(i % 2, [receiver](Actor& self, Message&) -> Task<> {
      for (uint32_t n = 0; n < kPerSender; ++n) self.send(receiver, kPing, Seq{self.pid().raw(), n});
      co_return;
    });
    node().send(sender, kGo);
  }
  for (uint32_t n = 0; n < kPerSender; ++n) probe().send(receiver, kPing, Seq{probe().pid().raw(), n});
  MessagePtr m = probe().receive(Millis(20000));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->proto_id(), kPong) << std::string(m->body().raw());
  EXPECT_EQ(m->as<uint32_t>(), kPerSender * (kSenders + 1));
}

TEST_F(Messaging, SendByNameReachesTheRegisteredProcess) {
  Pid p = probe().pid();
  SpawnOptions o;
  o.name = "room/7";
  spawn([p](Actor& self, Message& m) -> Task<> {
    self.send(p, kPong, m.as<std::string>() + " from " + self.name());
    co_return;
  }, o);
  ASSERT_TRUE(probe().send("room/7", kPing, std::string("hello")).ok());
  MessagePtr m = expect_message(probe(), kPong);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "hello from room/7");
  EXPECT_EQ(m->from(), *node().whereis("room/7"));
}

TEST_F(Messaging, SendToUnknownNameFailsAtOnceWithNotFound) {
  Status s = probe().send("nobody/here", kPing);
  EXPECT_EQ(s.code(), Code::kNotFound);
  Pid p = probe().pid();
  Pid asker = spawn([p](Actor& self, Message&) -> Task<> {
    Status st = self.send("nobody/here", kPing);
    Reply r = co_await self.call("nobody/here", kPing);
    self.send(p, kNote, std::string(code_name(st.code())) + "," + std::string(code_name(r.status().code())));
  });
  node().send(asker, kGo);
  MessagePtr m = expect_message(probe(), kNote, Millis(1000));  // well before a call timeout
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<std::string>(), "not_found,not_found");
}

// A local send moves the object: the receiver sees the very same heap buffer.
TEST_F(Messaging, LocalSendsMoveObjectsWithoutCopying) {
  struct Big {
    std::vector<int> data;
  };
  Pid p = probe().pid();
  std::atomic<const int*> seen{nullptr};
  Pid receiver = spawn([p, &seen](Actor& self, Message& m) -> Task<> {
    Big& b = m.as<Big>();
    seen = b.data.data();
    self.send(p, kPong, static_cast<int>(b.data.size()));
    co_return;
  });
  Big big{std::vector<int>(1000, 7)};
  const int* before = big.data.data();
  ASSERT_TRUE(probe().send(receiver, kPing, std::move(big)).ok());
  MessagePtr m = expect_message(probe(), kPong);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->as<int>(), 1000);
  EXPECT_EQ(seen.load(), before);
}

TEST_F(Messaging, ProtobufBodyReadsTheSameAsObjectOrAsBytes) {
  Pid p = probe().pid();
  Pid receiver = spawn([p](Actor& self, Message& m) -> Task<> {
    auto& sig = m.as<pb::ExitSignal>();
    self.send(p, kPong, sig.reason());
    co_return;
  });
  pb::ExitSignal sig;
  sig.set_reason("as object");
  probe().send(receiver, kPing, sig);
  std::string wire;
  sig.set_reason("as bytes");
  ASSERT_TRUE(sig.SerializeToString(&wire));
  probe().send(receiver, kPing, Body::bytes(wire));
  MessagePtr a = expect_message(probe(), kPong);
  MessagePtr b = expect_message(probe(), kPong);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->as<std::string>(), "as object");
  EXPECT_EQ(b->as<std::string>(), "as bytes");
}

}  // namespace
}  // namespace behavior::testing
