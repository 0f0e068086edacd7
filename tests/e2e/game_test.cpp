// game_test.cpp — the demo game (local_server/game/) on a whole local cluster started by
// LocalCluster: players on different nodes meet in one room, see each other's moves and
// chat, bad input gets error frames without losing the connection, and a room whose node
// is killed is reported to its players and comes back on a live node when they join again.
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <optional>

#include "child_process.h"
#include "client_frames.h"
#include "game.pb.h"
#include "local_cluster.h"
#include <behavior/system.pb.h>
#include "test_support.h"

namespace behavior::testing {
namespace {

using Transport = GameClient::Transport;
namespace g = behavior::game;

struct Player {
  std::string user;
  uint16_t node = 0;
  std::unique_ptr<GameClient> client;
};

class GameTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tools::LocalClusterOptions o;
    o.bin_dir = BEHAVIOR_BIN_DIR;
    o.log_level = "debug";
    cluster_ = new tools::LocalCluster(o);
    Status s = cluster_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  static void TearDownTestSuite() {
    EXPECT_TRUE(cluster_->stop()) << "a service did not stop cleanly; logs in "
                                  << cluster_->log_dir();
    delete cluster_;
    cluster_ = nullptr;
  }

  // Logs in a fresh user (on `node` if given: other names are tried until one lands there).
  Player join(const std::string& base, Transport t, uint16_t node = 0) {
    Player p;
    for (int i = 0; i < 200; ++i) {
      p.user = base + "-" + std::to_string(counter_++);
      Result<LoginResult> l = login("127.0.0.1", cluster_->name_server_port(), p.user);
      EXPECT_TRUE(l.ok()) << l.status().to_string();
      if (!l.ok()) return p;
      if (node && l->node != node) continue;
      p.node = l->node;
      std::string address = t == Transport::kTcp   ? l->gateway_tcp
                            : t == Transport::kUdp ? l->gateway_udp
                                                   : l->gateway_ws;
      auto c = GameClient::connect(t, address);
      EXPECT_TRUE(c.ok()) << c.status().to_string();
      if (!c.ok()) return p;
      p.client = std::move(*c);
      auto pid = p.client->auth(l->ticket);
      EXPECT_TRUE(pid.ok()) << pid.status().to_string();
      return p;
    }
    ADD_FAILURE() << "no login landed on node " << node;
    return p;
  }

  // A fresh login and an authenticated connection for an existing user (it logs in again).
  std::unique_ptr<GameClient> connect_as(const std::string& user, Transport t) {
    Result<LoginResult> l = login("127.0.0.1", cluster_->name_server_port(), user);
    EXPECT_TRUE(l.ok()) << l.status().to_string();
    if (!l.ok()) return nullptr;
    auto c = GameClient::connect(t, t == Transport::kTcp ? l->gateway_tcp : l->gateway_ws);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    if (!c.ok()) return nullptr;
    auto pid = (*c)->auth(l->ticket);
    EXPECT_TRUE(pid.ok()) << pid.status().to_string();
    return pid.ok() ? std::move(*c) : nullptr;
  }

  // The next frame with `proto` (others skipped), parsed into T.
  template <class T>
  std::optional<T> expect(Player& p, uint32_t proto, Millis timeout = Millis(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto f = p.client->receive(Millis(200));
      if (!f.ok()) {
        if (f.status().code() == Code::kTimeout) continue;
        ADD_FAILURE() << p.user << ": " << f.status().to_string();
        return std::nullopt;
      }
      if (f->proto_id != proto) continue;
      T out;
      EXPECT_TRUE(out.ParseFromString(f->body));
      return out;
    }
    ADD_FAILURE() << p.user << " got no frame " << proto;
    return std::nullopt;
  }

  std::optional<g::Joined> enter(Player& p, const std::string& room) {
    g::JoinRoom j;
    j.set_room(room);
    EXPECT_TRUE(p.client->send(g::JOIN_ROOM, j.SerializeAsString()).ok());
    return expect<g::Joined>(p, g::JOINED);
  }

