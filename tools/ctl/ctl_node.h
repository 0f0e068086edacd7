// ctl_node.h — ctl as a short-lived member of the cluster (kind "ctl"): picks a free node id
// in the reserved range, joins with the cluster secret, messages processes, leaves gracefully.
#pragma once

#include <behavior/behavior.h>
#include <behavior/cluster.h>

#include <memory>
#include <string>
#include <vector>

#include "cluster_reader.h"

namespace behavior::ctl {

// Node ids ctl may take: the top 1024 (servers are configured with lower ones).
inline constexpr uint16_t kFirstCtlNodeId = 64512;
inline constexpr uint16_t kLastCtlNodeId = 65535;

struct CallResult {
  uint32_t proto_id = 0;
  std::string body;
};

struct KickResult {
  struct PerGateway {
    uint16_t gateway = 0;
    uint64_t kicked = 0;
  };
  std::vector<PerGateway> gateways;
  uint64_t total = 0;
};

class CtlNode {
 public:
  // `cluster` carries Redis, the prefix, the secret and the s2s host; `timeout` bounds joining
  // and each request to another node.
  static Result<std::unique_ptr<CtlNode>> join(ClusterReader& reader, ClusterOptions cluster, Millis timeout);
  ~CtlNode();  // leave()
  CtlNode(const CtlNode&) = delete;
  CtlNode& operator=(const CtlNode&) = delete;

  uint16_t id() const { return node_->id(); }

  // Where `name` lives (the directory, through this node's cluster service).
  Result<Pid> resolve(const std::string& name);
  // An info message; returns once the target's node has it in the process's mailbox.
  Status send(Pid to, uint32_t proto_id, std::string body);
  Result<CallResult> call(Pid to, uint32_t proto_id, std::string body, Millis timeout);
  // Stops the process and waits for it to end; returns its exit reason.
  Result<std::string> stop(Pid pid, const std::string& reason);
  // Every gateway in `gateways` closes the connections of `user` with a KICK frame.
  Result<KickResult> kick(const std::vector<uint16_t>& gateways, const std::string& user, const std::string& reason);
  // Moves the durable process `name` to node `to` (live migration, through the cluster service
  // of the node that holds it); its new pid. Waits up to `timeout`.
  Result<Pid> migrate(const std::string& name, uint16_t to, Millis timeout);
  // Hot update: node `node` reloads the kinds library at `path` (a path on its machine);
  // the reload's report as JSON (ok or not: see its "ok"). Waits up to `timeout`.
  Result<std::string> reload(uint16_t node, const std::string& path, Millis timeout);
  // One step of evacuating `node` (proto::kEvacuate): what is left there.
  Result<JsonMap> evacuate(uint16_t node);
  // Leaves the cluster (registration removed at once) and stops the node. Idempotent.
  void leave();

 private:
  CtlNode(ClusterReader& reader, Millis timeout) : reader_(reader), timeout_(timeout) {}
  // A call to the cluster service of `node` that proves an s2s link to it works; also the
  // barrier after a send (our messages to a node share one link, in order).
  Status reach(uint16_t node);
  // Why no link to `node` came up: its address, whether it accepts TCP, our handshake counters.
  std::string diagnose(uint16_t node, const Status& failure);

  ClusterReader& reader_;
  Millis timeout_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Inbox> inbox_;
};

}  // namespace behavior::ctl
