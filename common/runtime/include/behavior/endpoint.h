// endpoint.h — a receiver outside the worker threads that still has a pid: an Inbox (a plain
// thread) or a node service (the cluster layer's). Messages to its pid are handed to
// deliver(), from any thread; it takes ownership.
#pragma once

#include "behavior/message.h"

namespace behavior {

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  virtual void deliver(Message* m) = 0;
};

// Where messages for other nodes go (the cluster layer installs one). Both calls take
// ownership of m and may be called from any thread.
class RemoteRoute {
 public:
  virtual ~RemoteRoute() = default;
  // m->to() is on another node.
  virtual Status route_remote(Message* m) = 0;
  // No local process has this name: look it up cluster-wide, then deliver or bounce.
  virtual Status route_named(std::string name, Message* m) = 0;
  // Called by the runtime when a local process with a cluster-visible name exits.
  virtual void name_released(const std::string& name, Pid pid) = 0;
  // A message for a process that moved (live migration) to m->to() on another node, relayed
  // by `via`, its old pid, with its own sender kept. Default: sent as it is.
  virtual Status forward(Message* m, Pid via) {
    (void)via;
    return route_remote(m);
  }
  // Called by Node::shutdown before the workers stop (the network may run on one of them).
  virtual void before_shutdown() {}
};

}  // namespace behavior
