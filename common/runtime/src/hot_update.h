// hot_update.h — replacing live processes' code between messages (docs/hot_update.md), the
// runtime's half of a kinds library reload (KindsHost in kinds_library.h is the other half:
// loading, registering, validating, rolling back). For each live process whose kind has a
// new entry: the old router's save_state, a router from the new factory, its
// upgrade_state(old version, bytes), and the swap. The Actor stays: its pid, mailbox, name,
// writer, timers, monitors, links and durable epoch are untouched. A process in the middle
// of a handler (suspended in a call, or with a callback call pending) is taken at a later
// round, once it is between messages. A process whose upgrade fails keeps its old code.
// Each worker does the work in slices between its processes' turns, so the pause any one
// client sees is a slice, not the whole node.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "behavior/options.h"
#include "runtime.h"

namespace behavior::detail {

struct UpgradeReport {
  uint64_t upgraded = 0;  // processes now running the new code
  uint64_t failed = 0;    // kept their old code: save_state, the factory or upgrade_state failed
  uint64_t busy = 0;      // still in a handler at the deadline: kept their old code
  uint64_t rounds = 0;
  int64_t elapsed_ns = 0;
  int64_t longest_slice_ns = 0;  // the longest a worker was busy upgrading without a break
  std::vector<std::string> errors;  // the first few failures, each naming its process
};

class HotUpdate {
 public:
  // Moves every live process of a kind named in `to` whose code is another entry onto that
  // entry's code. From a thread other than the workers; waits up to `timeout` for processes
  // that are in the middle of a handler.
  static UpgradeReport upgrade(Runtime& rt, const std::vector<KindRef>& to, Millis timeout);

  static constexpr size_t kSlice = 128;  // processes a worker upgrades before a break
  static constexpr size_t kMaxErrors = 8;

 private:
  struct Round;
  static void run_slice(Shard* shard, const std::shared_ptr<Round>& round, size_t index);
  static Status upgrade_one(Actor* a, const KindRef& to);
};

}  // namespace behavior::detail
