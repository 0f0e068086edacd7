// runtime.h — the node's insides: the shards, placement, routing of every message to its
// target (same worker, another worker, an external Inbox), the name registry and kinds.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "behavior/endpoint.h"
#include "behavior/inbox.h"
#include "behavior/node.h"
#include "name_registry.h"
#include "shard.h"

namespace behavior::detail {

// A registered kind. Immutable once registered: a reload installs new entries, and every
// process holds the entry it was built from (ActorExt::code), which keeps the kinds library
// its code lives in loaded for as long as the process runs (docs/hot_update.md).
struct KindEntry {
  // Declared first, so it is destroyed last: `factory`'s own code may live in that library.
  std::shared_ptr<const void> library;
  std::string library_path;  // "" when the kind comes from the binary itself
  std::string name;
  RouterFactory factory;
  KindOptions options;
  // What a process of this kind is spawned with.
  SpawnOptions spawn_options(std::string process_name, Pid writer) const {
    SpawnOptions o;
    o.name = std::move(process_name);
    o.kind = name;
    o.writer = writer;
    o.idle_timeout = options.idle_timeout;
    o.mailbox_limit = options.mailbox_limit;
    o.overflow = options.overflow;
    o.durable = options.durable;
    o.version = options.version;
    return o;
  }
};
using KindRef = std::shared_ptr<const KindEntry>;

class Runtime {
 public:
  Runtime(Node& node, NodeOptions options);
  ~Runtime();

  Node& node() { return node_; }
  const NodeOptions& options() const { return options_; }
  uint16_t node_id() const { return options_.node_id; }
  bool running() const { return running_.load(std::memory_order_acquire); }

  Status start();
  void shutdown();

  // Spawns from any thread; `parent` is the spawning process when inside a handler. `code`:
  // the kind the router was built from (kept by the process; hot update replaces it).
  Result<Pid> spawn(std::unique_ptr<Router> router, SpawnOptions options, Actor* parent, KindRef code = nullptr);
  // A process of kind `k` (its router from k's factory; a factory that throws is an error).
  Result<Pid> spawn_kind(const KindRef& k, std::string name, Pid writer, bool held, Actor* parent);
  Result<Pid> ensure(std::string_view name, std::string_view kind, Pid writer);
  // Takes ownership of m and delivers it. On failure a call gets an error reply and a
  // link/monitor its noproc answer, so no caller waits for a timeout that cannot end well.
  Status route(Message* m);
  // Delivers to the process registered under `name`: here, or (clustered) wherever the
  // directory says. Unknown names fail with kNotFound (calls get it as their reply).
  Status route_named(std::string_view name, Message* m);
  Status send(Pid from, Pid to, Kind kind, uint32_t proto_id, Body body, uint64_t request_id = 0);
  // The answer to a message that cannot be delivered (an error reply to a call, noproc to
  // a link or monitor, Undeliverable to a sender whose message a full mailbox refused).
  void bounce(MessagePtr m, const Status& why);
  // A message for a process that moved to `to`, relayed by `via`, its old pid (migration.cpp):
  // delivered with its own sender kept; what cannot go on bounces.
  void forward(Message* m, Pid via, Pid to);
  Result<Pid> resolve(std::string_view name) const;
  // Starts (or discards) a process spawned with SpawnOptions::held. A durable one starts with
  // `state` (a pb::LoadedState: its epoch and what the store held).
  void release(Pid pid, bool start, Body state = {});
  NameRegistry& names() { return names_; }

  void register_kind(std::string kind, RouterFactory factory, KindOptions options);
  KindRef kind(std::string_view name) const;
  std::vector<KindRef> kinds() const;
  // Hot update (hot_update.cpp). While staging, register_kind calls from this thread build
  // entries for `library` instead of replacing the live ones; end_staging returns them.
  void begin_staging(std::shared_ptr<const void> library, std::string path);
  std::vector<KindRef> end_staging();
  // Replaces the entries of the same names: new activations use them from now on.
  void install_kinds(const std::vector<KindRef>& entries);
  // Unregisters kind `name` if its entry is one of `entries` (a rolled-back addition).
  void remove_kind(const std::string& name, const std::vector<KindRef>& entries);

  // Receivers outside the workers (Inbox, node services). Serials below kFirstDynamicEndpoint
  // are well-known service addresses (e.g. the cluster service), the same on every node.
  static constexpr uint64_t kFirstDynamicEndpoint = service::kFirstDynamicSerial;
  Pid add_endpoint(Endpoint* endpoint, uint64_t serial = 0);
  void remove_endpoint(Pid pid);
  void set_remote(RemoteRoute* remote) { remote_.store(remote, std::memory_order_release); }
  bool clustered() const { return remote_.load(std::memory_order_acquire) != nullptr; }
  RemoteRoute* remote() const { return remote_.load(std::memory_order_acquire); }
  uint64_t next_external_request() { return ext_request_.fetch_add(1) + 1; }

  // Model clean's multiplier for idle timeouts under pressure (1.0 when not pressed).
  double idle_scale() const;
  uint64_t live() const;
  // True when a worker other than `self` is running or spinning (not asleep).
  Shard* shard(size_t i) const { return shards_[i].get(); }
  size_t shard_count() const { return shards_.size(); }
  bool other_worker_awake(const Shard* self) const {
    for (auto& s : shards_) {
      if (s.get() != self && !s->asleep()) return true;
    }
    return false;
  }
  NodeStats stats() const;
  // Processes on their way from one worker to another (affinity): a hot update counts
  // them as busy, so that none is missed between two workers' listings.
  std::atomic<uint32_t> moves_in_flight{0};
  void count_dropped() { dropped_.fetch_add(1, std::memory_order_relaxed); }

  struct DurableCounters {
    std::atomic<uint64_t> live{0};           // durable processes alive
    std::atomic<uint64_t> load_failures{0};  // activations refused: the stored state did not load
    std::atomic<uint64_t> save_failures{0};  // saves refused here (too big) or by the store
  };
  DurableCounters& durable_counters() { return durable_; }
  // Ends every durable process gracefully (each saves its dirty state, then releases its
  // name) and refuses new durable activations: the cluster is leaving. Waits for them to end,
  // up to `timeout`. From a thread other than the workers.
  void passivate_durable(Millis timeout);
  const DurableCounters& durable_counters() const { return durable_; }

 private:
  Shard* place(const SpawnOptions& o, Shard* here);
  // route() for a target on the calling worker: dispatch, and bounce what comes back.
  Status deliver_here(Shard* s, Message* m);

  Node& node_;
  NodeOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<bool> running_{false};
  std::atomic<uint32_t> cursor_{0};
  NameRegistry names_;
  mutable std::shared_mutex kinds_mu_;
  std::unordered_map<std::string, KindRef> kinds_;
  struct Staging {
    std::thread::id thread;
    std::shared_ptr<const void> library;
    std::string path;
    std::vector<KindRef> entries;
  };
  std::unique_ptr<Staging> staging_;  // under kinds_mu_
  std::mutex endpoint_mu_;
  std::unordered_map<uint64_t, Endpoint*> endpoints_;
  std::atomic<uint64_t> endpoint_serial_{kFirstDynamicEndpoint};
  std::atomic<RemoteRoute*> remote_{nullptr};
  std::atomic<uint64_t> ext_request_{uint64_t{0xFF} << 56};
  std::atomic<uint64_t> dropped_{0};
  DurableCounters durable_;
  std::atomic<bool> passivating_{false};  // shutting down: no new durable activations
};

}  // namespace behavior::detail
