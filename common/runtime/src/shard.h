// shard.h — one worker thread and everything it owns: its processes, their mailboxes, its
// ready queue, timers and idle list, and a libuv loop for I/O. It schedules; what links,
// monitors, exit signals, calls and the client writer mean lives in Signals, Calls and
// ClientWriter, which it holds. Same-worker sends touch no
// atomics; other threads reach it through one lock-free queue and a wake-up only when it
// sleeps.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actor_ext.h"
#include "behavior/actor.h"
#include "behavior/mpsc_stack.h"
#include "calls.h"
#include "client_writer.h"
#include "idle_tracker.h"
#include "signals.h"
#include "timer_queue.h"
#include "wakeup.h"

namespace behavior::detail {

class Runtime;
class Migration;
class HotUpdate;

// "exception: <what>", for a crash reason or a log line.
std::string describe(std::exception_ptr e);

class Shard {
 public:
  Shard(Runtime& rt, uint8_t index);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  uint8_t index() const { return index_; }
  Runtime& runtime() { return rt_; }
  uv_loop_t* loop() { return &loop_; }

  // Any thread, after it left work for one of this worker's I/O hosts: wakes it if asleep.
  void wake() { wakeup_.wake(); }

  // Lifecycle, from the thread that owns the Node.
  void start();
  void request_stop();
  void join();

  // Any thread.
  void post(Message* m);
  void post_spawn(Actor* a);
  // Runs fn on this worker between process turns (the cluster sets up and tears down its
  // network handles on worker 0's loop this way).
  void post_task(std::function<void()> fn);
  uint64_t next_serial() { return serial_.fetch_add(1, std::memory_order_relaxed) + 1; }
  bool asleep() const { return wakeup_.asleep(); }
  // The share of the last ~10 ms this worker spent working (not spinning or asleep), in
  // thousandths: a process moves here for affinity only while it is below kMoveBelowLoad.
  uint32_t load_permille() const { return load_permille_.load(std::memory_order_relaxed); }
  std::atomic<uint64_t> live{0};  // placement reads it; spawn adds, exit subtracts

  // The worker thread only.
  static Shard* current();
  static Actor* current_actor();
  // Makes `a` the process whose code runs now (for code run outside its turns); returns the
  // previous one, to put back.
  static Actor* exchange_current_actor(Actor* a);
  // Delivers m to one of this worker's processes: to its mailbox, or, for a signal or a
  // reply, to what handles it, and takes it. What cannot be delivered and must be answered
  // (no such process; a full mailbox that rejects, or a call) stays in `m`, with the reason
  // returned, for the caller to bounce: delivery itself never routes. A message a full
  // mailbox drops silently is taken (and the reason returned).
  [[nodiscard]] Status dispatch(MessagePtr& m);
  void adopt(Actor* a);
  void schedule(Actor* a);
  void enqueue(Actor* a, MessagePtr&& m);
  // Ends `a` after its current step, with `reason` (the first reason wins).
  void exit_now(Actor* a, std::string_view reason);
  // `a` threw: counted as a crash, ended with the exception's text as the reason.
  void crash(Actor* a, std::exception_ptr error);
  uint64_t next_request_id() { return ++request_seq_; }
  uint64_t add_timer(Millis delay, Timer t);
  bool cancel_timer(uint64_t id) { return timers_.cancel(id); }
  int64_t now_ns() const { return now_ns_; }
  Calls& calls() { return calls_; }
  void set_idle_timeout(Actor* a, int64_t idle_ns);
  // Ends every durable process here gracefully (reason shutdown), so each saves its state
  // and releases its name while the cluster still runs: the node is stopping.
  void passivate_durable();
  // Live migration (migration.cpp). A pid that moved: what still arrives for it goes on to
  // its new pid for kForwardFor, while at most kMaxForwards such pids are kept per worker.
  void add_forward(Pid old_pid, Pid new_pid);
  static constexpr int64_t kForwardForNs = 30'000'000'000;
  static constexpr size_t kMaxForwards = 100'000;
  // This worker's loop also carries the node's network I/O (s2s links, Redis, /metrics):
  // it polls I/O every kIoPollNs while busy and while spinning, not only when asleep, and
  // calls each flush(ctx) after each turn so that what its processes sent to other nodes
  // (or to clients) leaves at once, without a wake-up. Several loops may share the worker
  // (the cluster's and a gateway's). Worker thread only.
  // Affinity ("Affinity" in shard.cpp): a process lives in the table of the worker it runs
  // on, keyed by its pid without the node (its home worker and serial), so a guest from
  // another worker fits beside the worker's own processes.
  static uint64_t key(Pid p) { return p.raw() & ((uint64_t{1} << 48) - 1); }
  // Worker thread: a process from another worker runs here, so a send to it from here is
  // a same-worker send (dispatch holds it back while the guest is still arriving).
  bool has_guest(Pid to) const {
    if (guests_ == 0) return false;
    auto it = actors_.find(key(to));
    return it != actors_.end() && it->second->place_ != kHome;
  }
  enum Place : uint8_t { kHome = 0, kArriving = 1, kSettled = 2 };
  static constexpr uint8_t kMoveAfter = 64;          // messages in a row from one other worker
  static constexpr uint32_t kMoveBelowLoad = 900;    // the destination's load_permille