  static tools::LocalCluster* cluster_;
  static int counter_;
};

tools::LocalCluster* GameTest::cluster_ = nullptr;
int GameTest::counter_ = 0;

std::string move_body(int x, int y, uint64_t seq) {
  g::Move m;
  m.set_x(x);
  m.set_y(y);
  m.set_seq(seq);
  return m.SerializeAsString();
}

TEST_F(GameTest, PlayersOnTwoNodesSeeEachOthersMovesAndChat) {
  Player a = join("mover", Transport::kTcp, 1);
  Player b = join("watcher", Transport::kWebSocket, 2);
  ASSERT_TRUE(a.client && b.client);
  auto ja = enter(a, "two-nodes");
  ASSERT_TRUE(ja);
  EXPECT_EQ(ja->node(), "node 1");  // the first joiner's node activates the room
  auto jb = enter(b, "two-nodes");
  ASSERT_TRUE(jb);
  EXPECT_EQ(jb->node(), "node 1");  // one room cluster-wide, reached from node 2
  EXPECT_EQ(jb->players_size(), 2);
  auto joined = expect<g::PlayerState>(a, g::PLAYER_JOINED);
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->user(), b.user);

  ASSERT_TRUE(a.client->send(g::MOVE, move_body(3, 4, 7)).ok());
  auto pos = expect<g::Position>(b, g::POSITION);
  ASSERT_TRUE(pos);
  EXPECT_EQ(pos->user(), a.user);
  EXPECT_EQ(pos->x(), 3);
  EXPECT_EQ(pos->y(), 4);
  EXPECT_EQ(pos->seq(), 7u);
  ASSERT_TRUE(a.client->send(g::MOVE, move_body(1000, -5, 8)).ok());  // clamped to the map
  pos = expect<g::Position>(b, g::POSITION);
  ASSERT_TRUE(pos);
  EXPECT_EQ(pos->x(), jb->width() - 1);
  EXPECT_EQ(pos->y(), 0);

  g::Chat chat;
  chat.set_text("hello from node 2");
  chat.set_seq(1);
  ASSERT_TRUE(b.client->send(g::CHAT, chat.SerializeAsString()).ok());
  for (Player* p : {&a, &b}) {  // the speaker gets its own line back, with its seq
    auto line = expect<g::ChatMessage>(*p, g::CHAT_MESSAGE);
    ASSERT_TRUE(line);
    EXPECT_EQ(line->from(), b.user);
    EXPECT_EQ(line->text(), "hello from node 2");
    EXPECT_EQ(line->seq(), 1u);
  }

  // Walking onto the coin scores, and everyone hears of it.
  ASSERT_TRUE(a.client->send(g::MOVE, move_body(jb->coin_x(), jb->coin_y(), 9)).ok());
  auto score = expect<g::Score>(b, g::SCORE);
  ASSERT_TRUE(score);
  EXPECT_EQ(score->user(), a.user);
  EXPECT_EQ(score->score(), 1);

  // Leaving is seen by the others.
  ASSERT_TRUE(a.client->send(g::LEAVE_ROOM, "").ok());
  auto left = expect<g::PlayerLeft>(b, g::PLAYER_LEFT);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->user(), a.user);
}

TEST_F(GameTest, PositionsReachUdpPlayersOverTheUnreliableChannel) {
  Player a = join("udp-mover", Transport::kTcp);
  Player b = join("udp-watcher", Transport::kUdp);
  ASSERT_TRUE(a.client && b.client);
  ASSERT_TRUE(enter(a, "udp-room"));
  ASSERT_TRUE(enter(b, "udp-room"));
  ASSERT_TRUE(a.client->send(g::MOVE, move_body(5, 6, 1)).ok());
  auto pos = expect<g::Position>(b, g::POSITION);  // loopback: datagrams are not lost here
  ASSERT_TRUE(pos);
  EXPECT_EQ(pos->user(), a.user);
  EXPECT_EQ(pos->seq(), 1u);
}

