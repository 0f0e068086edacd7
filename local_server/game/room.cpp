// room.cpp — a room's process ("room/<name>"): the authority on who is in the room, where
// they stand and their scores while they are in it. Durable (RoomRecord, saved every
// second): a room moves to another node with its members (live migration) and comes back
// after a crash with those still alive. A player's own position and score are the player's
// too (Durable<PlayerRecord>), given back to the room when it enters a room that does not
// know it. Every move, chat line and score goes out to all members
// (the mover and the speaker too, so their clients can check what arrived).
#include <algorithm>
#include <map>
#include <random>
#include <string>

#include <spdlog/spdlog.h>

#include "game.h"
#include "game.pb.h"
#include <behavior/system.pb.h>

namespace behavior::game {
namespace {

// How long the barrier call through a moved member's old pid may take (see kMoved below).
constexpr Millis kBarrierTimeout{2000};

template <class T>
bool parse(Message& m, T* out) {
  std::string_view raw = m.body().raw();
  return out->ParseFromArray(raw.data(), static_cast<int>(raw.size()));
}

class Room : public Router {
 public:
  explicit Room(const GameOptions& options)
      : width_(options.width), height_(options.height), rng_(std::random_device{}()) {}

  void on_start() override {
    if (!loaded_) place_coin();
    for (auto& [user, mb] : members_) {
      mb.ref = actor().monitor(mb.pid);  // gone ones send their DOWN
      // Moved here: each member learns our new pid before any event we send it.
      if (actor().moved_here()) actor().send(mb.pid, kRoomMovedHere);
    }
  }

  // Durable (docs/game.md#durable-players): the members, their places and scores, the coin.
  std::string save_state() override {
    RoomRecord rec;
    for (const auto& [user, mb] : members_) {
      RoomRecord::Member* m = rec.add_members();
      *m->mutable_state() = mb.state;
      m->set_pid(mb.pid.raw());
      m->set_ref(mb.ref);  // for a hot update; an activation monitors again (on_start)
    }
    rec.set_coin_x(coin_x_);
    rec.set_coin_y(coin_y_);
    return rec.SerializeAsString();
  }
  Status load_state(std::string_view bytes, uint32_t) override {
    RoomRecord rec;
    if (!rec.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return Status::invalid_argument("not a RoomRecord");
    }
    for (const RoomRecord::Member& m : rec.members()) {
      Member& mb = members_[m.state().user()];
      mb.user = m.state().user();
      mb.state = m.state();
      mb.pid = Pid::from_raw(m.pid());
      mb.ref = m.ref();
      by_pid_[mb.pid] = mb.user;
    }
    coin_x_ = rec.coin_x();
    coin_y_ = rec.coin_y();
    loaded_ = true;
    return {};
  }

  Task<> route(Message& m) override {
    switch (m.proto_id()) {
      case kRoomEnter:
        co_await enter(m);
        break;
      case kRoomMove:
        if (Member* who = member(m.from())) move(*who, m);
        break;
      case kRoomChat:
        if (Member* who = member(m.from())) chat(*who, m);
        break;
      case kRoomLeave:
        // From the member's pid, not an alias: a pid it moved away from speaks for it no more.
        if (Member* who = member(m.from()); who && who->pid == m.from()) {
          spdlog::debug("{}: member {} leaves ({})", actor().name(), who->user, m.from().to_string());
          remove(who->user);
        }
        break;
      case proto::kMoved: {  // a member's process moved to another node: follow it
        pb::Moved mv = m.as<pb::Moved>();
        auto it = by_pid_.find(Pid::from_raw(mv.old_pid()));
        if (it == by_pid_.end()) break;
        Member& mb = members_.at(it->second);
        const Pid old = mb.pid;
        spdlog::debug("{}: member {} moved {} -> {} (kMoved)", actor().name(), mb.user, old.to_string(),
                      Pid::from_raw(mv.new_pid()).to_string());
        repoint(mb, Pid::from_raw(mv.new_pid()));  // its DOWN "migrated" no longer matches
        actor().mark_dirty();
        co_await barrier(old);
        break;
      }
      case proto::kDown: {  // a member's process ended (or its node died) without leaving
        for (auto& [user, mb] : members_) {
          if (mb.ref == m.request_id()) {  // the runtime's DOWN carries our monitor's ref
            spdlog::debug("{}: member {} is down ({})", actor().name(), user, m.as<pb::DownSignal>().reason());
            std::string gone = user;
            remove(gone);
            break;
          }
        }
        break;
      }
      default:
        if (m.is_call())
          actor().reply_error(m.reply_to(), Status::invalid_argument("unknown protoID"));
    }
    co_return;
  }

 private:
  // A member's process moved from `old`: what we sent there may still be on its way, to be
  // relayed. A barrier call through it (answered by the runtime on arrival at the new process,
  // behind all of it) before anything goes straight to the new pid keeps the member's events
  // in order. The room takes nothing else meanwhile (one round trip; docs/durable.md).
  Task<> barrier(Pid old) { (void)co_await actor().call(old, proto::kMoved, Body(), kBarrierTimeout); }

  struct Member {
    std::string user;
    Pid pid;
    Pid alias;  // its pid before it last moved: what it sent from there still counts
    uint64_t ref = 0;  // our monitor on the player's process
    PlayerState state;
  };

