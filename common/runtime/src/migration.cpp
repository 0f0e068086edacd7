// migration.cpp — see migration.h. The steps run as a coroutine that the scheduler treats as
// the process's handler in progress: while it waits for Redis and for the target node, the
// mailbox fills in arrival order and nothing is taken from it, which is exactly the "hold"
// of the move; replies reach it through the same call machinery a router's co_await uses.
#include "migration.h"

#include <behavior/system.pb.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "actor_ext.h"
#include "behavior/ids.h"
#include "durability.h"
#include "runtime.h"
#include "shard.h"

namespace behavior::detail {
namespace {

constexpr Millis kStepTimeout{5000};  // each step: the save, the adoption

}  // namespace

void Migration::answer(Actor* a, const pb::MigrateOrder& order, Result<Pid> outcome) {
  const Pid caller = Pid::from_raw(order.caller());
  if (!caller.valid() || order.request_id() == 0) return;
  Runtime& rt = a->shard_->runtime();
  if (outcome.ok()) {
    auto* r = new Message(caller, a->pid(), Kind::kReply, proto::kMigrate, Body(*outcome));
    r->set_request_id(order.request_id());
    rt.route(r);
  } else {
    rt.route(Message::error_reply(caller, a->pid(), order.request_id(), outcome.status()));
  }
}

// The handover happened: everything queued goes to the new pid in order, what arrives later
// follows it there, and the process ends ("migrated").
void Migration::moved(Actor* a, Pid to) {
  Shard& sh = *a->shard_;
  Runtime& rt = sh.runtime();
  a->ext().moved_to = to;
  uint64_t relayed = 0;
  for (Message* m = std::exchange(a->mb_head_, nullptr); m;) {
    MessagePtr queued(m);
    m = m->next.load(std::memory_order_relaxed);
    // Its own timers and save ticks, replies to its own calls and the notices about what it
    // watched belong to this activation only.
    const Kind k = queued->kind();
    if (queued->from() == a->pid_ || k == Kind::kReply || k == Kind::kDown || k == Kind::kExit) continue;
    rt.forward(queued.release(), a->pid_, to);
    ++relayed;
  }
  a->mb_tail_ = nullptr;
  a->mb_size_ = 0;
  sh.add_forward(a->pid_, to);
  spdlog::info("process {} {} moved to {} ({} queued messages relayed)", a->pid_.to_string(), a->name(),
               to.to_string(), relayed);
  sh.exit_now(a, reason::kMigrated);
}

Task<> Migration::run(Actor* a, pb::MigrateOrder order) {
  const Pid here = service::cluster_pid(a->pid().node());
  const Pid there = service::cluster_pid(static_cast<uint16_t>(order.to_node()));
  // 1. The state, written through with this activation's epoch.
  Result<Body> snapshot = Durability::snapshot(a);
  if (!snapshot.ok()) {
    answer(a, order, snapshot.status());
    co_return;
  }
  Reply saved = co_await CallAwaiter(a, here, {}, proto::kSaveState, std::move(*snapshot), kStepTimeout);
  Durability::saved(a, saved.status());  // failed: dirty again; fenced: this activation stops
  if (!saved.ok()) {
    answer(a, order, Status(saved.status().code(), "the state was not saved, so the process stays: " +
                                                       saved.status().message()));
    co_return;
  }
  // 2. The target spawns it held, takes the name over from this pid (a Lua script, only if the
  // directory still gives it to us), and starts it with the state just saved.
  pb::Adopt adopt;
  adopt.set_name(a->name());
  adopt.set_kind(a->kind());
  adopt.set_writer(a->writer().raw());
  adopt.set_old_pid(a->pid().raw());
  Reply adopted = co_await CallAwaiter(a, there, {}, proto::kAdopt, Body(adopt), kStepTimeout);
  if (adopted.ok()) {
    const Pid to = adopted.as<Pid>();
    moved(a, to);
    answer(a, order, to);
    co_return;
  }
  // A refusal from the target (unknown kind, the name taken) leaves the directory as it was.
  // Anything else (a timeout, the link lost) may have come after the handover: the directory
  // says which.
  const Status why = adopted.status();
  adopt.set_check(true);
  Reply holder = co_await CallAwaiter(a, here, {}, proto::kAdopt, Body(adopt), kStepTimeout);
  if (holder.ok() && holder.as<Pid>() == a->pid()) {
    answer(a, order, Status(why.code(), "node " + std::to_string(order.to_node()) +
                                            " did not adopt the process, so it stays: " + why.message()));
    co_return;
  }
  if (holder.ok() && holder.as<Pid>().valid()) {
    const Pid to = holder.as<Pid>();
    moved(a, to);
    answer(a, order, to);
    co_return;
  }
  // Nobody can tell whether the name moved: this activation must not go on (its state is
  // saved; the next activation, here or there, loads it).
  answer(a, order, Status::unavailable("the move's outcome is unknown (" + why.message() +
                                       "); the process stopped with its state saved"));
  a->shard_->exit_now(a, reason::kFenced);
}

bool Migration::is_order(const Actor* a, const Message& m) {
  return m.proto_id() == proto::kMigrate && m.kind() == Kind::kInfo && m.from() == service::cluster_pid(a->pid_.node());
}

void Migration::begin(Actor* a, MessagePtr m) {
  pb::MigrateOrder order;
  try {
    order = m->as<pb::MigrateOrder>();
  } catch (const std::exception& e) {
    spdlog::warn("process {}: a malformed migration order: {}", a->pid_.to_string(), e.what());
    return;
  }
  Shard& sh = *a->shard_;
  if (!Durability::is_durable(a)) {
    if (order.evacuating()) {
      // Evacuating a node: the process ends gracefully; its name reactivates elsewhere.
      sh.exit_now(a, reason::kShutdown);
      answer(a, order, Pid());
    } else {
      answer(a, order, Status::invalid_argument("process " + a->name() + " is not durable: only durable processes move"));
    }
    return;
  }
  if (order.to_node() == a->pid_.node()) {
    answer(a, order, Status::invalid_argument("process " + a->name() + " is already on node " +
                                              std::to_string(order.to_node())));
    return;
  }
  a->current_ = std::move(m);
  a->task_ = run(a, std::move(order)).release();
  a->task_.resume();
  sh.after_step(a);
}

void Migration::announce(Actor* a) {
  ActorExt& x = a->ext();
  if (!x.moved_to.valid()) return;
  Runtime& rt = a->shard_->runtime();
  auto notice = [&](Pid to, uint64_t ref) {
    pb::Moved mv;
    mv.set_old_pid(a->pid_.raw());
    mv.set_new_pid(x.moved_to.raw());
    mv.set_name(x.name);
    mv.set_ref(ref);
    rt.send(a->pid_, to, Kind::kInfo, proto::kMoved, Body(std::move(mv)));
  };
  for (auto& [watcher, ref] : x.monitored_by) notice(watcher, ref);
  for (Pid linked : x.links) notice(linked, 0);
}

}  // namespace behavior::detail
