// game.cpp — registers the demo game's kinds on a node (see game.h), and makes the demo a
// kinds library: the stock local_server loads lib/libbehavior_demo_game.so (--kinds-lib).
#include "game.h"

#include <behavior/kinds_library.h>

namespace behavior::game {

void register_game_kinds(Node& node, const GameOptions& options) {
  KindOptions user;
  user.version = kGameVersion;
  user.idle_timeout = options.user_idle;
  user.durable.enabled = true;
  user.durable.save_every = options.user_save_every;
  node.register_kind(
      "user", [](const std::string&) { return make_player(); }, user);
  KindOptions room;
  room.version = kGameVersion;
  room.idle_timeout = options.room_idle;
  room.durable.enabled = true;
  room.durable.save_every = options.room_save_every;
  node.register_kind(
      "room", [options](const std::string&) { return make_room(options); }, room);
}

namespace {

// Settings (--kinds-opt): user_idle_minutes (local_server's --user-idle-minutes),
// room_idle_minutes, user_save_ms, room_save_ms, width, height.
Status register_demo(KindsContext& ctx) {
  GameOptions o;
  o.user_idle = Millis(ctx.option_int("user_idle_minutes", o.user_idle.count() / 60000) * 60000);
  o.room_idle = Millis(ctx.option_int("room_idle_minutes", o.room_idle.count() / 60000) * 60000);
  o.user_save_every = Millis(ctx.option_int("user_save_ms", o.user_save_every.count()));
  o.room_save_every = Millis(ctx.option_int("room_save_ms", o.room_save_every.count()));
  o.width = static_cast<int>(ctx.option_int("width", o.width));
  o.height = static_cast<int>(ctx.option_int("height", o.height));
  if (o.width < 2 || o.height < 2 || o.width > 10000 || o.height > 10000) {
    return Status::invalid_argument("width and height must be in [2, 10000]");
  }
  register_game_kinds(ctx.node, o);
  return {};
}

}  // namespace
}  // namespace behavior::game

BEHAVIOR_KINDS_LIBRARY("demo game", behavior::game::register_demo)
