// game_test.cpp — the game's kinds tested in-process with behavior/testing.h: a standalone
// node and players played by FakeClients (no Redis, no sockets). A new project starts with
// this file (tools/template/new-game); the behavior repository runs it against the demo
// game in its runtime tests, so the template's test is known to pass.
#include <behavior/system.pb.h>
#include <behavior/testing.h>
#include <gtest/gtest.h>

#include "game.h"
#include "game.pb.h"

namespace behavior::game {
namespace {

class GameInProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    register_game_kinds(node_.node(), GameOptions{});
    ASSERT_TRUE(node_.start().ok());
  }
  behavior::testing::TestNode node_{2};
};

TEST_F(GameInProcess, TwoPlayersJoinOneRoomAndBothHearTheChat) {
  behavior::testing::FakeClient alice(node_.node()), bob(node_.node());
  ASSERT_TRUE(alice.attach("user/alice", "user").ok());
  ASSERT_TRUE(bob.attach("user/bob", "user").ok());
  JoinRoom join;
  join.set_room("lobby");
  ASSERT_TRUE(alice.send(JOIN_ROOM, join).ok());
  auto joined = alice.expect<Joined>(JOINED);
  ASSERT_TRUE(joined.has_value());
  EXPECT_EQ(joined->room(), "lobby");
  ASSERT_EQ(joined->players_size(), 1);
  EXPECT_EQ(joined->players(0).user(), "alice");

  ASSERT_TRUE(bob.send(JOIN_ROOM, join).ok());
  auto bob_joined = bob.expect<Joined>(JOINED);
  ASSERT_TRUE(bob_joined.has_value());
  EXPECT_EQ(bob_joined->players_size(), 2);
  auto arrived = alice.expect<PlayerState>(PLAYER_JOINED);
  ASSERT_TRUE(arrived.has_value());
  EXPECT_EQ(arrived->user(), "bob");

  Chat chat;
  chat.set_text("hello");
  chat.set_seq(7);
  ASSERT_TRUE(bob.send(CHAT, chat).ok());
  for (auto* client : {&alice, &bob}) {
    auto heard = client->expect<ChatMessage>(CHAT_MESSAGE);
    ASSERT_TRUE(heard.has_value());
    EXPECT_EQ(heard->from(), "bob");
    EXPECT_EQ(heard->text(), "hello");
    EXPECT_EQ(heard->seq(), 7u);
  }
}

TEST_F(GameInProcess, ChatBeforeJoiningIsRefusedWithAnErrorFrame) {
  behavior::testing::FakeClient carol(node_.node());
  ASSERT_TRUE(carol.attach("user/carol", "user").ok());
  Chat chat;
  chat.set_text("too early");
  ASSERT_TRUE(carol.send(CHAT, chat).ok());
  auto error = carol.expect<pb::ErrorFrame>(proto::kError);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), static_cast<uint32_t>(ERROR_NOT_IN_ROOM));
}

TEST_F(GameInProcess, ASecondAttachKicksTheFirstClient) {
  behavior::testing::FakeClient first(node_.node()), second(node_.node());
  ASSERT_TRUE(first.attach("user/dave", "user").ok());
  ASSERT_TRUE(second.attach("user/dave", "user").ok());
  EXPECT_EQ(first.process(), second.process());
  MessagePtr kick = first.receive();
  ASSERT_NE(kick, nullptr);
  EXPECT_EQ(kick->proto_id(), proto::kKick);
}

}  // namespace
}  // namespace behavior::game
