// rolling.h — a rolling upgrade of a LocalCluster's local servers, one at a time: start a
// replacement (a new node id, the new binary, the same flags), wait until it is registered
// and takes players, drain and evacuate the old node with live migration (the steps of
// `ctl drain N --evacuate`, tools/ctl/upgrade.h), then SIGTERM it and wait for exit 0. The
// launcher's `--roll-after` and the hot_update tests and benchmark use it. A replacement that
// never becomes ready, or an evacuation that stalls, aborts the roll: the old node is
// resumed and keeps serving, the replacement (if it never got ready) is stopped.
#pragma once

#include <behavior/status.h>

#include <functional>
#include <string>
#include <vector>

#include "local_cluster.h"
#include "upgrade.h"

namespace behavior::tools {

struct RollOptions {
  std::string binary;      // the new local_server; "" = <bin_dir>/local_server
  uint16_t first_new_id = 0;  // the first replacement's node id; 0 = one above the highest local id
  int ready_timeout_ms = 30000;  // a replacement's ready line and registration
  int exit_timeout_ms = 20000;   // an old node's exit after SIGTERM
  // After an old node is empty and before its SIGTERM: it still relays what arrives for the
  // pids that moved away (senders holding an old pid: a gateway's barrier call behind the
  // client's last frames, a room's broadcast, a directory cache entry of up to 2 s). Stopped
  // at once, those messages are lost and a gateway waiting on its barrier holds the client's
  // frames for good (seen with 300 bots: 168 echoes lost).
  int settle_ms = ctl::kDefaultSettleMs;
  ctl::EvacuationLimits limits;  // of each evacuation
  std::function<void(const std::string&)> log;  // progress lines for people (optional)
};

struct RolledNode {
  std::string old_service, new_service;
  uint16_t old_id = 0, new_id = 0;
  int64_t moved = 0;        // named processes on the old node when its evacuation began
  double start_s = 0;       // the replacement: started until registered and ready
  double evacuate_s = 0;    // drain + evacuation until empty, then the settle time
  double stop_s = 0;        // SIGTERM until exit 0
  double total_s = 0;
};

struct RollReport {
  std::vector<RolledNode> nodes;
  double seconds = 0;  // the whole roll
};

// Rolls every local server running now. Errors say which node and step failed; the nodes
// rolled before it stay rolled (the report so far is in `partial` if given).
Result<RollReport> roll_local_servers(LocalCluster& cluster, const RollOptions& options,
                                      RollReport* partial = nullptr);

// "node 1 -> 5: ready 0.41 s, evacuated 30 in 1.20 s, exited 0 in 0.10 s, 1.71 s" lines and
// a total, for people.
std::string describe(const RollReport& report);

}  // namespace behavior::tools
