// upgrade.h — the steps of taking a local server out of service with live migration, shared by
// `ctl drain --evacuate`, `ctl upgrade` and the launcher's rolling upgrade (tools/launch/rolling.h):
// drain it at the name server (no new players placed there), then step its evacuation
// (proto::kEvacuate on its cluster service) until it holds no named process. On a failure the
// node is resumed, so it goes on serving what it still holds and takes players again.
#pragma once

#include <behavior/options.h>
#include <behavior/status.h>
#include <behavior/tls.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster_reader.h"
#include "ctl_node.h"

namespace behavior::ctl {

// Where the name server's admin API is (drain / resume).
struct NameServerAdmin {
  std::string url;          // http[s]://host:port
  std::string token;        // bearer token ("" works from loopback only)
  std::string tls_ca;       // https: PEM CA file ("" = the system's store)
  bool tls_insecure = false;
  Millis timeout{5000};
  // POST (on) / DELETE (off) /v1/nodes/<id>/drain.
  Status drain(uint16_t node, bool on) const;
  // Waits until the name server's view (GET /v1/cluster) holds every node of `ids` as a local
  // server that is not draining: it may place players there.
  Status wait_until_placing(const std::vector<uint16_t>& ids, Millis within) const;

 private:
  Result<std::shared_ptr<TlsContext>> tls_context() const;
};

// How long an emptied node keeps running before it is stopped, relaying what still arrives
// for the pids that moved away (docs/deployment.md#rolling-upgrade): longer than the
// directory caches (2 s) and a gateway's barrier call behind the client's last frames.
inline constexpr int kDefaultSettleMs = 3000;

struct EvacuationLimits {
  Millis total{600000};  // give up when the node is not empty after this long
  Millis stall{60000};   // give up when the count of names has not gone down for this long
  Millis step{200};      // between two evacuation steps
};

struct Evacuated {
  int64_t names = 0;     // named processes on the node when the evacuation began
  double seconds = 0;    // until the node held none
};

// Called whenever the count of names left changes: (names left, of them moving now).
using EvacuationProgress = std::function<void(int64_t left, int64_t moving)>;

// Steps the evacuation of `node` through `ctl` until it holds no named process. The node
// should be drained first (else new players may keep arriving). Errors name the node and
// how many names it still holds.
Result<Evacuated> evacuate_until_empty(CtlNode& ctl, uint16_t node, const EvacuationLimits& limits,
                                       const EvacuationProgress& progress = {});

// drain + evacuate_until_empty; on a failure of the evacuation the node is resumed (best
// effort; the error says whether that worked) and keeps serving.
Result<Evacuated> drain_and_evacuate(const NameServerAdmin& ns, CtlNode& ctl, uint16_t node,
                                     const EvacuationLimits& limits, const EvacuationProgress& progress = {});

// Waits until every node of `ids` is registered as a live node of kind "local" that is not
// draining (a replacement is ready to take players), polling Redis through `reader`.
Status wait_for_local_nodes(ClusterReader& reader, const std::vector<uint16_t>& ids, Millis timeout);

// "1,2,5" → {1, 2, 5}; ids from 1 to 65535, no repeats.
Result<std::vector<uint16_t>> parse_node_list(const std::string& text);

}  // namespace behavior::ctl
