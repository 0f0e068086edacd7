// shard.cpp — a worker's loop: take what other threads sent, fire due timers, run ready
// processes a batch at a time, poll I/O, and when there is nothing to do spin briefly
// then sleep in libuv until a wake-up, a timer or I/O. Also the life of a process as the
// scheduler sees it: delivery to its mailbox, its turns (the handler step), and finalize.
// What links, monitors and exit signals mean is signals.cpp; calls and their timeouts,
// calls.cpp; the client writer, client_writer.cpp.
#include "shard.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <climits>

#include "durability.h"
#include "migration.h"
#include "runtime.h"
#include <behavior/system.pb.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BEHAVIOR_CPU_RELAX() _mm_pause()
#else
#define BEHAVIOR_CPU_RELAX() std::this_thread::yield()
#endif

namespace behavior::detail {
namespace {

thread_local Shard* tls_shard = nullptr;
thread_local Actor* tls_actor = nullptr;

int64_t clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int kBudgetPerTurn = 64;         // messages one process handles before yielding
constexpr int kExecutionsPerRound = 4096;  // process turns before looking at the inbox again
constexpr int64_t kPollEveryNs = 1'000'000;  // a worker with only its own timers
constexpr int64_t kIoPollNs = 50'000;        // the worker that carries the network
constexpr int64_t kRecentWorkNs = 1'000'000; // ... spins while it worked this recently
constexpr int64_t kLoadWindowNs = 10'000'000;  // load_permille's window
constexpr int64_t kIoWorkNs = 20'000;          // a poll longer than this ran callbacks
constexpr uint8_t kLocalWeight = 4;          // a same-worker message against the affinity count
// Pacing the takes from the inbox (pace_takes).
constexpr int kSmallTake = 64;
constexpr uint32_t kFirstTakeDelay = 32, kMaxTakeDelay = 1024;  // pauses
constexpr int kTakesBeforeRetry = 1024;

// The steps of a move between workers (Kind::kPlace, request_id; see "Affinity" below).
constexpr uint64_t kPlaceArrive = 1;   // home -> new worker: the Actor (body: its address)
constexpr uint64_t kPlaceSettle = 2;   // new worker -> home: "pass on what you have for it"
constexpr uint64_t kPlaceSettled = 3;  // home -> new worker: everything before this was passed on
constexpr uint64_t kPlaceGone = 4;     // new worker -> home: it ended (from: where it migrated)


}  // namespace

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return std::string("exception: ") + ex.what();
  } catch (...) {
    return "exception: unknown";
  }
}

Shard* Shard::current() { return tls_shard; }
Actor* Shard::current_actor() { return tls_actor; }
Actor* Shard::exchange_current_actor(Actor* a) { return std::exchange(tls_actor, a); }

Shard::Shard(Runtime& rt, uint8_t index)
    : rt_(rt), index_(index), timers_(uint64_t{index} << 56), request_seq_(uint64_t{index} << 56) {
  uv_loop_init(&loop_);
  uv_loop_configure(&loop_, UV_METRICS_IDLE_TIME);  // sleep() tells waiting from callbacks
  wakeup_.open(&loop_);
  uv_timer_init(&loop_, &sleep_timer_);
}

