// client_frames.h — reading the gateway's frames in tests: the code of an error frame, a
// one-line description of any frame for failure messages (an unexpected error frame then
// says which error it was instead of only its protoID), and a ping through the demo game.
#pragma once

#include <behavior/game_client.h>
#include <behavior/message.h>

#include <string>

#include "game.pb.h"

#include <behavior/system.pb.h>

namespace behavior::testing {

// The code of a kError frame, 0 for any other frame (or an error body that does not parse).
inline uint32_t error_code(const ClientFrame& f) {
  pb::ErrorFrame e;
  return f.proto_id == proto::kError && e.ParseFromString(f.body) ? e.code() : 0;
}

inline std::string describe(const ClientFrame& f) {
  pb::ErrorFrame e;
  if (f.proto_id == proto::kError && e.ParseFromString(f.body)) {
    return "error frame " + std::to_string(e.code()) + " \"" + e.message() + "\"";
  }
  return "frame protoID " + std::to_string(f.proto_id) + " with " + std::to_string(f.body.size()) + " body bytes";
}

// A PING through the user's process (the demo game): true once its PONG comes back (within
// 5 s), false if the connection fails first.
inline bool ping(GameClient& c, uint64_t seq) {
  game::Ping p;
  p.set_seq(seq);
  if (!c.send(game::PING, p.SerializeAsString()).ok()) return false;
  for (int i = 0; i < 50; ++i) {
    auto f = c.receive(Millis(100));
    if (f.ok() && f->proto_id == game::PONG) return true;
    if (!f.ok() && f.status().code() != Code::kTimeout) return false;
  }
  return false;
}

}  // namespace behavior::testing
