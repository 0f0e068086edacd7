// directory.h — the cluster's names: where each cluster-visible process lives (Redis key
// <prefix>dir:<name> = "<node>:<pid>"), each name activated at most once in the whole
// cluster, lookups with a short cache, releases when a process ends, and republishing what
// this node holds after Redis lost it. Network loop only.
//
// Activation (ensure): the name is looked up first (one GET: a name that lives on another
// live node is answered with its pid, nothing spawned). Else the process is spawned *held* (it exists and queues messages, but
// has not started), then a Lua script claims the name only if it is free. Ours: the process
// starts. Another node's: ours is discarded unstarted and the caller gets the owner. So two
// nodes racing for one name never both run it.
#pragma once

#include <behavior/cluster.h>
#include <behavior/redis_client.h>

#include "runtime.h"
#include "state_store.h"

#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace behavior::detail {

class Runtime;

class Directory {
 public:
  using Done = std::function<void(Result<Pid>)>;
  struct Hooks {
    std::function<bool(uint16_t node)> node_live;  // in this node's view of the cluster
    // Removes a dead node's names and registration from Redis, then calls `done`.
    std::function<void(uint16_t node, std::function<void()> done)> cleanup_node;
  };

  Directory(Runtime& rt, std::string prefix, Hooks hooks);
  ~Directory();  // frees the messages still waiting for a lookup
  void set_redis(RedisClient* redis) { redis_ = redis; }
  // The connection durable state is saved on: a durable process's name is released on it,
  // after its last save (state_store.h).
  void set_state_redis(RedisClient* redis) { state_redis_ = redis; }

  // Delivers m to the process named `name`: here, in the cache, or where Redis says; a name
  // nobody holds bounces m.
  void route_named(const std::string& name, Message* m);
  void lookup(const std::string& name, Done done);
  // The process named `name` (of `kind`, written to by `writer`), activated here unless it
  // lives somewhere already.
  void ensure(const std::string& name, const std::string& kind, Pid writer, Done done);
  // A local process holding a cluster name ended.
  void released(const std::string& name, Pid pid);
  // After a Redis (re)connect: the releases missed meanwhile, then every name held here.
  void republish();
  // `node` is down: names cached there are asked again.
  void node_down(uint16_t node);
  // This node was declared dead (fencing): its names belong to nobody now; the processes
  // that held them are killed.
  void drop_all();
  size_t held() const { return claimed_.size(); }
  const std::unordered_map<std::string, Pid>& claimed() const { return claimed_; }
  // Live migration, on the target node: the process `name` that `old_pid` holds, spawned here
  // held and started with the state only if the handover script moved the name from
  // `old_pid` to it (atomically: the directory entry, both nodes' name sets, a newer epoch).
  // An error means the directory was left as it was.
  void adopt(const std::string& name, const std::string& kind, Pid writer, Pid old_pid, Done done);
  // Whom Redis gives `name` to now (no cache, no local name): the source's check after an
  // adoption whose answer was lost. Pid() when nobody.
  void holder(const std::string& name, Done done);

 private:
  void activate(const std::string& name, const KindRef& k, Pid writer);
  std::vector<Done> take_ensures(const std::string& name);
  void finish_ensure(const std::string& name, Result<Pid> where);
  std::string dir_key(const std::string& name) const { return prefix_ + "dir:" + name; }
  std::string names_key() const;
  std::string names_key(uint16_t node) const;
  std::string state_key(const std::string& name) const { return StateStore::key(prefix_, name); }
  // `durable`: the activation of a durable kind, which takes a fencing epoch and its stored
  // state in the same script (StateStore::claim_script) and starts with them.
  void claim(const std::string& name, Pid pid, bool activating, bool durable = false, int attempt = 0);
  void finish_claim(const std::string& name, Pid pid, bool activating, Pid owner, Body state = {});

  Runtime& rt_;
  std::string prefix_;
  Hooks hooks_;
  RedisClient* redis_ = nullptr;
  RedisClient* state_redis_ = nullptr;
  std::unordered_map<std::string, std::pair<Pid, int64_t>> cache_;  // name → (pid, wall ms valid until)
  std::unordered_map<std::string, std::vector<Message*>> lookups_;   // messages waiting for a lookup
  std::unordered_map<std::string, Pid> claimed_;                     // the names this node holds
  std::unordered_set<std::string> durable_;                          // ... of durable processes
  std::unordered_map<std::string, std::vector<Done>> ensures_;       // activations under way
  std::unordered_map<std::string, std::vector<Done>> ensure_lookups_;  // ensures waiting for their GET
  std::vector<std::pair<std::string, Pid>> releases_;                // missed while Redis was away
};

}  // namespace behavior::detail
