// client_writer.h — who a process's client writer is. The gateway's kAttach and kDetach
// (ids.h) say which connection process now speaks for the process's player: an attach
// replaces the old writer (which is told to kick its client: "logged in elsewhere"), a
// detach from a connection already replaced is ignored, and the process hears of each
// change through on_client_attached / on_client_detached.
#pragma once

#include "behavior/actor.h"
#include "behavior/message.h"

namespace behavior::detail {

class Shard;

class ClientWriter {
 public:
  explicit ClientWriter(Shard& shard) : shard_(shard) {}

  static bool is_writer_change(const Message& m) {
    return m.kind() == Kind::kInfo && (m.proto_id() == proto::kAttach || m.proto_id() == proto::kDetach);
  }
  // Runs as one of `a`'s turns (inside Shard::execute).
  void change(Actor* a, MessagePtr m);

 private:
  Shard& shard_;
};

}  // namespace behavior::detail