TEST_F(GameTest, BadInputGetsErrorFramesAndTheConnectionLivesOn) {
  Player p = join("clumsy", Transport::kTcp);
  ASSERT_TRUE(p.client);
  auto next_error = [&] {
    auto f = p.client->receive(Millis(5000));
    return f.ok() ? error_code(*f) : 0;
  };
  ASSERT_TRUE(p.client->send(g::MOVE, move_body(1, 1, 1)).ok());
  EXPECT_EQ(next_error(), static_cast<uint32_t>(g::ERROR_NOT_IN_ROOM));
  ASSERT_TRUE(p.client->send(g::MOVE, std::string("\xff\xff\xff", 3)).ok());
  EXPECT_EQ(next_error(), static_cast<uint32_t>(g::ERROR_BAD_MESSAGE));
  g::JoinRoom bad;
  bad.set_room("../../etc");
  ASSERT_TRUE(p.client->send(g::JOIN_ROOM, bad.SerializeAsString()).ok());
  EXPECT_EQ(next_error(), static_cast<uint32_t>(g::ERROR_BAD_MESSAGE));
  g::Chat long_chat;
  long_chat.set_text(std::string(300, 'x'));
  ASSERT_TRUE(p.client->send(g::CHAT, long_chat.SerializeAsString()).ok());
  EXPECT_EQ(next_error(), static_cast<uint32_t>(g::ERROR_BAD_MESSAGE));
  ASSERT_TRUE(p.client->send(999, "?").ok());
  EXPECT_EQ(next_error(), static_cast<uint32_t>(g::ERROR_UNKNOWN_PROTO));
  // The durable-state diagnostics (game.h kAdd = 4, kCrash = 8) are for processes, not clients.
  ASSERT_TRUE(p.client->send(4, std::string(8, '\x01')).ok());
  EXPECT_EQ(next_error(), static_cast<uint32_t>(g::ERROR_UNKNOWN_PROTO));
  ASSERT_TRUE(p.client->send(8, "").ok());
  EXPECT_EQ(next_error(), static_cast<uint32_t>(g::ERROR_UNKNOWN_PROTO));
  g::Ping ping;
  ping.set_seq(42);
  ping.set_client_time_us(123456);
  ASSERT_TRUE(p.client->send(g::PING, ping.SerializeAsString()).ok());
  auto pong = expect<g::Ping>(p, g::PONG);
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->seq(), 42u);
  EXPECT_EQ(pong->client_time_us(), 123456u);
}

// The client-library example in README.md and docs/protocol.md, step by step: it must work
// against the demo game as written (it sent kEcho, a diagnostic no client should know of).
TEST_F(GameTest, TheDocumentedClientExampleGetsItsPong) {
  auto login = behavior::login("127.0.0.1", cluster_->name_server_port(), "readme-alice");
  ASSERT_TRUE(login.ok()) << login.status().to_string();
  auto client = behavior::GameClient::connect(GameClient::Transport::kWebSocket, login->gateway_ws);
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  auto pid = (*client)->auth(login->ticket);
  ASSERT_TRUE(pid.ok()) << pid.status().to_string();
  behavior::game::Ping ping;
  ping.set_seq(1);
  ASSERT_TRUE((*client)->send(behavior::game::PING, ping.SerializeAsString()).ok());
  behavior::Result<behavior::ClientFrame> f = (*client)->receive();
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  ASSERT_EQ(f->proto_id, static_cast<uint32_t>(behavior::game::PONG)) << describe(*f);
  behavior::game::Ping pong;
  ASSERT_TRUE(pong.ParseFromString(f->body));
  EXPECT_EQ(pong.seq(), 1u);
  (*client)->close();
}

// docs/protocol.md, "Reconnecting and the room": a login that kicks a live connection takes
// the player over where it is (still in its room: its MOVE needs no JOIN_ROOM, and the others
// saw no PLAYER_LEFT); a connection that ends first takes the player out of its room (the
// others see PLAYER_LEFT, and the next connection's MOVE gets 409 until it joins again).
TEST_F(GameTest, AKickingLoginKeepsThePlayerInItsRoomAndADisconnectLeavesIt) {
  Player a = join("stayer", Transport::kTcp);
  Player b = join("witness", Transport::kTcp);
  ASSERT_TRUE(a.client && b.client);
  ASSERT_TRUE(enter(a, "kick-room"));
  ASSERT_TRUE(enter(b, "kick-room"));

  auto second = connect_as(a.user, Transport::kWebSocket);  // while the first is open
  ASSERT_NE(second, nullptr);
  bool kicked = false;
  for (int i = 0; i < 20 && !kicked; ++i) {
    auto f = a.client->receive(Millis(5000));
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    kicked = f->proto_id == proto::kKick;
  }
  ASSERT_TRUE(kicked);
  ASSERT_TRUE(second->send(g::MOVE, move_body(3, 4, 77)).ok());  // no JOIN_ROOM: still in the room
  for (;;) {  // b sees it move, and no PLAYER_LEFT came before
    auto f = b.client->receive(Millis(5000));
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    ASSERT_NE(f->proto_id, static_cast<uint32_t>(g::PLAYER_LEFT)) << "the kick took the player out of its room";
    g::Position pos;
    if (f->proto_id == g::POSITION && pos.ParseFromString(f->body) && pos.user() == a.user) {
      EXPECT_EQ(pos.seq(), 77u);
      break;
    }
  }

  second->close();  // the connection ends: the player leaves its room
  auto left = expect<g::PlayerLeft>(b, g::PLAYER_LEFT);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->user(), a.user);
  auto third = connect_as(a.user, Transport::kTcp);
  ASSERT_NE(third, nullptr);
  ASSERT_TRUE(third->send(g::MOVE, move_body(5, 5, 78)).ok());
  auto f = third->receive(Millis(5000));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(error_code(*f), static_cast<uint32_t>(g::ERROR_NOT_IN_ROOM)) << describe(*f);
  Player again{a.user, a.node, std::move(third)};
  ASSERT_TRUE(enter(again, "kick-room"));  // and after JOIN_ROOM it plays on
  ASSERT_TRUE(again.client->send(g::MOVE, move_body(6, 6, 79)).ok());
  auto pos = expect<g::Position>(again, g::POSITION);
  ASSERT_TRUE(pos);
  EXPECT_EQ(pos->seq(), 79u);
}

