// client_writer_test.cpp — the gateway's kAttach / kDetach as a process sees them: attach
// makes the sender the writer (send_to_client reaches it) and kicks the previous writer;
// a detach from a connection that was already replaced changes nothing; a detach from the
// current writer clears it; the router's hooks run for each.
#include "test_support.h"

namespace behavior::testing {
namespace {

class ClientWriter : public NodeTest {};

constexpr uint32_t kSay = 7, kHook = 8;

class Player : public Router {
 public:
  explicit Player(Pid probe) : probe_(probe) {}
  void on_client_attached(Pid c) override { actor().send(probe_, kHook, std::string("attached ") + c.to_string()); }
  void on_client_detached(Pid c) override { actor().send(probe_, kHook, std::string("detached ") + c.to_string()); }
  Task<> route(Message& m) override {
    if (m.proto_id() == kSay) {
      Status s = actor().send_to_client_bytes(kSay, std::string(m.body().raw()));
      if (!s.ok()) actor().send(probe_, kHook, std::string("no writer"));
    }
    co_return;
  }

 private:
  Pid probe_;
};

TEST_F(ClientWriter, AttachMakesTheSenderTheWriterAndKicksThePreviousOne) {
  Inbox conn_a(node()), conn_b(node());
  Result<Pid> player = node().spawn(std::make_unique<Player>(probe().pid()));
  ASSERT_TRUE(player.ok());

  conn_a.send(*player, proto::kAttach);
  MessagePtr hook = expect_message(probe(), kHook);
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->as<std::string>(), "attached " + conn_a.pid().to_string());
  probe().send(*player, kSay, Body::bytes("to a"));
  MessagePtr said = expect_message(conn_a, kSay);
  ASSERT_NE(said, nullptr);
  EXPECT_EQ(said->kind(), Kind::kClient);
  EXPECT_EQ(said->body().raw(), "to a");

  // A second login: b becomes the writer, a is kicked.
  conn_b.send(*player, proto::kAttach);
  MessagePtr kick = expect_message(conn_a, proto::kKick);
  ASSERT_NE(kick, nullptr);
  EXPECT_EQ(kick->from(), *player);
  expect_message(probe(), kHook);
  probe().send(*player, kSay, Body::bytes("to b"));
  ASSERT_NE(expect_message(conn_b, kSay), nullptr);
  expect_silence(conn_a);

  // a's late detach does not take b's place away.
  conn_a.send(*player, proto::kDetach);
  probe().send(*player, kSay, Body::bytes("still b"));
  MessagePtr still = expect_message(conn_b, kSay);
  ASSERT_NE(still, nullptr);
  EXPECT_EQ(still->body().raw(), "still b");

  // b's detach clears the writer.
  conn_b.send(*player, proto::kDetach);
  hook = expect_message(probe(), kHook);
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->as<std::string>(), "detached " + conn_b.pid().to_string());
  probe().send(*player, kSay, Body::bytes("nobody"));
  hook = expect_message(probe(), kHook);
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->as<std::string>(), "no writer");
}

}  // namespace
}  // namespace behavior::testing
