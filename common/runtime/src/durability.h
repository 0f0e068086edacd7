// durability.h — the runtime's half of durable state (durable.h, docs/durable.md): what
// happens on a process's worker. Loading the stored state before on_start, snapshots of
// the router's bytes, the interval and passivation saves. The other half, the store, is the
// cluster service's (proto::kSaveState; common/cluster/src/state_store.cpp): it owns Redis
// and the fencing epochs. Worker thread of the process only.
#pragma once

#include <string_view>

#include "behavior/actor.h"
#include "behavior/message.h"
#include "behavior/status.h"

namespace behavior::detail {

class Durability {
 public:
  // At spawn: a named process of a durable kind becomes durable.
  static void init(Actor* a, const DurableOptions& o);
  static bool is_durable(const Actor* a);
  // The release that starts it carries pb::LoadedState: its epoch and the stored bytes, given
  // to Router::load_state. An error means the activation must not start.
  static Status load(Actor* a, Body& loaded);
  // After on_start: the interval save's tick.
  static void started(Actor* a);
  // The router's state as a pb::SaveState body (clears the dirty flag), or why not. `behind`:
  // an interval save, which a busy store may refuse (it is retried by the next tick).
  static Result<Body> snapshot(Actor* a, bool behind = false);
  // A save's outcome came back: failed, the state is dirty again; fenced, the process stops.
  static void saved(Actor* a, const Status& outcome);
  // proto::kSaveTick: write the state if dirty, without waiting.
  static void save_behind(Actor* a);
  // finalize(): the last save of a process that ends by `reason`, if it ends gracefully
  // (normal, shutdown, idle, migrated) and its state is dirty. Not after a crash or a kill:
  // the next activation starts from the last saved state. Nor when `can_save` is false (the
  // workers are stopping and the cluster has already gone).
  static void passivate(Actor* a, std::string_view reason, bool can_save);
};

}  // namespace behavior::detail