// docs/durable.md, "What moves and what does not": a player whose process moves to another
// node (live migration) stays in its room. The old activation's on_stop (reason "migrated")
// once sent the room a leave from the old pid: the others saw PLAYER_LEFT, and when that leave
// came after the new pid's enter the player was out for good and its chat went nowhere.
TEST_F(GameTest, APlayerWhoseProcessMovesStaysInItsRoomAndTheOthersSeeNoLeave) {
  Player a = join("traveller", Transport::kTcp, 1);
  Player b = join("onlooker", Transport::kWebSocket);
  ASSERT_TRUE(a.client && b.client);
  ASSERT_TRUE(enter(a, "move-room"));
  ASSERT_TRUE(enter(b, "move-room"));

  ChildProcess ctl;
  ASSERT_TRUE(ctl.start(std::string(BEHAVIOR_BIN_DIR) + "/ctl", {"migrate", "user/" + a.user, "--to", "2"},
                        cluster_->env()));
  const int status = ctl.wait_exit(Millis(30000));
  ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << ctl.output();
  ASSERT_NE(ctl.output().find("moved user/" + a.user), std::string::npos) << ctl.output();

  g::Chat chat;
  chat.set_text("still here");
  chat.set_seq(1);
  ASSERT_TRUE(a.client->send(g::CHAT, chat.SerializeAsString()).ok());
  auto mine = expect<g::ChatMessage>(a, g::CHAT_MESSAGE);
  ASSERT_TRUE(mine) << "the moved player's chat was not broadcast back to it";
  EXPECT_EQ(mine->from(), a.user);
  EXPECT_EQ(mine->seq(), 1u);
  for (;;) {  // b hears the chat, and no PLAYER_LEFT about a came before it
    auto f = b.client->receive(Millis(5000));
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    g::PlayerLeft left;
    if (f->proto_id == g::PLAYER_LEFT && left.ParseFromString(f->body)) {
      ASSERT_NE(left.user(), a.user) << "the move took the player out of its room";
    }
    g::ChatMessage heard;
    if (f->proto_id == g::CHAT_MESSAGE && heard.ParseFromString(f->body) && heard.from() == a.user) break;
  }
}

// Last: it kills a node (restarted at the end for the suite's clean stop).
TEST_F(GameTest, ARoomOnAKilledNodeIsReportedAndComesBackElsewhere) {
  Player host = join("host", Transport::kTcp, 1);  // activates the room on node 1
  Player guest = join("guest", Transport::kTcp, 2);
  ASSERT_TRUE(host.client && guest.client);
  auto j = enter(host, "doomed");
  ASSERT_TRUE(j);
  ASSERT_EQ(j->node(), "node 1");
  ASSERT_TRUE(enter(guest, "doomed"));

  ASSERT_TRUE(cluster_->signal("local_server-1", SIGKILL).ok());
  // Node 1's death is noticed within the heartbeat TTL; the guest's process (node 2) gets
  // DOWN for the room and tells its client.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  uint32_t code = 0;
  while (code == 0 && std::chrono::steady_clock::now() < deadline) {
    auto f = guest.client->receive(Millis(500));
    if (f.ok()) code = error_code(*f);
  }
  EXPECT_EQ(code, static_cast<uint32_t>(g::ERROR_ROOM_UNAVAILABLE));
  // Joining again activates the room on the live node.
  auto again = enter(guest, "doomed");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->node(), "node 2");
  EXPECT_EQ(again->players_size(), 1);

  EXPECT_NE(cluster_->wait_exit("local_server-1", 5000), -1);
  Status s = cluster_->restart("local_server-1");
  EXPECT_TRUE(s.ok()) << s.to_string();
}

}  // namespace
}  // namespace behavior::testing
