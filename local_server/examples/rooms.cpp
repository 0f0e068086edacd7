// rooms.cpp — the shape of game code: a kind per process type ("user", "room"), processes
// found by name and activated on demand with ensure(), a player awaiting a call to its room,
// and frames for the client going through the player's writer.
#include <behavior/behavior.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace behavior;

namespace game {
constexpr uint32_t kJoinRoom = 100, kEnter = 101, kJoined = 102, kMove = 103, kSay = 104;
}

std::atomic<int> frames_printed{0};

struct Joined {
  std::string room;
  int players;
};

// One per room: keeps who is inside.
class Room : public Router {
 public:
  Task<> route(Message& m) override {
    switch (m.proto_id()) {
      case game::kEnter:
        members_.push_back(m.from());
        actor().reply(m, game::kJoined, Joined{actor().name(), static_cast<int>(members_.size())});
        break;
      case game::kMove:
        for (Pid p : members_) {
          if (p != m.from()) actor().send(p, game::kSay, "someone moved to " + m.as<std::string>());
        }
        break;
    }
    co_return;
  }

 private:
  std::vector<Pid> members_;
};

// One per user, created by ensure() (the gateway will do this on login).
class Player : public Router {
 public:
  Task<> route(Message& m) override {
    switch (m.proto_id()) {
      case game::kJoinRoom: {
        std::string room = "room/" + m.as<std::string>();
        actor().node().ensure(room, "room");  // activates the room once, cluster-wide later
        Reply reply = co_await actor().call(room, game::kEnter);
        if (!reply.ok()) {
          actor().send_error_to_client(1, reply.status().to_string());
          break;
        }
        room_ = room;
        auto& joined = reply.as<Joined>();
        actor().send_to_client_bytes(game::kJoined,
                                     joined.room + " has " + std::to_string(joined.players) + " players");
        break;
      }
      case game::kMove:
        actor().send(room_, game::kMove, m.take_body());  // forwarded without a copy
        break;
      case game::kSay:
        actor().send_to_client_bytes(game::kSay, m.as<std::string>());
        break;
    }
  }

 private:
  std::string room_;
};

// Stands in for the gateway's connection process: prints what the client would receive.
class Connection : public Router {
 public:
  explicit Connection(std::string user) : user_(std::move(user)) {}
  Task<> route(Message& m) override {
    if (m.kind() == Kind::kClient) {
      std::printf("[%s] <- %u: %s\n", user_.c_str(), m.proto_id(), std::string(m.body().raw()).c_str());
      frames_printed.fetch_add(1);
    }
    co_return;
  }

 private:
  std::string user_;
};

int main() {
  Node node;
  node.register_kind<Room>("room");
  node.register_kind<Player>("user", KindOptions{Millis(20 * 60 * 1000)});  // 20 min idle
  if (!node.start().ok()) return 1;

  for (const char* user : {"42", "43"}) {
    Pid conn = *node.spawn(std::make_unique<Connection>(std::string("user/") + user));
    Pid player = *node.ensure(std::string("user/") + user, "user", conn);
    node.send(player, game::kJoinRoom, std::string("lobby"));
  }
  // Both joined (two frames printed), then one moves and the other hears of it.
  auto wait_for_frames = [](int n) {
    for (int i = 0; i < 5000 && frames_printed.load() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return frames_printed.load() >= n;
  };
  if (!wait_for_frames(2)) return 1;
  node.send("user/42", game::kMove, std::string("(3,4)"));
  if (!wait_for_frames(3)) return 1;
  node.shutdown();
  return 0;
}
