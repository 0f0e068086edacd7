// signals.h — links, monitors and exit signals between processes, with Erlang's meaning:
// what happens when a link, unlink, monitor, demonitor, down or exit signal reaches one of
// a worker's processes, and what a dying process tells the others. It schedules nothing
// itself: a note for the process goes to its mailbox through the Shard, and a signal that
// ends the process asks the Shard to end it.
#pragma once

#include <cstdint>
#include <string_view>

#include "behavior/actor.h"
#include "behavior/message.h"

namespace behavior::detail {

class Shard;

// request_id on a kExit signal: it comes from a linked process that died (not from exit()).
inline constexpr uint64_t kLinkExit = 1;

class Signals {
 public:
  explicit Signals(Shard& shard) : shard_(shard) {}

  // A signal (kExit, kDown, kLink, kUnlink, kMonitor, kDemonitor) reached `a`, a live
  // process of this worker.
  void deliver(Actor* a, MessagePtr m);
  // `a` is exiting with `why`: linked processes get an exit signal, monitoring ones a
  // down signal, and the processes `a` monitored forget it.
  void announce_exit(Actor* a, std::string_view why);

 private:
  void exit_signal(Actor* a, MessagePtr m);
  void down(Actor* a, MessagePtr m);

  Shard& shard_;
};

}  // namespace behavior::detail
