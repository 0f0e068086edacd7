// shard.cpp — a worker's loop: take what other threads sent, fire due timers, run ready
// processes a batch at a time, poll I/O, and when there is nothing to do spin briefly
// then sleep in libuv until a wake-up, a timer or I/O. Also the life and death of a
// process: delivery, the handler step, exit signals, and finalize (on_stop, links,
// monitors, pending callers answered).
#include "shard.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <climits>

#include "runtime.h"
#include "system.pb.h"

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
constexpr uint64_t kLinkExit = 1;  // request_id flag on kExit: the linked process died

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return std::string("exception: ") + ex.what();
  } catch (...) {
    return "exception: unknown";
  }
}

}  // namespace

Shard* Shard::current() { return tls_shard; }
Actor* Shard::current_actor() { return tls_actor; }

Shard::Shard(Runtime& rt, uint8_t index)
    : rt_(rt), index_(index), timers_(uint64_t{index} << 56), request_seq_(uint64_t{index} << 56) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &wake_, [](uv_async_t*) {});
  uv_timer_init(&loop_, &sleep_timer_);
}

Shard::~Shard() {
  free_queued();
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sleep_timer_), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Shard::start() {
  thread_ = std::thread([this] { run(); });
}

void Shard::request_stop() {
  stop_requested_.store(true, std::memory_order_seq_cst);
  uv_async_send(&wake_);
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::post(Message* m) {
  inbox_.push(m);
  if (sleeping_.load(std::memory_order_seq_cst)) uv_async_send(&wake_);
}

void Shard::post_spawn(Actor* a) {
  spawns_.push(a);
  if (sleeping_.load(std::memory_order_seq_cst)) uv_async_send(&wake_);
}

void Shard::post_task(std::function<void()> fn) {
  {
    std::lock_guard lock(tasks_mu_);
    tasks_.push_back(std::move(fn));
  }
  has_tasks_.store(true, std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_seq_cst)) uv_async_send(&wake_);
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
  uv_run(&loop_, UV_RUN_NOWAIT);
  flush_io();
  last_poll_ns_ = clock_ns();
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
    now_ns_ = clock_ns();
    bool worked = run_tasks();
    worked |= drain();
    worked |= fire_timers();
    worked |= run_ready();
    flush_io();
    if (stop_requested_.load(std::memory_order_relaxed)) break;
    if (now_ns_ - last_poll_ns_ >= (hosts_io() ? kIoPollNs : kPollEveryNs)) worked |= poll_io();
    if (worked || ready_head_) continue;
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
  Message* m = inbox_.take_all();
  Actor* a = spawns_.take_all();
  if (!m && !a) return false;
  while (a) {
    Actor* next = a->next_.load(std::memory_order_relaxed);
    adopt(a);
    a = next;
  }
  while (m) {
    Message* next = m->next.load(std::memory_order_relaxed);
    dispatch(m);
    m = next;
  }
  return true;
}

bool Shard::fire_timers() {
  bool fired = false;
  if (timers_.next_deadline() <= now_ns_) {
    fired = timers_.fire_due(now_ns_, [this](uint64_t id, Timer& t) { on_timer(id, t); }) > 0;
  }
  if (now_ns_ >= next_sweep_ns_) {
    next_sweep_ns_ = now_ns_ + rt_.options().idle_sweep.count() * 1'000'000;
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
  if (!last_spin_found_work_ && !rt_.other_worker_awake(this) && (++idle_rounds_ & 15) != 0) return false;
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
    BEHAVIOR_CPU_RELAX();
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
  // Dekker-style: a poster pushes then reads sleeping_; we write sleeping_ then read the
  // queues. With seq_cst on both sides one of us sees the other, so no wake-up is lost.
  sleeping_.store(true, std::memory_order_seq_cst);
  if (inbox_.empty() && spawns_.empty() && !has_tasks_.load(std::memory_order_seq_cst) &&
      !stop_requested_.load(std::memory_order_seq_cst)) {
    uv_run(&loop_, UV_RUN_ONCE);
  }
  sleeping_.store(false, std::memory_order_relaxed);
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
    Message* next = m->next.load(std::memory_order_relaxed);
    delete m;
    m = next;
  }
  for (Actor* a = spawns_.take_all(); a;) {
    Actor* next = a->next_.load(std::memory_order_relaxed);
    if (!a->name().empty()) rt_.names().unregister(a->name(), a->pid_);
    delete a;
    a = next;
  }
}

