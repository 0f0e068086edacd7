// hot_update.cpp — see hot_update.h. The coordinator (a control thread) runs rounds: in each,
// every worker gets a task that lists its processes still on other code, then upgrades them
// kSlice at a time, posting itself again between slices so the worker's processes run in
// between. A process that is mid-handler is counted busy and left for the next round; the
// rounds go on until none is busy or the deadline passes. Failures are remembered per
// worker so that a process whose upgrade threw is not tried again in this reload.
#include "hot_update.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "actor_ext.h"
#include "durability.h"
#include "shard.h"

namespace behavior::detail {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr Millis kRoundPause{5};  // between rounds, while some processes are mid-handler

}  // namespace

struct HotUpdate::Round {
  std::unordered_map<std::string, KindRef> to;
  struct PerShard {
    bool listed = false;
    std::vector<uint64_t> candidates;  // serials
    size_t next = 0;
    uint64_t upgraded = 0, failed = 0, busy = 0;
    int64_t longest_ns = 0;
    std::vector<std::string> errors;
  };
  std::vector<PerShard> shards;
  // Per worker, the processes whose upgrade failed in an earlier round (not tried again).
  std::shared_ptr<std::vector<std::unordered_set<uint64_t>>> failed;
  std::mutex mu;
  std::condition_variable cv;
  size_t shards_left = 0;

  // The entry `a` should move to, or null when it runs it already (or is not reloaded).
  const KindRef* target(const Actor* a) const {
    if (!a->ext_ || !a->ext_->code) return nullptr;
    auto it = to.find(a->ext_->kind);
    if (it == to.end() || it->second == a->ext_->code) return nullptr;
    return &it->second;
  }
};

Status HotUpdate::upgrade_one(Actor* a, const KindRef& to) {
  ActorExt& x = *a->ext_;
  const uint32_t from = x.version;
  std::unique_ptr<Router> fresh;
  Status s;
  Actor* outer = Shard::exchange_current_actor(a);
  try {
    fresh = to->factory(x.name);
    if (!fresh) {
      s = Status::internal("the new factory returned no router");
    } else {
      fresh->attach(a);
      // A held process has not loaded its state yet: the new router gets it at release.
      if (a->started_) s = fresh->upgrade_state(from, Body::bytes(a->router_->save_state()));
    }
  } catch (...) {
    s = Status::internal("threw: " + describe(std::current_exception()));
  }
  if (!s.ok()) {
    fresh.reset();  // the new code's destructor; the process keeps its router
    Shard::exchange_current_actor(outer);
    return Status(s.code(), "process " + x.name + " (" + x.kind + " v" + std::to_string(from) + " -> v" +
                                std::to_string(to->options.version) + ") keeps its old code: " + s.message());
  }
  delete std::exchange(a->router_, fresh.release());  // the old code's destructor, its library still loaded
  KindRef previous = std::exchange(x.code, to);       // may be the old library's last hold on it
  x.version = to->options.version;
  x.durable.max_bytes = to->options.durable.max_bytes;
  // State in the new version's format: the next save writes it, stamped with the new version.
  if (Durability::is_durable(a) && from != x.version) x.dirty = true;
  Shard::exchange_current_actor(outer);
  return {};
}

void HotUpdate::run_slice(Shard* shard, const std::shared_ptr<Round>& round, size_t index) {
  Round::PerShard& ps = round->shards[index];
  std::unordered_set<uint64_t>& failed_before = (*round->failed)[index];
  if (!ps.listed) {
    ps.listed = true;
    for (const auto& [key, a] : shard->actors_) {
      if (round->target(a) && !failed_before.count(key)) ps.candidates.push_back(key);
    }
  }
  const int64_t started = now_ns();
  size_t done = 0;
  while (ps.next < ps.candidates.size() && done < kSlice) {
    const uint64_t key = ps.candidates[ps.next++];
    auto it = shard->actors_.find(key);
    if (it == shard->actors_.end()) {
      // Moved to another worker meanwhile (affinity), after that worker listed its own:
      // another round finds it there. Otherwise it ended: its next activation runs the new code.
      if (shard->away_.count(key)) ++ps.busy;
      continue;
    }
    Actor* a = it->second;
    const KindRef* to = round->target(a);
    if (!to || a->exiting_ || a->exit_pending_) continue;
    const bool callback_pending =
        std::any_of(a->ext_->pending.begin(), a->ext_->pending.end(), [](const PendingCall& p) { return bool(p.callback); });
    if (a->task_ || a->resume_ || callback_pending) {
      ++ps.busy;  // mid-handler: its coroutine frame or callback is old code; next round
      continue;
    }
    ++done;
    if (Status s = upgrade_one(a, *to); s.ok()) {
      ++ps.upgraded;
    } else {
      ++ps.failed;
      failed_before.insert(key);
      if (ps.errors.size() < kMaxErrors) ps.errors.push_back(s.message());
    }
  }
  ps.longest_ns = std::max(ps.longest_ns, now_ns() - started);
  if (ps.next < ps.candidates.size()) {
    shard->post_task([shard, round, index] { run_slice(shard, round, index); });  // after a break
    return;
  }
  std::lock_guard lock(round->mu);
  if (--round->shards_left == 0) round->cv.notify_all();
}

UpgradeReport HotUpdate::upgrade(Runtime& rt, const std::vector<KindRef>& to, Millis timeout) {
  UpgradeReport report;
  const int64_t start = now_ns();
  const int64_t deadline = start + timeout.count() * 1'000'000;
  const size_t n = rt.shard_count();
  auto failed = std::make_shared<std::vector<std::unordered_set<uint64_t>>>(n);
  while (true) {
    ++report.rounds;
    // Shared with the workers' tasks: if the node stops before they run, they own it.
    auto round = std::make_shared<Round>();
    for (const auto& k : to) round->to[k->name] = k;
    round->shards.resize(n);
    round->shards_left = n;
    round->failed = failed;
    for (size_t i = 0; i < n; ++i) {
      Shard* shard = rt.shard(i);
      shard->post_task([shard, round, i] { run_slice(shard, round, i); });
    }
    std::unique_lock lock(round->mu);
    // Waits in steps, so a node that stops meanwhile (its workers gone) ends the reload.
    bool finished = false;
    while (!finished && rt.running()) {
      finished = round->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return round->shards_left == 0; });
    }
    if (!finished) {
      report.errors.push_back("the node stopped during the reload");
      break;
    }
    uint64_t busy = 0;
    for (auto& ps : round->shards) {
      report.upgraded += ps.upgraded;
      report.failed += ps.failed;
      busy += ps.busy;
      report.longest_slice_ns = std::max(report.longest_slice_ns, ps.longest_ns);
      for (auto& e : ps.errors) {
        if (report.errors.size() < kMaxErrors) report.errors.push_back(std::move(e));
      }
    }
    // A process on its way between two workers (affinity) was in neither's listing.
    busy += rt.moves_in_flight.load(std::memory_order_relaxed);
    report.busy = busy;
    // At least two rounds: a process spawned from the old entry just before the new one was
    // installed may reach its worker after the first round listed that worker's processes.
    if ((busy == 0 && report.rounds >= 2) || now_ns() >= deadline) break;
    lock.unlock();
    std::this_thread::sleep_for(kRoundPause);
  }
  report.elapsed_ns = now_ns() - start;
  return report;
}

}  // namespace behavior::detail
