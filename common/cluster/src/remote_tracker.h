// remote_tracker.h — what this node's processes wait for from other nodes: calls not yet
// answered, and monitors and links on processes there. When a node goes down each gets the
// answer it would have got had the node said goodbye: a pending call fails at once (instead
// of at its timeout), a monitor gets DOWN and a link EXIT "noconnection" (Erlang's
// semantics). Fed by the cluster with every message that leaves for or arrives from another
// node. Network loop only.
#pragma once

#include <behavior/message.h>
#include <behavior/metrics.h>

#include <map>
#include <unordered_set>
#include <utility>

namespace behavior::detail {

class Runtime;

class RemoteTracker {
 public:
  explicit RemoteTracker(Runtime& rt) : rt_(rt) {}

  // Observes the round trip of each answered call, in seconds (optional).
  void set_call_histogram(Histogram* h) { call_seconds_ = h; }

  // A message leaving for `node`: a call to be answered, a monitor or link that fires if the
  // node goes down, or the end of one.
  void outbound(const Message& m, uint16_t node, int64_t now_ms);
  // A message from `node`: a reply answers a call; a DOWN or a link's EXIT ends a watch.
  void inbound(const Message& m, uint16_t node);
  // `node` is down: its pending calls fail with `why`, its monitors and links fire.
  void node_down(uint16_t node, const Status& why);
  // Forgets calls unanswered for more than ten minutes (their callers gave up long ago).
  void prune(int64_t now_ms);
  size_t pending_calls() const;

 private:
  // A monitor or link from a process here to one on another node (ref 0 for a link). Kept
  // in a hash set per node: a gateway holds one monitor per connection, and forgetting one
  // (each disconnect) must not scan them all.
  struct Watch {
    Pid local;
    Pid remote;
    uint64_t ref;
    bool link;
    bool operator==(const Watch&) const = default;
  };
  struct WatchHash {
    size_t operator()(const Watch& w) const;
  };
  void forget(uint16_t node, Pid local, Pid remote, bool link, uint64_t ref);

  Runtime& rt_;
  Histogram* call_seconds_ = nullptr;
  // node → (caller pid, request id) → wall ms sent
  std::map<uint16_t, std::map<std::pair<uint64_t, uint64_t>, int64_t>> calls_;
  std::map<uint16_t, std::unordered_set<Watch, WatchHash>> watches_;
};

}  // namespace behavior::detail