  // A member's process has a new pid (it moved, or came back after its node died). What it
  // sent from the old one before the move may still arrive (relayed, or late on another
  // path): the old pid stays an alias of the member until the next change.
  void repoint(Member& mb, Pid to) {
    if (mb.ref) actor().demonitor(mb.ref);
    if (mb.alias.valid()) by_pid_.erase(mb.alias);
    mb.alias = mb.pid;  // still in by_pid_
    mb.pid = to;
    mb.ref = actor().monitor(to);
    by_pid_[to] = mb.user;
  }

  Member* member(Pid pid) {
    auto it = by_pid_.find(pid);
    return it == by_pid_.end() ? nullptr : &members_.at(it->second);
  }

  Task<> enter(Message& m) {
    PlayerState who;
    if (!parse(m, &who) || who.user().empty()) {
      actor().reply_error(m.reply_to(), Status::invalid_argument("enter needs the player's name"));
      co_return;
    }
    auto [it, fresh] = members_.try_emplace(who.user());
    Member& mb = it->second;
    if (fresh) {
      mb.user = who.user();
      mb.state.set_user(who.user());
      if (who.restored()) {  // the player's durable state: where it stood, its score
        mb.state.set_x(std::clamp(who.x(), 0, width_ - 1));
        mb.state.set_y(std::clamp(who.y(), 0, height_ - 1));
        mb.state.set_score(std::max(0, who.score()));
      } else {
        mb.state.set_x(std::uniform_int_distribution<int>(0, width_ - 1)(rng_));
        mb.state.set_y(std::uniform_int_distribution<int>(0, height_ - 1)(rng_));
      }
    }
    if (mb.pid != m.from()) {  // new, or the same user's process again (moved, or after a node failure)
      // Moved (live migration): what we sent to its old pid is relayed; let it arrive first.
      // Moved (live migration): what we, or this room before it moved, sent to its old pid is
      // relayed from there; let it arrive first. A member new to us is flushed too: its old
      // pid may have had events from this room's earlier activation.
      const Pid moved_from = Pid::from_raw(who.moved_from());
      spdlog::debug("{}: member {} enters as {} (was {}, moved from {})", actor().name(), mb.user,
                    m.from().to_string(), mb.pid.to_string(), moved_from.to_string());
      if (moved_from.valid()) co_await barrier(moved_from);
      repoint(mb, m.from());
    }
    if (fresh) broadcast(PLAYER_JOINED, mb.state.SerializeAsString(), mb.pid);
    actor().mark_dirty();

    Joined joined;
    joined.set_room(actor().name().substr(actor().name().find('/') + 1));
    joined.set_width(width_);
    joined.set_height(height_);
    for (auto& [user, other] : members_) *joined.add_players() = other.state;
    joined.set_coin_x(coin_x_);
    joined.set_coin_y(coin_y_);
    joined.set_node("node " + std::to_string(actor().node().id()));
    actor().reply(m, kRoomEnter, Body::bytes(joined.SerializeAsString()));
  }

  void move(Member& mb, Message& m) {
    Move mv;
    if (!parse(m, &mv)) return;  // the player process checked it already
    mb.state.set_x(std::clamp(mv.x(), 0, width_ - 1));
    mb.state.set_y(std::clamp(mv.y(), 0, height_ - 1));
    actor().mark_dirty();
    Position pos;
    pos.set_user(mb.user);
    pos.set_x(mb.state.x());
    pos.set_y(mb.state.y());
    pos.set_seq(mv.seq());
    broadcast(POSITION, pos.SerializeAsString());
    if (mb.state.x() == coin_x_ && mb.state.y() == coin_y_) {
      mb.state.set_score(mb.state.score() + 1);
      place_coin();
      Score score;
      score.set_user(mb.user);
      score.set_score(mb.state.score());
      score.set_coin_x(coin_x_);
      score.set_coin_y(coin_y_);
      broadcast(SCORE, score.SerializeAsString());
    }
  }

  void chat(Member& mb, Message& m) {
    Chat c;
    if (!parse(m, &c)) return;
    ChatMessage out;
    out.set_from(mb.user);
    out.set_text(c.text());
    out.set_seq(c.seq());
    broadcast(CHAT_MESSAGE, out.SerializeAsString());
  }

  void remove(std::string user) {  // by value: callers pass a member's own name
    auto it = members_.find(user);
    if (it == members_.end()) return;
    actor().demonitor(it->second.ref);
    by_pid_.erase(it->second.pid);
    by_pid_.erase(it->second.alias);
    members_.erase(it);
    actor().mark_dirty();
    PlayerLeft left;
    left.set_user(user);
    broadcast(PLAYER_LEFT, left.SerializeAsString());
  }

  // To every member but `except`; each player process relays it to its client.
  void broadcast(uint32_t proto_id, const std::string& bytes, Pid except = Pid()) {
    for (auto& [user, mb] : members_) {
      if (mb.pid != except) actor().send(mb.pid, proto_id, Body::bytes(bytes));
    }
  }

  void place_coin() {
    coin_x_ = std::uniform_int_distribution<int>(0, width_ - 1)(rng_);
    coin_y_ = std::uniform_int_distribution<int>(0, height_ - 1)(rng_);
  }

  int width_;
  int height_;
  std::mt19937 rng_;
  int coin_x_ = 0;
  int coin_y_ = 0;
  bool loaded_ = false;  // restored from its saved state (a move, a restart)
  std::map<std::string, Member> members_;  // by user name
  std::map<Pid, std::string> by_pid_;      // player process → user name
};

}  // namespace

std::unique_ptr<Router> make_room(const GameOptions& options) {
  return std::make_unique<Room>(options);
}

}  // namespace behavior::game
