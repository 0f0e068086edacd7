// migration.h — live migration, the runtime's half (docs/durable.md, "Live migration"): a
// durable process moving to another node. The cluster service puts a proto::kMigrate order
// in the process's mailbox, so what was queued before it is handled first. Handling it runs
// a runtime-owned handler (the process takes no other message meanwhile; new ones queue in
// order): save the state write-through, ask the target node to adopt it (kAdopt: spawn held,
// hand the name over in the directory from this pid only, start with the state), then relay
// the queued messages to the new pid in order, keep relaying what still arrives for the old
// pid (Shard::add_forward), and end with reason "migrated" after telling monitors and links
// where it went (kMoved). Any failure before the handover: the process resumes here.
// Worker thread of the process only.
#pragma once

#include <behavior/system.pb.h>

#include "behavior/actor.h"
#include "behavior/message.h"
#include "behavior/task.h"

namespace behavior::detail {

class Migration {
 public:
  // A kMigrate order from this node's cluster service (nobody else may give one).
  static bool is_order(const Actor* a, const Message& m);
  // Handles the order as the process's current handler.
  static void begin(Actor* a, MessagePtr order);
  // finalize(): a moved process's monitors and links hear where it went (before the DOWN).
  static void announce(Actor* a);

 private:
  static Task<> run(Actor* a, pb::MigrateOrder order);
  static void moved(Actor* a, Pid to);
  static void answer(Actor* a, const pb::MigrateOrder& order, Result<Pid> outcome);
};

}  // namespace behavior::detail
