// state_store.h — durable process state in Redis (docs/durable.md), the cluster's half: the
// runtime's half (durability.cpp) sends each save as proto::kSaveState to the node's cluster
// service, which hands it here. One hash per process name:
//   P state:<name>   data (the router's bytes), v (the kind's state version), epoch (of the
//                    activation that wrote it), claim (the newest epoch handed out), kind, ms
// Fencing: every activation of a durable name takes claim+1 as its epoch in the same Lua
// script that claims the name (Directory), and a save whose epoch is older than the claim
// is refused: a node that was declared dead while paused, or a process that moved, can
// never overwrite what a newer activation holds. Network loop only, except the counters.
//
// Saves have a Redis connection of their own, so a burst of them never delays the node's
// heartbeats behind it (membership would freeze, readiness would drop). A durable process's
// name is released on the same connection (Directory::released), after its last save: the
// next activation, which claims the name once it is free, always loads that save. The script
// goes by EVALSHA (its text is sent again only after a NOSCRIPT). Interval saves are refused
// while more than kMaxInFlight saves await Redis: the process stays dirty and its next tick
// retries; awaited and passivation saves always go (each process has at most one of each).
#pragma once

#include <behavior/message.h>
#include <behavior/metrics.h>
#include <behavior/redis_client.h>
#include <behavior/system.pb.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace behavior::detail {

class Runtime;

class StateStore {
 public:
  StateStore(Runtime& rt, std::string prefix) : rt_(rt), prefix_(std::move(prefix)) {}
  // The store's own connection; on each connect the save script is loaded first, so every
  // EVALSHA after it finds the script (a retry by EVAL after NOSCRIPT would go out after
  // commands sent behind the first try, a name's release among them).
  void set_redis(RedisClient* redis);
  // A write-through save (not an interval one) is acknowledged only once one replica has it
  // too, or after this long (Redis WAIT 1 <ms>); 0: at once. See docs/reliability.md.
  void set_replica_wait(int ms) { replica_wait_ms_ = ms; }
  static constexpr uint64_t kMaxInFlight = 8192;
  void register_metrics(MetricsRegistry& metrics, const Labels& node);

  std::string key(const std::string& name) const { return key(prefix_, name); }
  static std::string key(const std::string& prefix, const std::string& name) { return prefix + "state:" + name; }
  // The state a claim or handover script returned ({_, epoch, data|nil, v|nil}), as the
  // release that starts the process carries it.
  static pb::LoadedState loaded(const redisReply* r, bool moved);

  // Any thread: a save is on its way to the loop (so stop() can wait for it).
  void arriving() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // A proto::kSaveState message: written if its epoch is current. A call is answered with
  // the epoch (ok), kFenced, or why it failed; an info only counts.
  void save(MessagePtr m, Pid service);

  // The Lua script that claims a durable name (Directory::claim): KEYS dir, names, state;
  // ARGV value, name. Returns {owner} when someone holds it, else {owner, epoch, data, v}.
  static const char* claim_script();

 private:
  // `busy`: an interval save refused because too many await Redis (counted, not logged).
  void answer(const Message& call, Pid service, const Status& outcome, uint64_t epoch, bool busy = false);
  // EVALSHA, falling back to EVAL once when Redis does not have the script (a restart).
  void eval(std::vector<std::string> args, RedisClient::Callback cb);

  Runtime& rt_;
  std::string prefix_;
  // After the save was written: WAIT for a replica when asked to, then `answer`.
  void replicate(bool write_through, std::function<void()> answer);

  RedisClient* redis_ = nullptr;
  int replica_wait_ms_ = 0;
  // A WAIT that timed out with no replica: none is waited for until then (one timeout per
  // second at most blocks the store's connection while the replica is away). Loop only.
  std::chrono::steady_clock::time_point no_replica_until_{};
  std::atomic<uint64_t> in_flight_{0};
  Counter* unreplicated_ = nullptr;
  Counter* saved_ = nullptr;
  Counter* fenced_ = nullptr;
  Counter* failed_ = nullptr;
  Counter* busy_ = nullptr;
  Counter* bytes_ = nullptr;
  Histogram* latency_ = nullptr;
};

}  // namespace behavior::detail
