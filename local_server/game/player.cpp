// player.cpp — a player's process ("user/<name>"): the only process its client reaches.
// Validates what the client sends, joins a room (activated once cluster-wide), forwards
// moves and chat to it, relays the room's broadcasts to the client, and answers pings.
#include <behavior/cluster.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "game.h"
#include "game.pb.h"
#include <behavior/system.pb.h>

namespace behavior::game {
namespace {

constexpr std::string_view kUserPrefix = "user/";

std::string user_name(const std::string& process_name) {
  return process_name.starts_with(kUserPrefix) ? process_name.substr(kUserPrefix.size()) : process_name;
}

int32_t level_for(int32_t score) { return 1 + score / 5; }
constexpr size_t kMaxChat = 256;

template <class T>
bool parse(std::string_view raw, T* out) {
  return out->ParseFromArray(raw.data(), static_cast<int>(raw.size()));
}
template <class T>
bool parse(Message& m, T* out) {
  return parse(m.body().raw(), out);
}

// A room that moved (live migration) announces its new pid before its first event from there.
// Those events wait here until the old pid's kMoved says the old one's last events are in
// (they came the same path, before it); past this many they are let through.
constexpr size_t kMaxEarlyEvents = 1024;
// How long the barrier call through the old room pid may take before we switch anyway.
constexpr Millis kBarrierTimeout{2000};

// The message's bytes, moved out rather than copied: a handler is done with its message,
// and a copy was a malloc per echo (empty for a boxed object, like raw()).
std::string take_bytes(Message& m) {
  return m.body().boxed() ? std::string() : std::move(m.body().as<std::string>());
}

bool valid_room_name(const std::string& r) {
  if (r.empty() || r.size() > 32) return false;
  return std::all_of(r.begin(), r.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// What a room sends its players (client protoIDs; the body is already the client's bytes).
bool is_room_event(uint32_t id) {
  return id == POSITION || id == CHAT_MESSAGE || id == SCORE || id == PLAYER_JOINED ||
         id == PLAYER_LEFT;
}

class Player : public Durable<PlayerRecord> {
 public:
  // What is stored and what a hot update carries: the record, with the live fields filled
  // (harmless in the store: an activation ignores them).
  std::string save_state() override {
    PlayerRecord rec = state();
    PlayerRecord::Live* live = rec.mutable_live();
    live->set_room_pid(room_pid_.raw());
    live->set_room_ref(room_ref_);
    live->set_room_name(room_name_);
    live->set_handled(handled_);
    live->set_rejoin(rejoin_);
    live->set_room_next(room_next_.raw());
    live->clear_early();  // what the loaded state carried was relayed at the rejoin, or is in early_
    for (const auto& [id, body] : early_) {
      PlayerRecord::Live::Event* e = live->add_early();
      e->set_id(id);
      e->set_body(body);
    }
    return rec.SerializeAsString();
  }
  // Erlang's code_change: state from another version of this code. In a hot update the
  // process lives on, so its room, monitor and counters carry over; at an activation they
  // are stale and ignored. Version 2 derives the player's level from its score.
  Status upgrade_state(uint32_t from_version, Body old_state) override {
    if (Status s = Durable::load_state(old_state.raw(), from_version); !s.ok()) return s;
    if constexpr (kUpgradeThrowsForSome) {
      // The broken v3 test library: an upgrade that throws for a third of the players.
      if (std::hash<std::string>{}(actor().name()) % 3 == 0) throw std::runtime_error("v3 cannot upgrade this player");
    }
    if (actor().started()) {
      const PlayerRecord::Live& live = state().live();
      user_ = user_name(actor().name());
      room_pid_ = Pid::from_raw(live.room_pid());
      room_ref_ = live.room_ref();
      room_name_ = live.room_name();
      handled_ = live.handled();
      rejoin_ = live.rejoin();
      room_next_ = Pid::from_raw(live.room_next());
      early_ = carried_early();
    }
    if (kGameVersion >= 2 && from_version < 2) mutable_state().set_level(level_for(state().score()));
    return {};
  }

  void on_start() override {
    const std::string& name = actor().name();
    user_ = user_name(name);
    // Moved here from another node with its client still playing: back into its room before
    // anything else is handled (the room has followed the move; this rebuilds our side).
    rejoin_ = actor().moved_here() && !state().room().empty();
    spdlog::debug("{} {} as {}", rejoin_ ? "moved" : "activated", name, actor().pid().to_string());
  }

  Task<> route(Message& m) override {
    if (rejoin_) {
      rejoin_ = false;
      co_await rejoin();
    }
    ++handled_;
    const uint32_t id = m.proto_id();
    if (room_pid_.valid() && m.from() == room_pid_ && is_room_event(id)) {
      if (id != SCORE) {  // the common case, without a coroutine frame: nothing to save now
        if (id == POSITION) remember_position(m.body().raw());
        relay(id, take_bytes(m));
        co_return;
      }
      co_await room_event(id, m.body().raw());
      co_return;
    }
    if (room_old_.valid() && m.from() == room_old_ && is_room_event(id)) {
      // Sent by our room, before it or we moved, to the pid we had then: relayed, earlier than
      // anything the room sends us here (it only knows this pid once we entered again).
      co_await room_event(id, m.body().raw());
      co_return;
    }
    if (room_next_.valid() && m.from() == room_next_ && is_room_event(id)) {
      if (early_.size() < kMaxEarlyEvents) {
        early_.emplace_back(id, std::string(m.body().raw()));
      } else {
        co_await room_event(id, m.body().raw());
      }
      co_return;
    }
    if (id == kAdd + 1000 && m.from() == actor().pid()) {  // kAddLater's timer
      mutable_state().set_counter(state().counter() + m.as<int64_t>());
      (void)co_await actor().save();
      co_return;
    }
    if (is_room_event(id) && !from_client(m)) {
      spdlog::debug("{}: a room event {} from {} dropped (room {}, next {})", user_, id, m.from().to_string(),
                    room_pid_.to_string(), room_next_.to_string());
    }
    switch (id) {
      case kEcho:
        if (m.is_call()) {
          actor().reply(m, kEcho, m.take_body());
        } else {
          actor().forward_to_client(kEcho, m.take_body());
        }
        break;
      case kCount:
        actor().reply(m, kCount, handled_);
        break;
      case kEchoUnreliable:
        actor().send_to_client_unreliable(kEchoUnreliable, take_bytes(m));
        break;
      case JOIN_ROOM:
        co_await join(m);
        break;
      case MOVE: {
        Move move;
        if (!parse(m, &move)) co_return bad_message("MOVE does not parse");
        if (!in_room()) co_return refuse(ERROR_NOT_IN_ROOM, "MOVE before JOIN_ROOM");
        actor().send(room_pid_, kRoomMove, Body::bytes(move.SerializeAsString()));
        break;
      }
      case CHAT: {
        Chat chat;
        if (!parse(m, &chat)) co_return bad_message("CHAT does not parse");
        if (chat.text().size() > kMaxChat) co_return bad_message("CHAT longer than 256 bytes");
        if (!in_room()) co_return refuse(ERROR_NOT_IN_ROOM, "CHAT before JOIN_ROOM");
        actor().send(room_pid_, kRoomChat, Body::bytes(chat.SerializeAsString()));
        break;
      }
      case PING: {
        Ping ping;
        if (!parse(m, &ping)) co_return bad_message("PING does not parse");
        ping.set_version(kGameVersion);  // which code answered: a hot update shows here
        if (kGameVersion >= 2) ping.set_level(state().level());
        actor().send_to_client_bytes(PONG, ping.SerializeAsString());
        break;
      }
      case LEAVE_ROOM:
        leave();
        if (!state().room().empty()) mutable_state().set_room("");
        break;
      case kAdd:
      case kGet:
      case kAddLater:
      case kBump:
      case kCrash:
        if (from_client(m)) co_return refuse(ERROR_UNKNOWN_PROTO, "unknown protoID " + std::to_string(id));
        co_await diagnostics(m);
        break;
      case kRoomMovedHere:  // our room moved (live migration): its events come from here now
        if (!from_client(m) && room_pid_.valid() && m.from() != room_pid_) {
          spdlog::debug("{}: room {} announces it moved to {}", user_, room_pid_.to_string(), m.from().to_string());
          room_next_ = m.from();
          actor().send_after(kRoomFollowAfter, kRoomFollow, static_cast<int64_t>(m.from().raw()));
        }
        break;
      case kRoomFollow:  // our timer: the old room's kMoved did not come (see game.h)
        if (m.from() == actor().pid() && room_next_.valid() &&
            room_next_.raw() == static_cast<uint64_t>(m.as<int64_t>())) {
          co_await follow_room(room_next_, true);
        }
        break;
      case proto::kMoved: {  // our room moved to another node (live migration): follow it
        pb::Moved mv = m.as<pb::Moved>();
        if (room_pid_.valid() && mv.old_pid() == room_pid_.raw()) co_await follow_room(Pid::from_raw(mv.new_pid()), true);
        break;
      }
      case proto::kDown: {
        if (m.request_id() == room_ref_ && room_ref_ != 0 && room_next_.valid()) {
          // The old room's node went away after the new one started: no kMoved will come.
          co_await follow_room(room_next_, false);
        } else if (m.request_id() == room_ref_ && room_ref_ != 0) {  // the runtime's DOWN carries our ref
          room_pid_ = Pid();
          room_ref_ = 0;
          refuse(ERROR_ROOM_UNAVAILABLE, "the room " + room_name_ + " ended (" +
                                             m.as<pb::DownSignal>().reason() + "); join again");
        }
        break;
      }
      default:
        if (m.is_call()) {
          actor().reply_error(m.reply_to(), Status::invalid_argument("unknown protoID"));
        } else if (from_client(m) && !proto::is_system(id)) {
          refuse(ERROR_UNKNOWN_PROTO, "unknown protoID " + std::to_string(id));
        }  // from a process: a room we left still sending, say; dropped
    }
  }

  // The client went away: leave the room so the others see it go; this process lives on
  // until its idle expiry, and a reconnect joins again.
  void on_client_detached(Pid) override { leave(); }
  // Ended: out of the room. Not when it moved to another node (live migration): the player
  // plays on there, and its new pid enters the room again (rejoin). A leave from this pid would
  // reach the room after that enter as often as before it, and take the player out for good.
  void on_stop(std::string_view why) override {
    if (why != reason::kMigrated) leave();
  }

 private:
  bool in_room() const { return room_pid_.valid(); }
  // A frame of our client (relayed by its gateway connection, our writer), not a process's.
  bool from_client(const Message& m) const { return m.from().valid() && m.from() == writer(); }
  Pid writer() const { return const_cast<Player*>(this)->actor().writer(); }

  // This player's own position and score, as the room reports them to everyone, kept in its
  // durable state. A score is saved (write-through) before the client hears of it, so a
  // score a client has seen survives a crash or its node's death; positions are saved with
  // the interval (user_save_ms).
  Task<> remember(uint32_t id, std::string_view raw) {
    if (id == POSITION) {
      remember_position(raw);
      co_return;
    }
    Score score;
    if (!parse(raw, &score) || score.user() != user_) co_return;
    mutable_state().set_score(score.score());
    if (kGameVersion >= 2) mutable_state().set_level(level_for(score.score()));
    (void)co_await actor().save();  // on failure the interval save retries; the client is told anyway
  }

  // A POSITION about us: where we stand now (saved with the interval). Most are about
  // others: those are told apart by their first field's bytes (`user`, field 1, comes first
  // in the encoding) without a parse.
  void remember_position(std::string_view raw) {
    if (!about_me(raw)) return;
    Position pos;
    if (!parse(raw, &pos) || pos.user() != user_) return;
    PlayerRecord& rec = mutable_state();
    rec.set_x(pos.x());
    rec.set_y(pos.y());
  }
  // False only when the message surely names another user (true when unsure: parse it).
  bool about_me(std::string_view raw) const {
    if (user_.size() >= 128) return true;  // a longer length is a multi-byte varint
    return raw.size() >= 2 + user_.size() && raw[0] == 0x0A && static_cast<uint8_t>(raw[1]) == user_.size() &&
           raw.substr(2, user_.size()) == user_;
  }

  // The durable-state diagnostics (game.h): a counter saved write-through, later, or not yet.
  Task<> diagnostics(Message& m) {
    switch (m.proto_id()) {
      case kAdd: {
        mutable_state().set_counter(state().counter() + m.as<int64_t>());
        Status saved = co_await actor().save();
        if (!saved.ok()) co_return (void)actor().reply_error(m.reply_to(), saved);
        actor().reply(m, kAdd, static_cast<int64_t>(state().counter()));
        break;
      }
      case kGet:
        actor().reply(m, kGet, static_cast<int64_t>(state().counter()));
        break;
      case kAddLater:
        actor().send_after(kAddLaterDelay, kAdd + 1000, m.as<int64_t>());
        break;
      case kBump:
        mutable_state().set_counter(state().counter() + m.as<int64_t>());
        break;
      case kCrash:
        throw std::runtime_error("crash requested");
    }
  }

  // One event of our room: what concerns us is kept, and the client gets it.
  Task<> room_event(uint32_t id, std::string_view raw) {
    if (id == SCORE || id == POSITION) co_await remember(id, raw);
    relay(id, std::string(raw));
  }

  // Our room moved from room_pid_ to `to`. In order:
  // - its events that came early from the new pid (room_next_) go out now: the old pid's
  //   kMoved came behind the old one's last events, so those are all in;
  // - what we sent to the old pid may still be on its way there, to be relayed: a barrier call
  //   through the old pid (answered by the runtime on arrival at the new process, behind all
  //   of it) before we send anything to the new one. Without it a CHAT sent straight to the
  //   new pid could overtake the one before it (docs/durable.md, "Order per sender").
  // No message of ours is taken meanwhile: they wait in the mailbox, in order.
  Task<> follow_room(Pid to, bool barrier) {
    const Pid old = room_pid_;
    spdlog::debug("{}: follows room {} to {} ({} early events, barrier {})", user_, old.to_string(), to.to_string(),
                  early_.size(), barrier);
    actor().demonitor(room_ref_);  // its DOWN "migrated" no longer matches
    room_pid_ = to;
    room_ref_ = actor().monitor(to);
    std::vector<std::pair<uint32_t, std::string>> early = std::move(early_);
    early_.clear();
    if (room_next_ == to) {
      for (auto& [id, raw] : early) co_await room_event(id, raw);
    }
    room_next_ = Pid();
    if (barrier) (void)co_await actor().call(old, proto::kMoved, Body(), kBarrierTimeout);
  }

  void relay(uint32_t id, std::string bytes) {
    if (id == POSITION) {
      actor().send_to_client_unreliable(id, std::move(bytes));  // state: newest wins
    } else {
      actor().send_to_client_bytes(id, std::move(bytes));
    }
  }

  void bad_message(std::string_view why) { refuse(ERROR_BAD_MESSAGE, why); }
  void refuse(ErrorCode code, std::string_view why) { actor().send_error_to_client(code, why); }

  Task<> join(Message& m) {
    JoinRoom req;
    if (!parse(m, &req) || !valid_room_name(req.room())) {
      co_return bad_message("JOIN_ROOM needs a room name of 1-32 characters [A-Za-z0-9_-]");
    }
    const std::string room = "room/" + req.room();
    if (room != room_name_) leave();
    Result<Pid> pid = co_await ensure_room(room);
    if (!pid.ok())
      co_return refuse(ERROR_ROOM_UNAVAILABLE,
                       "cannot reach " + room + ": " + pid.status().message());
    PlayerState me;
    me.set_user(user_);
    if (state().placed()) {  // back from a save: the room takes where we stood and our score
      me.set_x(state().x());
      me.set_y(state().y());
      me.set_score(state().score());
      me.set_restored(true);
    }
    Reply joined = co_await actor().call(*pid, kRoomEnter, Body::bytes(me.SerializeAsString()));
    if (!joined.ok()) {
      co_return refuse(ERROR_ROOM_UNAVAILABLE,
                       "cannot enter " + room + ": " + joined.status().message());
    }
    const Pid at = answered_by(joined, *pid);
    if (room_pid_ != at) {
      if (room_ref_) actor().demonitor(room_ref_);
      room_ref_ = actor().monitor(at);
    }
    room_pid_ = at;
    room_name_ = room;
    std::string bytes(joined.message().body().raw());
    Joined j;
    if (j.ParseFromString(bytes)) {
      for (const PlayerState& p : j.players()) {
        if (p.user() != user_) continue;
        PlayerRecord& rec = mutable_state();
        rec.set_room(room);
        rec.set_placed(true);
        rec.set_x(p.x());
        rec.set_y(p.y());
        rec.set_score(p.score());
      }
    }
    // Where the room put us is saved before the client hears of it: a player that has not
    // moved since is found there again whatever happens to this process.
    (void)co_await actor().save();
    actor().send_to_client_bytes(JOINED, std::move(bytes));
  }

  // After a move: the room we were in, entered again with our saved state and without a
  // JOINED for the client, which never left. A room that cannot be reached is reported as
  // when it ends (the client joins again).
  Task<> rejoin() {
    const std::string room = state().room();
    // The room's pid as the process before the move knew it (saved with the move's state):
    // what it sent there still arrives, relayed, and is taken (room_old_).
    const Pid before = Pid::from_raw(state().live().room_pid());
    Result<Pid> pid = co_await ensure_room(room);
    spdlog::debug("{}: rejoins {} at {}", user_, room, pid.ok() ? pid->to_string() : pid.status().to_string());
    Reply entered;
    if (pid.ok()) {
      PlayerState me;
      me.set_user(user_);
      me.set_x(state().x());
      me.set_y(state().y());
      me.set_score(state().score());
      me.set_restored(state().placed());
      me.set_moved_from(actor().moved_from().raw());  // the room flushes that path first
      entered = co_await actor().call(*pid, kRoomEnter, Body::bytes(me.SerializeAsString()));
    }
    if (!pid.ok() || !entered.ok()) {
      co_return refuse(ERROR_ROOM_UNAVAILABLE, "the room " + room + " ended (" +
                                                   (pid.ok() ? entered.status() : pid.status()).message() +
                                                   "); join again");
    }
    const Pid at = answered_by(entered, *pid);
    room_ref_ = actor().monitor(at);
    room_pid_ = at;
    room_name_ = room;
    if (before.valid() && before != room_pid_) room_old_ = before;
    // Events of the room's next pid that the process before the move held back, waiting for the
    // old pid's kMoved: sent before anything the room sent us here, so out first.
    for (auto& [id, body] : carried_early()) co_await room_event(id, body);
  }

  // The room's pid that answered an enter: the directory may still have named (`asked`) its pid
  // before a move, whose later events would be dropped as another pid's.
  static Pid answered_by(Reply& r, Pid asked) { return r.message().from().valid() ? r.message().from() : asked; }

  // The room events the process before a move (or the code before a hot update) held back.
  std::vector<std::pair<uint32_t, std::string>> carried_early() const {
    std::vector<std::pair<uint32_t, std::string>> out;
    for (const PlayerRecord::Live::Event& e : state().live().early()) out.emplace_back(e.id(), e.body());
    return out;
  }

  // The room's process, activated once in the whole cluster (the cluster service of this
  // node claims the name in the directory); a standalone node activates it locally.
  Task<Result<Pid>> ensure_room(const std::string& room) {
    Reply r =
        co_await actor().call(Cluster::service_pid(actor().node().id()), proto::kEnsure,
                              Body(Cluster::ensure_request(room, "room")));
    if (r.ok()) co_return r.as<Pid>();
    if (r.status().code() != Code::kNoProcess && r.status().code() != Code::kNotFound)
      co_return r.status();
    co_return actor().node().ensure(room, "room");  // no cluster service: not clustered
  }

  void leave() {
    if (!room_pid_.valid()) return;
    actor().send(room_pid_, kRoomLeave);
    actor().demonitor(room_ref_);
    room_pid_ = Pid();
    room_ref_ = 0;
    room_next_ = Pid();
    room_old_ = Pid();
    early_.clear();
    room_name_.clear();
  }

  std::string user_;
  std::string room_name_;
  Pid room_pid_;
  uint64_t room_ref_ = 0;
  Pid room_next_;  // where our room announced it moved to (kRoomMovedHere), before its kMoved
  Pid room_old_;   // moved here: our room's pid before the move, whose relayed events still count
  std::vector<std::pair<uint32_t, std::string>> early_;  // room_next_'s events until then
  uint64_t handled_ = 0;
  bool rejoin_ = false;  // moved here: enter the room again first
};

}  // namespace

std::unique_ptr<Router> make_player() { return std::make_unique<Player>(); }

}  // namespace behavior::game
