// client_frames.h — reading the gateway's frames in tests: the code of an error frame, and a
// one-line description of any frame for failure messages (an unexpected error frame then
// says which error it was instead of only its protoID).
#pragma once

#include <behavior/game_client.h>
#include <behavior/message.h>

#include <string>

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

}  // namespace behavior::testing
