// node.h — one runtime instance: worker threads (shards), the process registry (model
// center), kinds and their router factories, and the ways in from plain threads.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "behavior/actor.h"
#include "behavior/endpoint.h"
#include "behavior/options.h"
#include "behavior/router.h"

namespace behavior {

class Node;
namespace detail {
class Runtime;
Runtime& runtime_of(Node& node);  // the library's own layers only
}

using RouterFactory = std::function<std::unique_ptr<Router>(const std::string& name)>;

struct NodeStats {
  uint64_t live = 0;           // processes alive now
  uint64_t spawned = 0;        // since start
  uint64_t exited = 0;
  uint64_t crashed = 0;        // exits by an exception
  uint64_t messages = 0;       // handled by routers
  uint64_t dropped = 0;        // undeliverable or refused by a full mailbox
  uint64_t idle_expired = 0;   // stopped by model clean
  uint64_t moved = 0;          // moved to the worker that messages them most (affinity)
  uint64_t durable = 0;        // durable processes alive now
  uint64_t state_load_failures = 0;  // activations that did not start: the stored state did not load
  uint64_t state_save_failures = 0;  // saves refused (too big, fenced) or failed (timeout, store down)
  // The workers' time spent working since start (handlers, deliveries, timers, I/O; not idle
  // waiting or asleep), summed over `workers`; counted in 10 ms windows. Over an interval,
  // Δbusy_ns / (Δt × workers) is the scheduler's utilization (the heartbeat's "busy").
  uint64_t busy_ns = 0;
  uint32_t workers = 0;
};

// A kind as this node runs it (Node::kinds): published in the node's registration.
struct KindInfo {
  std::string name;
  uint32_t version = 1;
  std::string library;  // the kinds library its code comes from ("" = the binary)
  bool durable = false;
};

class Node {
 public:
  explicit Node(NodeOptions options = {});
  ~Node();  // shuts down if still running
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Starts the worker threads. SIGINT and SIGTERM stay blocked in them.
  Status start();
  // Stops every process (on_stop runs with reason "shutdown"), then the workers.
  void shutdown();
  // Blocks until SIGINT or SIGTERM, then shuts down; returns the signal number.
  int run_until_signal();
  // Blocks until SIGINT or SIGTERM and returns the signal number, without shutting down:
  // for binaries that must stop other parts (a gateway's clients) before the node.
  int wait_for_signal();
  // Call first in main() of a server that uses wait_for_signal/run_until_signal: SIGINT and
  // SIGTERM stay pending (instead of killing the process) until it waits for them, even if
  // they come before it gets there. Threads started afterwards inherit the mask.
  static void block_termination_signals();

  const NodeOptions& options() const;
  uint16_t id() const { return options().node_id; }

  // A process kind: its router factory and defaults (the seed's router factory per kind).
  void register_kind(std::string kind, RouterFactory factory, KindOptions options = {});
  template <class R>
  void register_kind(std::string kind, KindOptions options = {}) {
    register_kind(std::move(kind), [](const std::string&) { return std::make_unique<R>(); },
                  options);
  }

  // From any thread. Spawning inside a handler, prefer Actor::spawn (placement near it).
  Result<Pid> spawn(std::unique_ptr<Router> router, SpawnOptions options = {});
  template <class F>
  Result<Pid> spawn_fn(F f, SpawnOptions options = {}) {
    return spawn(std::make_unique<FnRouter<F>>(std::move(f)), std::move(options));
  }
  Result<Pid> spawn_kind(std::string_view kind, std::string name, Pid writer = {});
  // The seed's NewActor(name, writer, router).
  Result<Pid> new_actor(std::string name, Pid writer, std::unique_ptr<Router> router);
  // The named process, activated from its kind if absent: one activation per name even
  // when many threads race.
  Result<Pid> ensure(std::string_view name, std::string_view kind, Pid writer = {});

  Status send(Pid to, uint32_t proto_id, Body body = {});
  Status send(std::string_view name, uint32_t proto_id, Body body = {});
  // Graceful stop, after the messages already queued.
  Status stop(Pid pid, std::string_view reason = reason::kNormal);
  // By name: here, or (clustered) wherever the directory says.
  Status stop(std::string_view name, std::string_view reason = reason::kNormal);
  // Exit signal from outside ("kill" cannot be trapped).
  Status exit(Pid pid, std::string_view reason);

  // The kinds registered here, by name, with their versions (a reload changes them).
  std::vector<KindInfo> kinds() const;

  std::optional<Pid> whereis(std::string_view name) const;
  NodeStats stats() const;

  // --- Addresses that are not processes, for servers built on the node (a gateway's client
  // connections, node services). Messages to the returned pid are handed to
  // endpoint->deliver() on whatever thread sends them. serial 0 takes a fresh address;
  // serials below kFirstDynamicSerial (ids.h) are well-known service addresses, the same on
  // every node. Any thread.
  Pid add_endpoint(Endpoint* endpoint, uint64_t serial = 0);
  void remove_endpoint(Pid pid);
  // Takes ownership of m and delivers it wherever m->to() is: a process or endpoint here, or
  // (clustered) another node. A call that cannot be delivered gets an error reply, a monitor
  // its DOWN. Any thread.
  Status route(Message* m);

 private:
  friend detail::Runtime& detail::runtime_of(Node& node);
  std::unique_ptr<detail::Runtime> rt_;
};

}  // namespace behavior
