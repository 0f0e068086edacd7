// durability.cpp — see durability.h. Why saves are messages to the node's cluster service
// rather than calls into a store object: the store's Redis connection lives on the network
// loop, and a message gets there in order with the same process's name release (finalize
// posts the last save before it releases the name), so the next activation, wherever it
// is, always loads the last save. The awaited form reuses the call machinery (timeout,
// error replies) as it is.
#include "durability.h"

#include <behavior/system.pb.h>
#include <spdlog/spdlog.h>

#include "actor_ext.h"
#include "behavior/ids.h"
#include "behavior/logging.h"
#include "runtime.h"
#include "shard.h"

namespace behavior::detail {
namespace {

bool passivating_reason(std::string_view r) {
  return r == reason::kNormal || r == reason::kShutdown || r == reason::kIdle || r == reason::kMigrated;
}

}  // namespace

void Durability::init(Actor* a, const DurableOptions& o) {
  if (!o.enabled || a->name().empty()) return;
  a->ext().durable = o;
  a->shard_->runtime().durable_counters().live.fetch_add(1, std::memory_order_relaxed);
}

bool Durability::is_durable(const Actor* a) { return a->ext_ && a->ext_->durable.enabled; }

Status Durability::load(Actor* a, Body& body) {
  pb::LoadedState loaded;
  try {
    loaded = body.as<pb::LoadedState>();
  } catch (const std::exception& e) {
    return Status::internal(std::string("the release carried no readable state: ") + e.what());
  }
  a->ext().epoch = loaded.epoch();
  a->ext().moved_here = loaded.moved();
  a->ext().moved_from = Pid::from_raw(loaded.moved_from());
  if (!loaded.found()) return {};
  Status s;
  try {
    // Saved by another version of the kind: its code_change.
    s = loaded.version() == a->ext().version
            ? a->router_->load_state(loaded.data(), loaded.version())
            : a->router_->upgrade_state(loaded.version(), Body::copy_of(loaded.data()));
  } catch (...) {
    s = Status::internal("load_state threw: " + describe(std::current_exception()));
  }
  if (!s.ok()) {
    a->shard_->runtime().durable_counters().load_failures.fetch_add(1, std::memory_order_relaxed);
    static LogThrottle throttle;
    if (uint64_t left_out; throttle.allow(&left_out)) {
      spdlog::error("process {} ({}): its stored state ({} bytes, version {}, epoch {}) did not load, so it does not "
                    "start and the stored state is kept: {}{}",
                    a->name(), a->kind(), loaded.data().size(), loaded.version(), loaded.epoch(), s.to_string(),
                    left_out_note(left_out));
    }
  }
  return s;
}

void Durability::started(Actor* a) {
  if (!is_durable(a) || a->ext_->durable.save_every.count() <= 0) return;
  a->tick(a->ext_->durable.save_every, proto::kSaveTick);
}

Result<Body> Durability::snapshot(Actor* a, bool behind) {
  if (!is_durable(a)) return Status::invalid_argument("process " + a->pid_.to_string() + " " + a->name() + " is not durable");
  ActorExt& x = *a->ext_;
  std::string bytes;
  try {
    bytes = a->router_->save_state();
  } catch (...) {
    a->shard_->runtime().durable_counters().save_failures.fetch_add(1, std::memory_order_relaxed);
    return Status::internal("save_state threw: " + describe(std::current_exception()));
  }
  if (bytes.size() > x.durable.max_bytes) {
    a->shard_->runtime().durable_counters().save_failures.fetch_add(1, std::memory_order_relaxed);
    static LogThrottle throttle;
    Status s = Status::invalid_argument("the state of " + x.name + " is " + std::to_string(bytes.size()) +
                                        " bytes, over its kind's limit of " + std::to_string(x.durable.max_bytes));
    if (uint64_t left_out; throttle.allow(&left_out)) {
      spdlog::error("process {}: not saved: {}{}", x.name, s.message(), left_out_note(left_out));
    }
    return s;
  }
  pb::SaveState save;
  save.set_name(x.name);
  save.set_kind(x.kind);
  save.set_data(std::move(bytes));
  save.set_version(x.version);
  save.set_epoch(x.epoch);
  save.set_behind(behind);
  x.dirty = false;
  return Body(std::move(save));
}

void Durability::saved(Actor* a, const Status& outcome) {
  if (outcome.ok() || !is_durable(a)) return;
  a->shard_->runtime().durable_counters().save_failures.fetch_add(1, std::memory_order_relaxed);
  a->ext_->dirty = true;
  if (outcome.code() == Code::kFenced) {
    // A newer activation owns the name (this node was declared dead, or the process moved):
    // this one is a leftover and must not act any more.
    spdlog::warn("process {} {}: {}; stopping this activation", a->pid_.to_string(), a->name(), outcome.message());
    a->ext_->dirty = false;
    a->shard_->exit_now(a, reason::kFenced);
  }
}

void Durability::save_behind(Actor* a) {
  // One interval save in flight per process: under a slow store the ticks wait rather than
  // pile saves up (the state stays dirty, and the next tick writes the newest).
  if (!is_durable(a) || !a->ext_->dirty || a->ext_->saving_behind) return;
  Result<Body> body = snapshot(a, true);
  if (!body.ok()) return;
  a->ext_->saving_behind = true;
  a->call(service::cluster_pid(a->pid_.node()), proto::kSaveState, std::move(*body), kDefaultCallTimeout,
          [a](Reply r) {
            a->ext_->saving_behind = false;
            saved(a, r.status());
          });
}

void Durability::passivate(Actor* a, std::string_view why, bool can_save) {
  if (!is_durable(a)) return;
  a->shard_->runtime().durable_counters().live.fetch_sub(1, std::memory_order_relaxed);
  if (!can_save || !a->started_ || !a->ext_->dirty || !passivating_reason(why)) return;
  Result<Body> body = snapshot(a);
  if (!body.ok()) return;
  // An info: nobody waits for it, and it reaches the network loop before the name release.
  a->shard_->runtime().send(a->pid_, service::cluster_pid(a->pid_.node()), Kind::kInfo, proto::kSaveState,
                            std::move(*body));
}

}  // namespace behavior::detail
