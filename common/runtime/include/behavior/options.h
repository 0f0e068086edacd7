// options.h — the knobs of a node, of a process kind and of one spawn, each with the safe
// default a single machine needs (see docs/runtime.md for why each default is what it is).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "behavior/pid.h"

namespace behavior {

using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultCallTimeout{5000};

// What a bounded mailbox does with a message that does not fit.
enum class Overflow : uint8_t {
  kReject,  // calls fail at once with kMailboxFull; infos bounce back as proto::kUndeliverable
  kDrop,    // the message is dropped and counted
};

// Durable state (docs/durable.md): a kind whose processes keep their state in the cluster's
// store (Redis), loaded before on_start on every activation and saved with a fencing epoch.
// The router provides the bytes (Router::save_state / load_state, or the Durable<State> base).
struct DurableOptions {
  bool enabled = false;
  // 0: saved on passivation (idle expiry, stop, shutdown, migration) and when a handler
  // awaits actor().save(). N: also every N ms while the state is dirty (a batched write-behind).
  Millis save_every{0};
  size_t max_bytes = 1u << 20;  // a bigger state is not saved: the save fails, logged and counted
};

struct SpawnOptions {
  std::string name;     // registered name ("" = anonymous); unique on the node
  std::string kind;     // process kind, for metrics and the idle policy
  Pid writer;           // the connection process behind send_to_client ("" = none)
  Pid link;             // link to this process from birth (spawn_link)
  Millis idle_timeout{0};  // model clean: stop after this long without traffic (0 = never)
  uint32_t mailbox_limit = 0;  // 0 = unbounded
  Overflow overflow = Overflow::kReject;
  int shard = -1;  // pin to a worker (-1 = the placement policy decides)
  // Adopted but not started: messages queue, on_start waits for Runtime::release(pid, true);
  // release(pid, false) discards it without on_start/on_stop. The cluster directory uses
  // this to claim a name only for a process that already exists.
  bool held = false;
  DurableOptions durable;  // from the kind; only processes with a cluster name can be durable
  uint32_t version = 1;    // the kind's version (KindOptions::version)
};

struct KindOptions {
  Millis idle_timeout{0};
  uint32_t mailbox_limit = 0;
  Overflow overflow = Overflow::kReject;
  DurableOptions durable;
  // The kind's version: of its code and of the state it saves (stored beside a durable
  // state's bytes). A process whose state comes from another version gets it through
  // Router::upgrade_state (Erlang's code_change): at activation, and when a reload of its
  // kinds library replaces its code in place (docs/hot_update.md). Published per node; new
  // activations prefer nodes with the newest version of their kind.
  uint32_t version = 1;
};

// Model clean under pressure: when live/capacity reaches `fill`, idle timeouts are scaled by
// `scale`. The highest watermark reached wins.
struct IdleWatermark {
  double fill;
  double scale;
};

struct NodeOptions {
  uint16_t node_id = 1;
  int workers = 0;             // 0 = hardware concurrency
  uint32_t capacity = 10000;   // processes this node is meant to hold (placement, idle policy)
  // Spawns stay on the spawner's worker (or the last chosen one) while it holds at most this
  // many more processes than the least loaded worker: processes created together talk
  // together, and same-worker sends need no atomics. 0 = strict least-loaded.
  uint32_t placement_slack = 64;
  // A process that gets most of its messages from one other worker moves there once (when
  // that worker has time to spare), so a pair or a chain that talks across workers ends up
  // on one: docs/runtime.md, "Affinity". false = processes stay where they were placed.
  bool affinity = true;
  int spin_us = 50;  // how long an idle worker polls its queue before sleeping
  Millis idle_sweep{100};
  std::vector<IdleWatermark> idle_watermarks{{0.50, 0.5}, {0.75, 0.25}, {0.90, 0.1}};
};

}  // namespace behavior