// ---------------------------------------------------------------------------------------
// Delivery.

Actor* Shard::find(Pid pid) {
  auto it = actors_.find(pid.serial());
  return it == actors_.end() ? nullptr : it->second;
}

void Shard::adopt(Actor* a) {
  actors_.emplace(a->pid_.serial(), a);
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
    bump(counters_.crashed);
    exit_now(a, describe(std::current_exception()));
  }
  tls_actor = outer;
  if (a->exit_pending_ || a->mb_head_) schedule(a);
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

void Shard::enqueue(Actor* a, Message* m) {
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

Status Shard::dispatch(Message* m) {
  Actor* a = find(m->to());
  if (!a || a->exiting_) {
    Status why = Status::no_process("no process " + m->to().to_string());
    rt_.bounce(m, why);
    return why;
  }
  switch (m->kind()) {
    case Kind::kInfo:
    case Kind::kCall:
    case Kind::kClient:
      if (a->mb_limit_ != 0 && a->mb_size_ >= a->mb_limit_) {
        ++a->ext().dropped;
        bump(counters_.dropped);
        Status why = Status::mailbox_full("mailbox of " + a->pid_.to_string() + " is full");
        if (m->kind() == Kind::kCall || a->overflow_ == Overflow::kReject) {
          rt_.bounce(m, why);
        } else {
          delete m;
        }
        return why;
      }
      enqueue(a, m);
      return {};
    case Kind::kStop:
      enqueue(a, m);
      return {};
    case Kind::kReply:
      handle_reply(a, m);
      return {};
    case Kind::kExit:
      handle_exit_signal(a, m);
      return {};
    case Kind::kDown: {
      auto& mon = a->ext().monitoring;
      uint64_t ref = m->request_id();
      bool known = false;
      for (size_t i = 0; i < mon.size(); ++i) {
        if (mon[i].first == ref) {
          mon.erase(mon.begin() + static_cast<long>(i));
          known = true;
          break;
        }
      }
      if (!known) {  // demonitored meanwhile
        delete m;
        return {};
      }
      pb::DownSignal down;
      down.set_ref(ref);
      down.set_pid(m->from().raw());
      down.set_reason(std::string(m->body().raw()));
      auto* note = new Message(a->pid_, m->from(), Kind::kDown, proto::kDown, std::move(down));
      note->set_request_id(ref);
      delete m;
      enqueue(a, note);
      return {};
    }
    case Kind::kLink: {
      auto& links = a->ext().links;
      if (std::find(links.begin(), links.end(), m->from()) == links.end()) {
        links.push_back(m->from());
      }
      delete m;
      return {};
    }
    case Kind::kUnlink: {
      auto& links = a->ext().links;
      links.erase(std::remove(links.begin(), links.end(), m->from()), links.end());
      delete m;
      return {};
    }
    case Kind::kMonitor:
      a->ext().monitored_by.emplace_back(m->from(), m->request_id());
      delete m;
      return {};
    case Kind::kRelease:
      if (a->held_) {
        a->held_ = false;
        if (m->request_id() != 0) {
          start(a);
        } else {
          exit_now(a, "discarded");
        }
      }
      delete m;
      return {};
    case Kind::kDemonitor: {
      auto& by = a->ext().monitored_by;
      std::pair<Pid, uint64_t> key{m->from(), m->request_id()};
      by.erase(std::remove(by.begin(), by.end(), key), by.end());
      delete m;
      return {};
    }
  }
  delete m;
  return {};
}

void Shard::exit_now(Actor* a, std::string_view reason) {
  if (a->exit_pending_ || a->exiting_) return;
  a->exit_pending_ = true;
  a->ext().exit_reason = std::string(reason);
  schedule(a);
}

void Shard::handle_exit_signal(Actor* a, Message* m) {
  std::string why(m->body().raw());
  Pid from = m->from();
  bool from_link = m->request_id() == kLinkExit;
  if (from_link) {
    auto& links = a->ext().links;
    auto it = std::find(links.begin(), links.end(), from);
    if (it == links.end()) {  // unlinked meanwhile: the signal no longer concerns us
      delete m;
      return;
    }
    links.erase(it);
  }
  if (a->exit_pending_) {
    delete m;
    return;
  }
  if (!from_link && why == reason::kKill) {
    delete m;
    exit_now(a, reason::kKilled);
  } else if (a->trap_exit_) {
    pb::ExitSignal sig;
    sig.set_pid(from.raw());
    sig.set_reason(why);
    auto* note = new Message(a->pid_, from, Kind::kExit, proto::kExit, std::move(sig));
    delete m;
    enqueue(a, note);
  } else if (why == reason::kNormal) {
    delete m;
    if (!from_link && from == a->pid_) exit_now(a, reason::kNormal);
  } else {
    delete m;
    exit_now(a, why);
  }
}

void Shard::handle_reply(Actor* a, Message* m) {
  PendingCall* pc = a->ext_ ? a->ext_->find_pending(m->request_id()) : nullptr;
  if (!pc || pc->answered) {  // late (after the timeout) or unknown: dropped
    delete m;
    return;
  }
  timers_.cancel(pc->timer);
  if (pc->waiter) {
    *pc->slot = Reply(MessagePtr(m));
    a->resume_ = pc->waiter;
    a->ext_->erase_pending(m->request_id());
    schedule(a);
  } else {
    pc->answered = true;
    enqueue(a, m);
  }
}

void Shard::handle_call_timeout(Actor* a, uint64_t request_id) {
  PendingCall* pc = a->ext_ ? a->ext_->find_pending(request_id) : nullptr;
  if (!pc || pc->answered) return;
  Status why = Status::timeout("call timed out");
  if (pc->waiter) {
    *pc->slot = Reply(why);
    a->resume_ = pc->waiter;
    a->ext_->erase_pending(request_id);
    schedule(a);
  } else {
    pc->answered = true;
    enqueue(a, Message::error_reply(a->pid_, Pid(), request_id, why));
  }
}

uint64_t Shard::add_timer(Millis delay, Timer t) {
  return timers_.add(now_ns_ + delay.count() * 1'000'000, std::move(t));
}

void Shard::on_timer(uint64_t id, Timer& t) {
  Actor* a = find(t.target);
  if (t.call_request != 0) {
    if (a) handle_call_timeout(a, t.call_request);
    return;
  }
  if (!a || a->exiting_) {
    timers_.cancel(id);  // owner gone: stop a periodic tick
    return;
  }
  if (t.period_ns == 0 && a->ext_) {
    auto& ts = a->ext_->timers;
    ts.erase(std::remove(ts.begin(), ts.end(), id), ts.end());
  }
  auto* m = new Message(a->pid_, a->pid_, Kind::kInfo, t.proto_id, std::move(t.body));
  enqueue(a, m);  // timers bypass the mailbox limit: the process asked for them
}

void Shard::begin_call(Actor* a, Pid to, std::string name, uint32_t proto_id, Body body, Millis timeout,
                       std::coroutine_handle<> waiter, Reply* slot, CallCallback callback) {
  uint64_t request_id = next_request_id();
  PendingCall pc;
  pc.request_id = request_id;
  pc.waiter = waiter;
  pc.slot = slot;
  pc.callback = std::move(callback);
  Timer t;
  t.target = a->pid_;
  t.call_request = request_id;
  pc.timer = add_timer(timeout, std::move(t));
  a->ext().pending.push_back(std::move(pc));
  auto* m = new Message(to, a->pid_, Kind::kCall, proto_id, std::move(body));
  m->set_request_id(request_id);
  // Failures come back as an error reply.
  if (to.valid()) {
    rt_.route(m);
  } else {
    rt_.route_named(name, m);
  }
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
      handle(a, m);
    }
  }
  tls_actor = nullptr;
  bool runnable = a->resume_ || (!a->task_ && a->mb_head_);
  if (runnable) {
    a->scheduled_ = false;
    schedule(a);
  } else {
    a->scheduled_ = false;
  }
}

