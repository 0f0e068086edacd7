// game.cpp — registers the demo game's kinds on a node (see game.h), and makes the demo a
// kinds library: the stock local_server loads lib/libbehavior_demo_game.so (--kinds-lib).
#include "game.h"

#include <behavior/kinds_library.h>

namespace behavior::game {

void register_game_kinds(Node& node, const GameOptions& options) {
  KindOptions user;
  user.idle_timeout = options.user_idle;
  user.durable.enabled = true;
  user.durable.save_every = options.user_save_every;
  user.version = options.user_version;
  node.register_kind(
      "user", [](const std::string&) { return make_player(); }, user);
  KindOptions room;
  room.idle_timeout = options.room_idle;
  room.durable.enabled = true;
  room.durable.save_every = options.room_save_every;
  room.version = options.room_version;
  node.register_kind(
      "room", [options](const std::string&) { return make_room(options); }, room);
}

namespace {

// Settings (--kinds-opt): user_idle_minutes (local_server's --user-idle-minutes),
// room_idle_minutes, user_save_ms, room_save_ms, width, height, user_version, room_version.
Status register_demo(KindsContext& ctx) {
  GameOptions o;
  o.user_idle = Millis(ctx.option_int("user_idle_minutes", o.user_idle.count() / 60000) * 60000);
  o.room_idle = Millis(ctx.option_int("room_idle_minutes", o.room_idle.count() / 60000) * 60000);
  o.user_save_every = Millis(ctx.option_int("user_save_ms", o.user_save_every.count()));
  o.room_save_every = Millis(ctx.option_int("room_save_ms", o.room_save_every.count()));
  o.width = static_cast<int>(ctx.option_int("width", o.width));
  o.height = static_cast<int>(ctx.option_int("height", o.height));
  const int64_t user_version = ctx.option_int("user_version", o.user_version);
  const int64_t room_version = ctx.option_int("room_version", o.room_version);
  if (user_version < 1 || room_version < 1 || user_version > UINT32_MAX || room_version > UINT32_MAX) {
    return Status::invalid_argument("user_version and room_version must be in [1, 4294967295]");
  }
  o.user_version = static_cast<uint32_t>(user_version);
  o.room_version = static_cast<uint32_t>(room_version);
  if (o.width < 2 || o.height < 2 || o.width > 10000 || o.height > 10000) {
    return Status::invalid_argument("width and height must be in [2, 10000]");
  }
  register_game_kinds(ctx.node, o);
  return {};
}

}  // namespace
}  // namespace behavior::game

BEHAVIOR_KINDS_LIBRARY("demo game", behavior::game::register_demo)