Shard::~Shard() {
  free_queued();
  wakeup_.close();
  uv_close(reinterpret_cast<uv_handle_t*>(&sleep_timer_), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Shard::start() {
  thread_ = std::thread([this] { run(); });
}

void Shard::request_stop() {
  stop_requested_.store(true, std::memory_order_seq_cst);
  wakeup_.signal();
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::post(Message* m) {
  inbox_.push(m);
  wakeup_.wake();
}

void Shard::post_spawn(Actor* a) {
  spawns_.push(a);
  wakeup_.wake();
}

void Shard::post_task(std::function<void()> fn) {
  {
    std::lock_guard lock(tasks_mu_);
    tasks_.push_back(std::move(fn));
  }
  has_tasks_.store(true, std::memory_order_seq_cst);
  wakeup_.wake();
}

bool Shard::run_tasks() {
  if (!has_tasks_.load(std::memory_order_relaxed)) return false;
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(tasks_mu_);
    tasks.swap(tasks_);
    has_tasks_.store(false, std::memory_order_relaxed);
  }
  for (auto& t : tasks) t();
  return !tasks.empty();
}

// One non-blocking pass over the loop: I/O callbacks, libuv timers, async wake-ups.
bool Shard::poll_io() {
  const int64_t t0 = clock_ns();
  uv_run(&loop_, UV_RUN_NOWAIT);
  flush_io();
  last_poll_ns_ = clock_ns();
  // Callbacks ran (an empty poll is one system call, about a microsecond): their time is
  // work, though nothing may have become ready here (a gateway's reads go out to other nodes).
  if (last_poll_ns_ - t0 > kIoWorkNs) io_busy_ns_ += last_poll_ns_ - t0;
  return ready_head_ != nullptr || inbox_.maybe_nonempty_relaxed();
}

// ---------------------------------------------------------------------------------------
// The loop.

void Shard::run() {
  tls_shard = this;
  now_ns_ = clock_ns();
  last_poll_ns_ = now_ns_;
  next_sweep_ns_ = now_ns_ + rt_.options().idle_sweep.count() * 1'000'000;
  while (true) {
    account_time(clock_ns(), last_worked_);
    bool worked = run_tasks();
    worked |= drain();
    worked |= fire_timers();
    worked |= run_ready();
    flush_io();
    if (stop_requested_.load(std::memory_order_relaxed)) break;
    if (now_ns_ - last_poll_ns_ >= (hosts_io() ? kIoPollNs : kPollEveryNs)) worked |= poll_io();
    last_worked_ = worked || ready_head_;
    if (last_worked_) {
      last_work_ns_ = now_ns_;
      continue;
    }
    if (spin()) continue;
    sleep();
  }
  stop_all();
  tls_shard = nullptr;
}

bool Shard::drain() {
  // Messages first, then spawns: a message that causally follows a spawn was pushed after
  // it, so if this take sees the message, the next take sees the spawn. Adopting before
  // dispatching then never finds a message for a process not yet known.
  if (take_delay_ > 0 && inbox_.maybe_nonempty_relaxed()) {
    for (uint32_t i = 0; i < take_delay_; ++i) BEHAVIOR_CPU_RELAX();
  }
  Message* m = inbox_.take_all();
  Actor* a = spawns_.take_all();
  if (!m && !a) return false;
  while (a) {
    Actor* next = a->next_.load(std::memory_order_relaxed);
    adopt(a);
    a = next;
  }
  int taken = 0;
  for (; m; ++taken) {
    Message* next = m->next.load(std::memory_order_relaxed);
    MessagePtr owned(m);
    if (Status why = dispatch(owned); owned) rt_.bounce(std::move(owned), why);
    m = next;
  }
  if (taken > 0) pace_takes(taken);
  return true;
}

bool Shard::fire_timers() {
  bool fired = false;
  if (timers_.next_deadline() <= now_ns_) {
    fired = timers_.fire_due(now_ns_, [this](uint64_t id, Timer& t) { on_timer(id, t); }) > 0;
  }
  if (now_ns_ >= next_sweep_ns_) {
    next_sweep_ns_ = now_ns_ + rt_.options().idle_sweep.count() * 1'000'000;
    if (!forward_order_.empty()) expire_forwards();
    if (idle_.size() > 0) {
      expired_.clear();
      idle_.expired(now_ns_, rt_.idle_scale(), &expired_);
      for (Actor* a : expired_) {
        bump(counters_.idle_expired);
        exit_now(a, reason::kIdle);
      }
      fired |= !expired_.empty();
    }
  }
  return fired;
}

bool Shard::run_ready() {
  int n = 0;
  while (ready_head_ && n < kExecutionsPerRound) {
    Actor* a = ready_head_;
    ready_head_ = a->next_.load(std::memory_order_relaxed);
    if (!ready_head_) ready_tail_ = nullptr;
    execute(a);
    ++n;
  }
  return n > 0;
}

// A worker that keeps up with a fast producer (a plain thread or another worker sending it
// message after message) finds one or two messages at each take, and each take's exchange
// takes the queue's cache line away from the producer, whose next push then misses: both
// slow down, and stay slow (counting: ~3M msg/s, against ~6M when the worker falls behind
// and takes big batches; the runs were bimodal). So after a few small takes in a row the
// worker tries a delay before the next take (kFirstTakeDelay pauses, ~20 ns each here):
//   - if the take after it holds at least two messages, the producer is streaming: the delay
//     doubles (up to kMaxTakeDelay, ~20 us) until takes hold kSmallTake, and halves above
//     that (counting: ~65 messages a take, 5.5M-6.3M msg/s; kSmallTake 16 gave 3.8M-4.9M);
//   - if not, the messages come one at a time because each waits for an answer (a call and
//     its reply): the delay goes, and is not tried again for kTakesBeforeRetry takes, so a
//     request/reply exchange pays one delay in a thousand.
void Shard::pace_takes(int n) {
  if (n >= kSmallTake) {
    take_delay_ /= 2;
    small_takes_ = 0;
  } else if (take_delay_ > 0) {
    if (n < 2) {
      take_delay_ = 0;
      small_takes_ = -kTakesBeforeRetry;
    } else {
      take_delay_ = std::min(take_delay_ * 2, kMaxTakeDelay);
    }
  } else if (++small_takes_ >= 4) {
    take_delay_ = kFirstTakeDelay;
    small_takes_ = 0;
  }
}

// Polls the queues for up to spin_us before sleeping: a wake-up costs a system call on
// each side, a poll costs nothing when the answer comes within microseconds. Only pause
// instructions between polls: yielding to the kernel here was measured to halve the
// throughput of the busy worker next to it. Spinning only pays when work is likely to
// arrive soon: another worker is awake (it may send to us), or the last spin found work.
// Otherwise (say a reply from another node, 100 µs away) it would burn a core another
// thread needs, so the worker sleeps at once, trying a spin every 16th time. The worker
// that carries the network polls its sockets while it spins: a reply from another node
// is then taken without a wake-up.
bool Shard::spin() {
  // The worker that carries the network also spins while it worked within the last
  // kRecentWorkNs: a peer that answers a little later than spin_us once (a preempted peer)
  // would otherwise make it sleep at once the next time, and each answer after that would
  // cost a wake-up (~50 us here), which makes the peer's answers later still: serial calls
  // to another node fell from ~30k to ~16k/s that way.
  const bool network_busy = hosts_io() && now_ns_ - last_work_ns_ < kRecentWorkNs;
  if (!last_spin_found_work_ && !network_busy && !rt_.other_worker_awake(this) && (++idle_rounds_ & 15) != 0) {
    return false;
  }
  int64_t until = now_ns_ + int64_t{rt_.options().spin_us} * 1000;
  for (int i = 1;; ++i) {
    if (inbox_.maybe_nonempty_relaxed() || spawns_.maybe_nonempty_relaxed() ||
        has_tasks_.load(std::memory_order_relaxed) || stop_requested_.load(std::memory_order_relaxed) ||
        (hosts_io() && poll_io())) {
      last_spin_found_work_ = true;
      return true;
    }
    if (hosts_io()) {
      // The poll itself is the pause (a system call, about a microsecond); pause
      // instructions here were measured to cost a third of the call rate on this VM.
      if (last_poll_ns_ >= until) {
        last_spin_found_work_ = false;
        return false;
      }
      continue;
    }
    // While a producer streams to us, look at the queue only as often as we take from it:
    // each look pulls its cache line away from the producer too.
    for (uint32_t k = 0, gap = std::max<uint32_t>(take_delay_, 1); k < gap; ++k) BEHAVIOR_CPU_RELAX();
    if ((i & 63) == 0 && clock_ns() >= until) {
      last_spin_found_work_ = false;
      return false;
    }
  }
}

void Shard::sleep() {
  int64_t next = timers_.next_deadline();
  if (idle_.size() > 0) next = std::min(next, next_sweep_ns_);
  if (next != INT64_MAX) {
    uv_update_time(&loop_);  // the timer counts from the loop's clock; make it current
    int64_t ms = (next - now_ns_ + 999'999) / 1'000'000;
    uv_timer_start(&sleep_timer_, [](uv_timer_t*) {}, static_cast<uint64_t>(std::max<int64_t>(ms, 0)), 0);
  }
  // Dekker-style: a poster pushes then reads the wake-up's flag; we set the flag then read
  // the queues. With seq_cst on both sides one of us sees the other, so no wake-up is lost.
  wakeup_.arm();
  if (inbox_.empty() && spawns_.empty() && !has_tasks_.load(std::memory_order_seq_cst) &&
      !stop_requested_.load(std::memory_order_seq_cst) && !io_pending()) {
    const int64_t t0 = clock_ns();
    const uint64_t idle0 = uv_metrics_idle_time(&loop_);
    uv_run(&loop_, UV_RUN_ONCE);
    // The callbacks' time is work; the wait in the kernel is not (UV_METRICS_IDLE_TIME).
    io_busy_ns_ += std::max<int64_t>(0, clock_ns() - t0 - static_cast<int64_t>(uv_metrics_idle_time(&loop_) - idle0));
  }
  wakeup_.disarm();
  uv_timer_stop(&sleep_timer_);
  last_poll_ns_ = clock_ns();
}

void Shard::stop_all() {
  stopping_ = true;
  ready_head_ = ready_tail_ = nullptr;
  drain();  // adopt late spawns so they too get on_stop
  ready_head_ = ready_tail_ = nullptr;
  std::vector<Actor*> all;
  all.reserve(actors_.size());
  for (auto& [serial, a] : actors_) all.push_back(a);
  for (Actor* a : all) {
    if (!a->exit_pending_) {
      a->exit_pending_ = true;
      a->ext().exit_reason = std::string(reason::kShutdown);
    }
    finalize(a);
  }
  free_queued();
}

void Shard::free_queued() {
  for (Message* m = inbox_.take_all(); m;) {
    MessagePtr dropped(m);
    m = m->next.load(std::memory_order_relaxed);
    if (dropped->kind() == Kind::kPlace && dropped->request_id() == kPlaceArrive) {
      // Moving while the node stopped: it ends without on_stop, like a late spawn.
      rt_.moves_in_flight.fetch_sub(1, std::memory_order_relaxed);
      discard_unadopted(reinterpret_cast<Actor*>(dropped->body().as<uint64_t>()));
    }
  }
  for (Actor* a = spawns_.take_all(); a;) {
    Actor* next = a->next_.load(std::memory_order_relaxed);
    discard_unadopted(a);
    a = next;
  }
}

void Shard::discard_unadopted(Actor* a) {
  if (!a->name().empty()) rt_.names().unregister(a->name(), a->pid_);
  delete a;
}

// ---------------------------------------------------------------------------------------
// Delivery.

Actor* Shard::find(Pid pid) {
  auto it = actors_.find(key(pid));
  return it == actors_.end() ? nullptr : it->second;
}

void Shard::adopt(Actor* a) {
  actors_.emplace(key(a->pid_), a);
  bump(counters_.spawned);
  if (!a->held_) start(a);
}

// on_start runs when the process is adopted (or released), before any message or signal
// can be dispatched to it, so what it sets up (trap_exit, monitors, timers) is in force
// for everything that follows.
void Shard::start(Actor* a) {
  if (a->idle_ns_ > 0) idle_.add(a, now_ns_);
  Actor* outer = tls_actor;
  tls_actor = a;
  a->started_ = true;
  try {
    a->router_->on_start();
  } catch (...) {
    crash(a, std::current_exception());
  }
  tls_actor = outer;
  Durability::started(a);
  if (a->exit_pending_ || a->mb_head_) schedule(a);
}

// A durable process's release carries its stored state: loaded before on_start, in the
// process's context (its router may use actor()).
Status Shard::load_durable(Actor* a, Message& release) {
  if (!Durability::is_durable(a) || release.body().empty()) return {};
  Actor* outer = tls_actor;
  tls_actor = a;
  Status s = Durability::load(a, release.body());
  tls_actor = outer;
  return s;
}

void Shard::passivate_durable() {
  for (auto& [serial, a] : actors_) {
    if (Durability::is_durable(a) && !a->held_) exit_now(a, reason::kShutdown);
  }
}

void Shard::set_idle_timeout(Actor* a, int64_t idle_ns) {
  if (a->idle_ns_ > 0) idle_.remove(a);
  a->idle_ns_ = idle_ns;
  if (idle_ns > 0) idle_.add(a, now_ns_);
}

void Shard::schedule(Actor* a) {
  if (a->scheduled_ || (a->held_ && !a->exit_pending_)) return;
  a->scheduled_ = true;
  a->next_.store(nullptr, std::memory_order_relaxed);
  if (ready_tail_) {
    ready_tail_->next_.store(a, std::memory_order_relaxed);
  } else {
    ready_head_ = a;
  }
  ready_tail_ = a;
}

void Shard::enqueue(Actor* a, MessagePtr&& owned) {
  Message* m = owned.release();  // the mailbox owns it now
  m->next.store(nullptr, std::memory_order_relaxed);
  if (a->mb_tail_) {
    a->mb_tail_->next.store(m, std::memory_order_relaxed);
  } else {
    a->mb_head_ = m;
  }
  a->mb_tail_ = m;
  ++a->mb_size_;
  schedule(a);
}

Status Shard::dispatch(MessagePtr& m) {
  Actor* a = find(m->to());
  if (!a || a->exiting_) [[unlikely]] {
    if (!a && m->kind() == Kind::kPlace) {
      on_place(m);
      return {};
    }
    if (!a && !away_.empty()) {
      if (auto it = away_.find(key(m->to())); it != away_.end()) {
        rt_.shard(it->second)->post(m.release());  // one of ours, running on another worker
        return {};
      }
    }
    if (!a && !forwards_.empty() && forward_moved(m)) return {};
    return Status::no_process("no process " + m->to().to_string());
  }
  if (a->place_ == kArriving && m->src_worker() == Message::kSameWorker) [[unlikely]] {
    a->ext().arrival_held.push_back(m.release());  // after what its home passes on (on_place)
    return {};
  }
  switch (m->kind()) {
    case Kind::kInfo:
    case Kind::kCall:
    case Kind::kClient:
      if (m->proto_id() == proto::kMoved && m->kind() == Kind::kCall) [[unlikely]] {
        // A moved process's barrier (migration.h): answered on arrival, so everything that
        // came before it on the same path is in the mailbox already. Unless the process is
        // moving right now: then what it holds has still to be relayed, and the barrier goes
        // with it, behind it, to be answered by the new process.
        if (a->current_ && Migration::is_order(a, *a->current_)) {
          enqueue(a, std::move(m));
          return {};
        }
        // From its writer: the writer has had all the old pid wrote (kClientAfterMove).
        if (a->ext_ && a->ext_->moved_here && m->from() == a->writer_) a->ext_->writer_caught_up = true;
        answer_barrier(a, *m);
        m.reset();
        return {};
      }
      if (a->mb_limit_ != 0 && a->mb_size_ >= a->mb_limit_) {
        ++a->ext().dropped;
        bump(counters_.dropped);
        // Dropped silently unless the sender must hear of it (a call, a rejecting mailbox).
        if (m->kind() != Kind::kCall && a->overflow_ != Overflow::kReject) m.reset();
        return Status::mailbox_full("mailbox of " + a->pid_.to_string() + " is full");
      }
      enqueue(a, std::move(m));
      return {};
    case Kind::kStop:
      enqueue(a, std::move(m));
      return {};
    case Kind::kReply:
      calls_.on_reply(a, std::move(m));
      return {};
    case Kind::kRelease:
      if (a->held_) {
        a->held_ = false;
        if (m->request_id() == 0) {
          exit_now(a, reason::kDiscarded);
        } else if (Status loaded = load_durable(a, *m); !loaded.ok()) {
          exit_now(a, "state not loaded: " + loaded.message());
        } else {
          start(a);
        }
      }
      m.reset();
      return {};
    default:
      signals_.deliver(a, std::move(m));
      return {};
  }
}

void Shard::exit_now(Actor* a, std::string_view reason) {
  if (a->exit_pending_ || a->exiting_) return;
  a->exit_pending_ = true;
  a->ext().exit_reason = std::string(reason);
  schedule(a);
}

void Shard::crash(Actor* a, std::exception_ptr error) {
  bump(counters_.crashed);
  exit_now(a, describe(error));
}

uint64_t Shard::add_timer(Millis delay, Timer t) {
  return timers_.add(now_ns_ + delay.count() * 1'000'000, std::move(t));
}

void Shard::on_timer(uint64_t id, Timer& t) {
  Actor* a = find(t.target);
  if (t.call_request != 0) {
    if (a) calls_.on_timeout(a, t.call_request);
    return;
  }
  if (!a || a->exiting_) {
    timers_.cancel(id);  // owner gone: stop a periodic tick
    return;
  }
  if (t.period_ns == 0 && a->ext_) std::erase(a->ext_->timers, id);
  // Timers bypass the mailbox limit: the process asked for them.
  enqueue(a, MessagePtr(new Message(a->pid_, a->pid_, Kind::kInfo, t.proto_id, std::move(t.body))));
}

// Live migration: what arrives for a pid that moved goes on to its new pid, its sender kept.
// Replies and DOWN notices were for the old activation's own calls and monitors; a link's
// exit signal, for its links (they were told it moved). Those are not relayed.

void Shard::add_forward(Pid old_pid, Pid new_pid) {
  const int64_t until = now_ns_ + kForwardForNs;
  forwards_[key(old_pid)] = Forward{new_pid, until};
  forward_order_.emplace_back(key(old_pid), until);
  while (forward_order_.size() > kMaxForwards) drop_oldest_forward();
}

void Shard::expire_forwards() {
  while (!forward_order_.empty() && forward_order_.front().second <= now_ns_) drop_oldest_forward();
}

// The oldest entry goes, unless its pid was moved again since (a newer entry holds it).
void Shard::drop_oldest_forward() {
  auto [serial, when] = forward_order_.front();
  forward_order_.pop_front();
  if (auto it = forwards_.find(serial); it != forwards_.end() && it->second.until_ns == when) forwards_.erase(it);
}

bool Shard::forward_moved(MessagePtr& m) {
  auto it = forwards_.find(key(m->to()));
  if (it == forwards_.end() || it->second.until_ns <= now_ns_) return false;
  switch (m->kind()) {
    case Kind::kReply:
    case Kind::kDown:
    case Kind::kRelease:
      return false;
    case Kind::kExit:
      if (m->request_id() == kLinkExit) return false;
      break;
    default:
      break;
  }
  const Pid via = m->to();
  rt_.forward(m.release(), via, it->second.to);
  return true;
}

// ---------------------------------------------------------------------------------------
// Running a process.

void Shard::execute(Actor* a) {
  tls_actor = a;
  int budget = kBudgetPerTurn;
  while (true) {
    if (a->exit_pending_) {
      finalize(a);
      tls_actor = nullptr;
      return;
    }
    if (a->resume_) {
      std::exchange(a->resume_, {}).resume();
      after_step(a);
    } else if (a->task_ || !a->mb_head_ || budget-- <= 0) {
      break;
    } else {
      Message* m = a->mb_head_;
      a->mb_head_ = m->next.load(std::memory_order_relaxed);
      if (!a->mb_head_) a->mb_tail_ = nullptr;
      --a->mb_size_;
      handle(a, MessagePtr(m));
    }
  }
  tls_actor = nullptr;
  bool runnable = a->resume_ || (!a->task_ && a->mb_head_);
  if (runnable) {
    a->scheduled_ = false;
    schedule(a);
  } else {
    a->scheduled_ = false;
    if (a->affinity_count_ >= kMoveAfter) [[unlikely]] consider_move(a);
  }
}

void Shard::answer_barrier(Actor* a, const Message& barrier) {
  rt_.send(a->pid_, barrier.from(), Kind::kReply, proto::kMoved, Body(), barrier.request_id());
}

void Shard::handle(Actor* a, MessagePtr&& m) {
  if (m->proto_id() == proto::kSaveTick && m->kind() == Kind::kInfo && m->from() == a->pid_) {
    Durability::save_behind(a);  // not traffic: the idle timer goes on
    return;
  }
  if (Migration::is_order(a, *m)) {
    Migration::begin(a, std::move(m));
    return;
  }
  if (m->proto_id() == proto::kMoved && m->kind() == Kind::kCall) [[unlikely]] {
    // A barrier that waited behind a move that did not happen (route): everything before it
    // has been handled here.
    answer_barrier(a, *m);
    return;
  }
  bump(counters_.messages);
  note_sender(a, *m);
  if (a->idle_ns_ > 0) idle_.touch(a, now_ns_);
  switch (m->kind()) {
    case Kind::kStop: {
      std::string why(m->body().raw());
      exit_now(a, why.empty() ? reason::kNormal : std::string_view(why));
      return;
    }
    case Kind::kReply:  // the callback form of call
      if (CallCallback cb = calls_.take_callback(a, m->request_id())) {
        try {
          cb(Reply(std::move(m)));
        } catch (...) {
          crash(a, std::current_exception());
        }
      }
      return;
    case Kind::kInfo:
      if (ClientWriter::is_writer_change(*m)) {
        writers_.change(a, std::move(m));
        return;
      }
      break;
    default:
      break;
  }
  a->current_ = std::move(m);
  try {
    a->task_ = a->router_->route(*a->current_).release();
  } catch (...) {  // a route() that throws before its first suspension point
    crash(a, std::current_exception());
    return;
  }
  a->task_.resume();
  after_step(a);
}

void Shard::after_step(Actor* a) {
  if (!a->task_ || !a->task_.done()) return;  // suspended in a call: resumed by the reply
  auto h = std::coroutine_handle<Task<>::promise_type>::from_address(a->task_.address());
  std::exception_ptr error = h.promise().error;
  h.destroy();
  a->task_ = {};
  if (error) {
    crash(a, error);  // finalize answers current_ if it was a call
    return;
  }
  a->current_.reset();
}

void Shard::finalize(Actor* a) {
  a->exiting_ = true;
  tls_actor = a;
  std::string why = a->ext().exit_reason;
  if (a->task_) {
    a->task_.destroy();
    a->task_ = {};
  }
  a->resume_ = {};
  try {
    if (a->started_) a->router_->on_stop(why);
  } catch (...) {
    spdlog::warn("process {} {} threw in on_stop: {}", a->pid_.to_string(), a->name(),
                 describe(std::current_exception()));
  }
  if (why == reason::kNormal || why == reason::kShutdown || why == reason::kIdle || why == reason::kDiscarded ||
      why == reason::kMigrated) {
    spdlog::debug("process {} {} exited: {}", a->pid_.to_string(), a->name(), why);
  } else {
    spdlog::error("process {} {} exited: {}", a->pid_.to_string(), a->name(), why);
  }
  ActorExt& x = *a->ext_;
  // A graceful end saves a dirty durable state, before the name goes: the next activation
  // of the name, wherever, loads this save (both go through the network loop in order).
  Durability::passivate(a, why, !stopping_);
  // The name goes first, so whoever hears of the exit can register it again at once.
  if (!x.name.empty()) {
    rt_.names().unregister(x.name, a->pid_);
    if (RemoteRoute* remote = rt_.remote(); remote && !stopping_) remote->name_released(x.name, a->pid_);
  }
  // Callers still waiting on this process get an answer now, not a timeout.
  if (MessagePtr current = std::move(a->current_); current && current->is_call()) {
    rt_.bounce(std::move(current), Status::crashed("callee exited: " + why));
  }
  for (Message* m = std::exchange(a->mb_head_, nullptr); m;) {
    MessagePtr queued(m);
    m = m->next.load(std::memory_order_relaxed);
    if (queued->is_call()) rt_.bounce(std::move(queued), Status::no_process("callee exited: " + why));
  }
  a->mb_tail_ = nullptr;
  for (Message* m : std::exchange(x.arrival_held, {})) {
    MessagePtr queued(m);
    if (queued->is_call()) rt_.bounce(std::move(queued), Status::no_process("callee exited: " + why));
  }
  calls_.cancel_all(a);
  for (uint64_t id : x.timers) timers_.cancel(id);
  if (!stopping_) {
    Migration::announce(a);  // where it went, before the DOWN
    signals_.announce_exit(a, why);
  }
  if (a->idle_ns_ > 0 && a->started_) idle_.remove(a);
  actors_.erase(key(a->pid_));
  if (a->place_ != kHome) {
    --guests_;
    // Its home worker stops forwarding (and forwards on for a process that left the node).
    post_place(rt_.shard(a->pid_.shard()), kPlaceGone, Body(a->pid_.raw()), x.moved_to);
  }
  live.fetch_sub(1, std::memory_order_relaxed);
  bump(counters_.exited);
  tls_actor = nullptr;
  delete a;
}

// ---------------------------------------------------------------------------------------
// Affinity: a process moves, once, to the worker that messages it most.
//
// Cross-worker messages cost a cache-line hand-off each way (~250-330 ns here: `bench_runtime
// handoff`, two bare threads passing one line back and forth) and often a wake-up, so a pair or a chain of processes that
// talk across two workers runs at a fraction of its same-worker speed. Erlang's schedulers
// and CAF's work stealing move such processes together; here the receiver counts messages in
// a row from one other worker (note_sender: one from its own worker takes kLocalWeight off,
// so it moves when more than about four in five come from there), and
// after kMoveAfter of them, between two of its turns, moves there when it can:
//   - of two processes that talk, the one with the higher pid moves (they would swap);
//   - only from its home worker (the one its pid names), once: a guest stays where it went;
//   - only while the destination's load_permille is under kMoveBelowLoad, so work spread by
//     load does not pile up on one worker;
//   - only a process with nothing in flight here: no handler in progress, no pending call,
//     no timer, not durable, nothing in its mailbox (movable()).
// Its pid stays the same. Messages for it still reach its home worker, which passes them on
// (away_), in order. Sends from the new worker go straight to it only once it is settled:
// until its home has passed on everything sent before the move (kPlaceSettle, answered by
// kPlaceSettled behind what it passed on), sends from there wait in arrival_held, so no
// sender's messages overtake each other. When it ends, its home hears (kPlaceGone).

void Shard::account_time(int64_t now, bool worked) {
  const int64_t spent = now - now_ns_;
  (worked ? spent_busy_ns_ : spent_idle_ns_) += spent;
  // An idle turn may still have run I/O callbacks (poll_io, sleep): work for the node's
  // "busy" (counters_.busy_ns), not for load_permille (which places processes by their
  // handlers' time, as it always did).
  if (!worked) spent_io_ns_ += std::min(io_busy_ns_, spent);
  io_busy_ns_ = 0;
  now_ns_ = now;
  if (now - window_start_ns_ >= kLoadWindowNs) {
    const int64_t total = spent_busy_ns_ + spent_idle_ns_;
    load_permille_.store(total > 0 ? static_cast<uint32_t>(spent_busy_ns_ * 1000 / total) : 0,
                         std::memory_order_relaxed);
    counters_.busy_ns.fetch_add(static_cast<uint64_t>(spent_busy_ns_ + spent_io_ns_), std::memory_order_relaxed);
    spent_busy_ns_ = spent_idle_ns_ = spent_io_ns_ = 0;
    window_start_ns_ = now;
  }
}

void Shard::note_sender(Actor* a, const Message& m) {
  const uint8_t src = m.src_worker();
  if (src == Message::kSameWorker || src == index_) {
    a->affinity_count_ = a->affinity_count_ > kLocalWeight ? a->affinity_count_ - kLocalWeight : 0;
    return;
  }
  if (src == Message::kOutside || a->place_ != kHome) return;
  if (src != a->affinity_worker_) {
    a->affinity_worker_ = src;
    a->affinity_count_ = 1;
  } else if (a->affinity_count_ < kMoveAfter && ++a->affinity_count_ == kMoveAfter &&
             m.from().raw() > a->pid_.raw()) {
    a->affinity_count_ = 0;  // its partner has the higher pid: the partner moves
  }
}

bool Shard::movable(const Actor* a) const {
  if (a->place_ != kHome || a->pid_.shard() != index_ || !a->started_ || a->held_ || a->exit_pending_ ||
      a->exiting_ || a->scheduled_ || a->mb_head_ || a->task_ || a->resume_ || a->current_) {
    return false;
  }
  if (const ActorExt* x = a->ext_) {
    return x->pending.empty() && x->timers.empty() && !x->durable.enabled && !x->saving_behind &&
           !x->moved_to.valid() && !x->moved_here;
  }
  return true;
}

void Shard::consider_move(Actor* a) {
  const uint8_t to = a->affinity_worker_;
  a->affinity_count_ = 0;
  if (!rt_.options().affinity || to >= rt_.shard_count() || to == index_ || stopping_ ||
      stop_requested_.load(std::memory_order_relaxed) || !movable(a)) {
    return;
  }
  Shard* dest = rt_.shard(to);
  // A sleeping worker's load is that of the window before it slept: it has time to spare.
  if (!dest->asleep() && dest->load_permille() >= kMoveBelowLoad) return;
  actors_.erase(key(a->pid_));
  if (a->idle_ns_ > 0) idle_.remove(a);
  live.fetch_sub(1, std::memory_order_relaxed);
  away_[key(a->pid_)] = to;
  a->place_ = kArriving;
  rt_.moves_in_flight.fetch_add(1, std::memory_order_relaxed);
  bump(counters_.moved);
  post_place(dest, kPlaceArrive, Body(reinterpret_cast<uint64_t>(a)));
}

void Shard::post_place(Shard* to, uint64_t step, Body body, Pid from) {
  auto* m = new Message(Pid(), from, Kind::kPlace, 0, std::move(body));
  m->set_request_id(step);
  to->post(m);
}

void Shard::on_place(MessagePtr& m) {
  MessagePtr owned = std::move(m);
  switch (owned->request_id()) {
    case kPlaceArrive: {
      auto* a = reinterpret_cast<Actor*>(owned->body().as<uint64_t>());
      rt_.moves_in_flight.fetch_sub(1, std::memory_order_relaxed);
      a->shard_ = this;
      actors_.emplace(key(a->pid_), a);
      ++guests_;
      live.fetch_add(1, std::memory_order_relaxed);
      if (a->idle_ns_ > 0) idle_.add(a, now_ns_);
      post_place(rt_.shard(a->pid_.shard()), kPlaceSettle, Body(a->pid_.raw()));
      return;
    }
    case kPlaceSettle: {  // at home
      const Pid pid = Pid::from_raw(owned->body().as<uint64_t>());
      if (auto it = away_.find(key(pid)); it != away_.end()) {
        post_place(rt_.shard(it->second), kPlaceSettled, Body(pid.raw()));
      }
      return;
    }
    case kPlaceSettled: {
      Actor* a = find(Pid::from_raw(owned->body().as<uint64_t>()));
      if (!a || a->place_ != kArriving) return;
      a->place_ = kSettled;
      if (a->ext_) {
        for (Message* held : std::exchange(a->ext_->arrival_held, {})) {
          MessagePtr next(held);
          if (Status why = dispatch(next); next) rt_.bounce(std::move(next), why);
        }
      }
      return;
    }
    case kPlaceGone: {  // at home
      const Pid pid = Pid::from_raw(owned->body().as<uint64_t>());
      away_.erase(key(pid));
      if (owned->from().valid()) add_forward(pid, owned->from());  // it migrated to another node
      return;
    }
    default:
      return;
  }
}

}  // namespace behavior::detail
