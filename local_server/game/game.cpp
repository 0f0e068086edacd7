// game.cpp — registers the demo game's kinds on a node (see game.h).
#include "game.h"

namespace behavior::game {

void register_game_kinds(Node& node, const GameOptions& options) {
  KindOptions user;
  user.idle_timeout = options.user_idle;
  node.register_kind(
      "user", [](const std::string&) { return make_player(); }, user);
  KindOptions room;
  room.idle_timeout = options.room_idle;
  node.register_kind(
      "room", [options](const std::string&) { return make_room(options); }, room);
}

}  // namespace behavior::game