void Shard::handle(Actor* a, Message* m) {
  bump(counters_.messages);
  if (a->idle_ns_ > 0) idle_.touch(a, now_ns_);
  switch (m->kind()) {
    case Kind::kStop: {
      std::string why(m->body().raw());
      delete m;
      exit_now(a, why.empty() ? reason::kNormal : std::string_view(why));
      return;
    }
    case Kind::kReply: {  // callback form of call
      PendingCall* pc = a->ext_ ? a->ext_->find_pending(m->request_id()) : nullptr;
      if (!pc) {
        delete m;
        return;
      }
      CallCallback cb = std::move(pc->callback);
      a->ext_->erase_pending(m->request_id());
      try {
        cb(Reply(MessagePtr(m)));
      } catch (...) {
        bump(counters_.crashed);
        exit_now(a, describe(std::current_exception()));
      }
      return;
    }
    case Kind::kInfo:
      if (m->proto_id() == proto::kAttach || m->proto_id() == proto::kDetach) {
        client_writer(a, m);
        return;
      }
      break;
    default:
      break;
  }
  a->current_ = m;
  try {
    a->task_ = a->router_->route(*m).release();
  } catch (...) {  // a route() that throws before its first suspension point
    bump(counters_.crashed);
    exit_now(a, describe(std::current_exception()));
    return;
  }
  a->task_.resume();
  after_step(a);
}

