// actor_ext.h — the parts of a process most never use (name, links, monitors, pending
// calls, timers), kept out of Actor so an idle anonymous process stays small.
#pragma once

#include <coroutine>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "behavior/actor.h"

namespace behavior::detail {

struct KindEntry;

struct PendingCall {
  uint64_t request_id = 0;
  uint64_t timer = 0;
  std::coroutine_handle<> waiter;  // awaited form: resumed with *slot filled
  Reply* slot = nullptr;
  CallCallback callback;  // callback form: runs when the queued reply is handled
  bool answered = false;  // callback form: a reply or timeout is already queued
};

struct ActorExt {
  // The kind entry this process's router was built from: it keeps the code's library loaded
  // (declared first, destroyed last). Null for a process spawned with a router of its own.
  std::shared_ptr<const KindEntry> code;
  std::string name;
  std::string kind;
  uint32_t version = 1;  // of the kind whose code runs it (KindOptions::version)
  std::vector<Pid> links;
  std::vector<std::pair<Pid, uint64_t>> monitored_by;  // watcher, ref
  std::vector<std::pair<uint64_t, Pid>> monitoring;    // ref, target
  std::vector<PendingCall> pending;
  std::vector<uint64_t> timers;
  std::string exit_reason;
  uint64_t dropped = 0;
  // Durable state (durable.cpp): the kind's options, this activation's epoch, and whether
  // the state changed since the last save that was sent.
  DurableOptions durable;
  uint64_t epoch = 0;
  bool dirty = false;
  bool saving_behind = false;  // an interval save is on its way: the next tick waits for it
  bool moved_here = false;     // this activation is a live process moved from another node
  bool writer_caught_up = false;
  Pid moved_from;  // moved here: the pid it had before  // moved here: the writer's barrier came (kClientAfterMove)
  // Live migration (migration.cpp): where the process moved; set just before it ends.
  Pid moved_to;
  // Affinity (shard.cpp): sends from the worker it moved to, waiting until it is settled.
  std::vector<Message*> arrival_held;

  PendingCall* find_pending(uint64_t request_id) {
    for (auto& p : pending) {
      if (p.request_id == request_id) return &p;
    }
    return nullptr;
  }
  void erase_pending(uint64_t request_id) {
    for (size_t i = 0; i < pending.size(); ++i) {
      if (pending[i].request_id == request_id) {
        pending.erase(pending.begin() + static_cast<long>(i));
        return;
      }
    }
  }
};

// Counters a worker writes alone and anyone reads (relaxed; no lock-prefixed adds).
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace behavior::detail
