// game.h — the demo game's process kinds: a "user" process per player (the gateway's writer
// target) and a "room" process per room, found cluster-wide by name ("room/<name>").
// The client protocol is common/proto/game.proto; this header adds what players and rooms
// say to each other, which never reaches a client.
#pragma once

#include <behavior/behavior.h>

#include <memory>

namespace behavior::game {

// Player → room. Room → player messages reuse the client protoIDs of game.proto
// (POSITION, CHAT_MESSAGE, ...) with the client's bytes as body: the player forwards them.
inline constexpr uint32_t kRoomEnter = 200;  // call, PlayerState{user} → Joined
inline constexpr uint32_t kRoomMove = 201;   // info, Move
inline constexpr uint32_t kRoomChat = 202;   // info, Chat
inline constexpr uint32_t kRoomLeave = 203;  // info, no body
// Room → player: the room moved here (live migration); sent to every member before anything
// else from the new pid, so the player takes the new pid before the first event from it.
inline constexpr uint32_t kRoomMovedHere = 204;
// A player's own timer after kRoomMovedHere (int64: the new room pid): the old room's kMoved
// did not come in kRoomFollowAfter (the player watches the old pid only if it did before the
// room moved), so it follows the room without it.
inline constexpr uint32_t kRoomFollow = 205;
inline constexpr Millis kRoomFollowAfter{500};

// Diagnostics every user process also answers (the gateway's tests and bench_gateway use them).
inline constexpr uint32_t kEcho = 1;            // call: the same body back; info: to the client
inline constexpr uint32_t kCount = 2;           // call: how many messages this process handled
inline constexpr uint32_t kEchoUnreliable = 3;  // info: back to the client, unreliable on UDP
// Durable state diagnostics (the durable tests), from processes only, never from a client:
inline constexpr uint32_t kAdd = 4;       // call, int64: the counter += n, saved; replies the new value
inline constexpr uint32_t kGet = 5;       // call: the counter (int64)
inline constexpr uint32_t kAddLater = 6;  // info, int64: the counter += n after kAddLaterDelay, saved
inline constexpr uint32_t kBump = 7;      // info, int64: the counter += n, not saved now (dirty)
inline constexpr uint32_t kCrash = 8;     // info: the handler throws
inline constexpr Millis kAddLaterDelay{1500};

// The version of the game's code, for both kinds (KindOptions::version). The same sources
// build lib/libbehavior_demo_game.so (1) and lib/libbehavior_demo_game_v2.so (2: PONG says
// version 2 and carries the player's level, a state field derived from version 1's score);
// docs/hot_update.md walks through reloading one over the other.
#ifndef BEHAVIOR_DEMO_GAME_VERSION
#define BEHAVIOR_DEMO_GAME_VERSION 1
#endif
inline constexpr uint32_t kGameVersion = BEHAVIOR_DEMO_GAME_VERSION;
// A test build (tests/support/kinds): upgrade_state throws for some players.
#ifdef BEHAVIOR_DEMO_GAME_UPGRADE_THROWS
inline constexpr bool kUpgradeThrowsForSome = true;
#else
inline constexpr bool kUpgradeThrowsForSome = false;
#endif

struct GameOptions {
  Millis user_idle{20 * 60 * 1000};  // the seed's 20 minutes
  Millis room_idle{10 * 60 * 1000};  // an empty room ends after this long without traffic
  Millis user_save_every{1000};      // a dirty player's state is saved this often (0: only on passivation)
  Millis room_save_every{1000};      // and a dirty room's
  int width = 40;                    // map size in cells
  int height = 30;
  // The kinds' versions (KindOptions::version), published with the node's registration:
  // new players and rooms prefer the nodes with the newest (a rolling upgrade, the tests).
  uint32_t user_version = kGameVersion;
  uint32_t room_version = kGameVersion;
};

std::unique_ptr<Router> make_player();
std::unique_ptr<Router> make_room(const GameOptions& options);

// Registers "user" (a player) and "room" on the node.
void register_game_kinds(Node& node, const GameOptions& options);

}  // namespace behavior::game