// The gateway's kAttach / kDetach (message.h): who the process's writer is.
void Shard::client_writer(Actor* a, Message* m) {
  const Pid conn = m->from();
  const bool attach = m->proto_id() == proto::kAttach;
  delete m;
  if (attach) {
    const Pid old = a->writer_;
    a->writer_ = conn;
    if (old.valid() && old != conn) {
      rt_.send(a->pid_, old, Kind::kInfo, proto::kKick, Body::bytes("logged in elsewhere"));
    }
  } else if (a->writer_ == conn) {
    a->writer_ = Pid();
  } else {
    return;  // a connection that was already replaced
  }
  try {  // runs inside execute(): tls_actor is this process
    if (attach) {
      a->router_->on_client_attached(conn);
    } else {
      a->router_->on_client_detached(conn);
    }
  } catch (...) {
    bump(counters_.crashed);
    exit_now(a, describe(std::current_exception()));
  }
}

void Shard::after_step(Actor* a) {
  if (!a->task_ || !a->task_.done()) return;  // suspended in a call: resumed by the reply
  auto h = std::coroutine_handle<Task<>::promise_type>::from_address(a->task_.address());
  std::exception_ptr error = h.promise().error;
  h.destroy();
  a->task_ = {};
  if (error) {
    bump(counters_.crashed);
    exit_now(a, describe(error));  // finalize answers current_ if it was a call
    return;
  }
  delete a->current_;
  a->current_ = nullptr;
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
  if (why == reason::kNormal || why == reason::kShutdown || why == reason::kIdle) {
    spdlog::debug("process {} {} exited: {}", a->pid_.to_string(), a->name(), why);
  } else {
    spdlog::error("process {} {} exited: {}", a->pid_.to_string(), a->name(), why);
  }
  ActorExt& x = *a->ext_;
  // The name goes first, so whoever hears of the exit can register it again at once.
  if (!x.name.empty()) {
    rt_.names().unregister(x.name, a->pid_);
    if (RemoteRoute* remote = rt_.remote(); remote && !stopping_) remote->name_released(x.name, a->pid_);
  }
  // Callers still waiting on this process get an answer now, not a timeout.
  if (a->current_) {
    if (a->current_->is_call()) {
      rt_.bounce(a->current_, Status::crashed("callee exited: " + why));
    } else {
      delete a->current_;
    }
    a->current_ = nullptr;
  }
  for (Message* m = a->mb_head_; m;) {
    Message* next = m->next.load(std::memory_order_relaxed);
    if (m->is_call()) {
      rt_.bounce(m, Status::no_process("callee exited: " + why));
    } else {
      delete m;
    }
    m = next;
  }
  a->mb_head_ = a->mb_tail_ = nullptr;
  for (auto& pc : x.pending) timers_.cancel(pc.timer);
  for (uint64_t id : x.timers) timers_.cancel(id);
  if (!stopping_) {
    std::string signal_reason = why == reason::kKill ? std::string(reason::kKilled) : why;
    for (Pid linked : x.links) {
      rt_.send(a->pid_, linked, Kind::kExit, 0, Body::bytes(signal_reason), kLinkExit);
    }
    for (auto& [watcher, ref] : x.monitored_by) {
      rt_.send(a->pid_, watcher, Kind::kDown, 0, Body::bytes(signal_reason), ref);
    }
    for (auto& [ref, target] : x.monitoring) {
      rt_.send(a->pid_, target, Kind::kDemonitor, 0, Body(), ref);
    }
  }
  if (a->idle_ns_ > 0 && a->started_) idle_.remove(a);
  actors_.erase(a->pid_.serial());
  live.fetch_sub(1, std::memory_order_relaxed);
  bump(counters_.exited);
  tls_actor = nullptr;
  delete a;
}

}  // namespace behavior::detail