  // `pending(ctx)` says, with a seq_cst load, whether other threads left it work that
  // flush would take: the worker looks before it sleeps, and such a thread calls wake()
  // after it leaves work (the same handshake as post()).
  void add_io_host(void (*flush)(void*), bool (*pending)(void*), void* ctx) {
    io_hooks_.push_back({flush, pending, ctx});
  }
  void remove_io_host(void* ctx) {
    std::erase_if(io_hooks_, [ctx](const IoHook& h) { return h.ctx == ctx; });
  }

  struct Counters {
    std::atomic<uint64_t> spawned{0}, exited{0}, crashed{0}, messages{0}, dropped{0},
        idle_expired{0}, moved{0};
    std::atomic<uint64_t> busy_ns{0};  // time spent working (not idle, not asleep), per load window
  };
  const Counters& counters() const { return counters_; }

 private:
  void run();
  bool drain();
  bool run_tasks();
  bool poll_io();
  bool fire_timers();
  bool run_ready();
  bool spin();
  void pace_takes(int taken);  // after a take of `taken` messages
  void sleep();
  void stop_all();
  void free_queued();
  void discard_unadopted(Actor* a);  // queued to this worker, never adopted: the node stopped

  friend class Migration;
  friend class HotUpdate;
  void start(Actor* a);
  Status load_durable(Actor* a, Message& release);
  void execute(Actor* a);
  void handle(Actor* a, MessagePtr&& m);
  // A moved process's barrier (proto::kMoved as a call, migration.h), answered by the runtime.
  void answer_barrier(Actor* a, const Message& barrier);
  void after_step(Actor* a);
  void finalize(Actor* a);
  void on_timer(uint64_t id, Timer& t);
  Actor* find(Pid pid);
  // Affinity (shard.cpp).
  void note_sender(Actor* a, const Message& m);
  void consider_move(Actor* a);
  bool movable(const Actor* a) const;
  void on_place(MessagePtr& m);
  void post_place(Shard* to, uint64_t step, Body body, Pid from = Pid());
  void account_time(int64_t now, bool worked);
  // dispatch() found no process: if m's target moved, m goes on to its new pid (taken).
  bool forward_moved(MessagePtr& m);
  void expire_forwards();
  void drop_oldest_forward();

  Runtime& rt_;
  const uint8_t index_;
  std::thread thread_;
  uv_loop_t loop_{};
  uv_timer_t sleep_timer_{};
  MpscStack<Message, &Message::next> inbox_;
  MpscStack<Actor, &Actor::next_> spawns_;
  Wakeup wakeup_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> has_tasks_{false};
  std::mutex tasks_mu_;
  std::vector<std::function<void()>> tasks_;
  alignas(64) std::atomic<uint64_t> serial_{0};

  // Owned by the worker thread.
  alignas(64) std::unordered_map<uint64_t, Actor*> actors_;  // by serial
  Actor* ready_head_ = nullptr;
  Actor* ready_tail_ = nullptr;
  TimerQueue timers_;
  IdleTracker idle_;
  std::vector<Actor*> expired_;
  int64_t now_ns_ = 0;
  int64_t last_poll_ns_ = 0;
  int64_t last_work_ns_ = 0;
  int64_t next_sweep_ns_ = 0;
  bool last_spin_found_work_ = true;
  uint32_t take_delay_ = 0;    // pauses before the next take (pace_takes)
  int small_takes_ = 0;
  struct IoHook {
    void (*flush)(void*);
    bool (*pending)(void*);
    void* ctx;
  };
  bool io_pending() const {
    for (const IoHook& h : io_hooks_) {
      if (h.pending(h.ctx)) return true;
    }
    return false;
  }
  std::vector<IoHook> io_hooks_;
  bool hosts_io() const { return !io_hooks_.empty(); }
  void flush_io() {
    for (size_t i = 0; i < io_hooks_.size(); ++i) io_hooks_[i].flush(io_hooks_[i].ctx);
  }
  uint32_t idle_rounds_ = 0;
  uint64_t request_seq_;
  bool stopping_ = false;
  struct Forward {
    Pid to;
    int64_t until_ns = 0;
  };
  std::unordered_map<uint64_t, Forward> forwards_;  // moved pids by key()
  std::deque<std::pair<uint64_t, int64_t>> forward_order_;  // (key, until), oldest first
  // Affinity: this worker's own processes now running elsewhere (key() -> worker), and how
  // many guests from other workers run here.
  std::unordered_map<uint64_t, uint8_t> away_;
  uint32_t guests_ = 0;
  // Load: time working and time idle in the current window.
  int64_t spent_busy_ns_ = 0, spent_idle_ns_ = 0, window_start_ns_ = 0;
  int64_t io_busy_ns_ = 0;   // I/O callbacks' time since the last account_time (poll_io, sleep)
  int64_t spent_io_ns_ = 0;  // ... summed over idle turns in this load window
  bool last_worked_ = false;
  std::atomic<uint32_t> load_permille_{0};
  Counters counters_;
  // Process semantics, apart from the loop.
  Signals signals_{*this};
  Calls calls_{*this};
  ClientWriter writers_{*this};
};

}  // namespace behavior::detail
