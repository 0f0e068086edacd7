// bench_runtime.cpp — Savina-style micro-benchmarks of the process runtime, with the same
// cases, message counts and semantics as ../shared/anchors (caf_savina.cpp, anch.erl), so
// the lines can be compared side by side:
//   behavior <case> n=<N> time=<s>s rate=<R> msg/s [key=value ...]
// Usage: bench_runtime pingpong|counting|ring|spawn|m2m|broadcast N [--workers W] [--slack S]
//                      [--procs P] [--subs S]
// m2m and broadcast pin their processes round-robin over all workers (SpawnOptions::shard),
// whatever --slack says; their clock runs from the first go to the last done, after the
// spawns, and a count check after it makes a wrong count exit 1 (the ctest smoke relies on it).
#include <behavior/cli.h>
#include <behavior/behavior.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

using namespace behavior;

namespace {

constexpr uint32_t kPing = 1, kPong = 2, kDone = 3, kNext = 4, kTok = 5, kGo = 6, kCount = 7;
constexpr uint32_t kReq = 8, kRep = 9, kPub = 10, kAck = 11, kReport = 12;

// What a process of m2m or broadcast counted, asked for after the clock has stopped.
struct Tally {
  uint32_t handled = 0;  // requests answered (m2m) or publications answered (broadcast)
  uint32_t got = 0;      // replies received (m2m) or answers received (publisher)
};

long rss_bytes() {
  long pages = 0, rss = 0;
  std::ifstream("/proc/self/statm") >> pages >> rss;
  return rss * sysconf(_SC_PAGESIZE);
}

class Pong : public Router {
 public:
  Task<> route(Message& m) override {
    actor().send(m.from(), kPong, m.as<int>());
    co_return;
  }
};

class Ping : public Router {
 public:
  Ping(Pid pong, int n, Pid done) : pong_(pong), n_(n), done_(done) {}
  void on_start() override { actor().send(pong_, kPing, n_); }
  Task<> route(Message& m) override {
    int k = m.as<int>();
    if (k == 0) {
      actor().send(done_, kDone);
      actor().stop();
    } else {
      actor().send(pong_, kPing, k - 1);
    }
    co_return;
  }

 private:
  Pid pong_;
  int n_;
  Pid done_;
};

class Counter : public Router {
 public:
  Counter(long n, Pid done) : n_(n), done_(done) {}
  Task<> route(Message&) override {
    if (++count_ == n_) {
      actor().send(done_, kDone);
      actor().stop();
    }
    co_return;
  }

 private:
  long n_;
  long count_ = 0;
  Pid done_;
};

class RingNode : public Router {
 public:
  explicit RingNode(Pid done) : done_(done) {}
  Task<> route(Message& m) override {
    if (m.proto_id() == kNext) {
      next_ = m.as<Pid>();
    } else {
      int k = m.as<int>();
      if (k == 0) {
        actor().send(done_, kDone);
      } else {
        actor().send(next_, kTok, k - 1);
      }
    }
    co_return;
  }

 private:
  Pid next_;
  Pid done_;
};

class Leaf : public Router {
 public:
  explicit Leaf(Pid done) : done_(done) {}
  Task<> route(Message&) override {
    actor().send(done_, kDone);
    actor().stop();
    co_return;
  }

 private:
  Pid done_;
};

// The same 32-bit xorshift as the anchors (caf_more.cpp, anch_more.erl), so each process
// asks the same sequence of peers everywhere.
uint32_t xorshift32(uint32_t& x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

uint32_t m2m_seed(uint32_t index) {
  uint32_t x = index * 2654435761u + 1u;
  return x == 0 ? 1u : x;
}

// m2m: one of P peers. kGo starts its M requests, one at a time: each to a pseudo-random
// other peer, the next one when the reply comes. It answers others' requests all along, also
// after its own M replies (when it has told main kDone).
class Peer : public Router {
 public:
  Peer(uint32_t index, uint32_t m, const std::vector<Pid>* peers, Pid main)
      : index_(index), m_(m), peers_(peers), main_(main), x_(m2m_seed(index)) {}
  Task<> route(Message& msg) override {
    switch (msg.proto_id()) {
      case kReq:
        ++tally_.handled;
        actor().send(msg.from(), kRep, 0);
        break;
      case kRep:
        if (++tally_.got == m_) {
          actor().send(main_, kDone);
        } else {
          request();
        }
        break;
      case kGo:
        if (m_ == 0) {
          actor().send(main_, kDone);
        } else {
          request();
        }
        break;
      case kReport:
        actor().send(msg.from(), kReport, tally_);
        break;
      default:
        break;
    }
    co_return;
  }

 private:
  void request() {
    const auto p = static_cast<uint32_t>(peers_->size());
    uint32_t to = index_;
    if (p > 1) {
      to = xorshift32(x_) % (p - 1);
      if (to >= index_) ++to;
    }
    actor().send((*peers_)[to], kReq, 0);
  }

  uint32_t index_;
  uint32_t m_;
  const std::vector<Pid>* peers_;  // filled by main before any kGo, read-only afterwards
  Pid main_;
  uint32_t x_;
  Tally tally_;
};

// broadcast: a subscriber answers each publication to the one who sent it.
class Subscriber : public Router {
 public:
  Task<> route(Message& msg) override {
    if (msg.proto_id() == kPub) {
      ++tally_.handled;
      actor().send(msg.from(), kAck);
    } else if (msg.proto_id() == kReport) {
      actor().send(msg.from(), kReport, tally_);
    }
    co_return;
  }

 private:
  Tally tally_;
};

// broadcast: a round sends one publication to every subscriber; when all S have answered,
// the next round starts; after `rounds` rounds main gets kDone with the answers counted.
class Publisher : public Router {
 public:
  Publisher(std::vector<Pid> subs, long rounds, Pid main)
      : subs_(std::move(subs)), rounds_(rounds), main_(main) {}
  Task<> route(Message& msg) override {
    if (msg.proto_id() == kGo) {
      publish();
    } else if (msg.proto_id() == kAck) {
      ++tally_.got;
      if (++answers_ == subs_.size()) {
        answers_ = 0;
        if (++round_ == rounds_) {
          actor().send(main_, kDone, tally_);
        } else {
          publish();
        }
      }
    }
    co_return;
  }

 private:
  void publish() {
    for (Pid s : subs_) actor().send(s, kPub);
  }

  std::vector<Pid> subs_;
  long rounds_;
  Pid main_;
  size_t answers_ = 0;
  long round_ = 0;
  Tally tally_;
};

bool wait_done(Inbox& inbox, long count) {
  for (long i = 0; i < count; ++i) {
    MessagePtr m = inbox.receive(Millis(120000));
    if (!m) {
      std::fprintf(stderr, "timed out waiting for done %ld/%ld\n", i, count);
      return false;
    }
  }
  return true;
}

// Asks each process for its Tally (the clock has stopped) and adds them up; false when one
// does not answer.
bool collect_tallies(Inbox& inbox, const std::vector<Pid>& pids, long& handled, long& got) {
  handled = got = 0;
  for (Pid p : pids) inbox.send(p, kReport);
  for (size_t i = 0; i < pids.size(); ++i) {
    MessagePtr m = inbox.receive(Millis(120000));
    if (!m) {
      std::fprintf(stderr, "timed out waiting for report %zu/%zu\n", i, pids.size());
      return false;
    }
    auto t = m->as<Tally>();
    handled += t.handled;
    got += t.got;
  }
  return true;
}

// The floor under any cross-worker message: two plain threads handing one cache line back
// and forth (each waits, spinning, for the other's store), no runtime at all. Prints the
// round trip; a cross-worker pingpong cannot beat 2 / round trip messages a second.
int run_handoff(long n) {
  alignas(64) std::atomic<long> there{0};
  alignas(64) std::atomic<long> back{0};
  auto t0 = std::chrono::steady_clock::now();
  std::thread peer([&] {
    for (long i = 1; i <= n; ++i) {
      while (there.load(std::memory_order_acquire) != i) {
      }
      back.store(i, std::memory_order_release);
    }
  });
  for (long i = 1; i <= n; ++i) {
    there.store(i, std::memory_order_release);
    while (back.load(std::memory_order_acquire) != i) {
    }
  }
  peer.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("handoff n=%ld time=%.3fs round_trip_ns=%.0f limit=%.0f msg/s\n", n, s, s / n * 1e9, 2.0 * n / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string what;
  long n = 0;
  NodeOptions opts;
  opts.capacity = 2'000'000;
  CLI::App app{"Runtime micro-benchmarks (compare with ../shared/anchors/run)"};
  behavior::add_version_flag(app, "bench_runtime");
  long procs = 1000;
  long subs = 10000;
  app.add_option("case", what, "pingpong, counting, ring, spawn, m2m, broadcast, or handoff (two bare threads)")
      ->required()
      ->check(CLI::IsMember({"pingpong", "counting", "ring", "spawn", "m2m", "broadcast", "handoff"}));
  app.add_option("n", n, "message (or process) count")->required()->check(CLI::PositiveNumber);
  app.add_option("--workers", opts.workers, "worker threads (0 = cores)");
  app.add_option("--slack", opts.placement_slack, "placement slack (0 = strict least-loaded)");
  app.add_flag("!--no-affinity", opts.affinity, "processes stay on the worker they were placed on");
  app.add_option("--procs", procs, "m2m: processes (each sends n/(2*procs) requests)")
      ->check(CLI::Range(1L, 1'000'000L));
  app.add_option("--subs", subs, "broadcast: subscribers (rounds = n/(2*subs))")
      ->check(CLI::Range(1L, 1'000'000L));
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  spdlog::set_level(spdlog::level::warn);
  if (what == "handoff") return run_handoff(n);
  // m2m: M requests per process; broadcast: rounds. Both need at least one.
  const long per_proc = n / (2 * procs);
  const long rounds = n / (2 * subs);
  if (what == "m2m" && per_proc < 1) {
    std::fprintf(stderr, "m2m: n must be at least 2*procs (%ld)\n", 2 * procs);
    return 2;
  }
  if (what == "broadcast" && rounds < 1) {
    std::fprintf(stderr, "broadcast: n must be at least 2*subs (%ld)\n", 2 * subs);
    return 2;
  }

  Node node(opts);
  if (!node.start().ok()) return 1;
  Inbox main(node);
  std::string extra;
  auto t0 = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> t_end;  // set by cases that check after
  long msgs = 0;
  bool ok = true;
  const int workers = node.options().workers;
  if (what == "pingpong") {
    Pid pong = *node.spawn(std::make_unique<Pong>());
    node.spawn(std::make_unique<Ping>(pong, static_cast<int>(n), main.pid()));
    ok = wait_done(main, 1);
    msgs = 2 * n;
  } else if (what == "counting") {
    Pid c = *node.spawn(std::make_unique<Counter>(n, main.pid()));
    for (long i = 0; i < n; ++i) main.send(c, kCount, static_cast<int>(i));
    ok = wait_done(main, 1);
    msgs = n;
  } else if (what == "ring") {
    constexpr int R = 100;
    std::vector<Pid> ring;
    for (int i = 0; i < R; ++i) ring.push_back(*node.spawn(std::make_unique<RingNode>(main.pid())));
    for (int i = 0; i < R; ++i) main.send(ring[i], kNext, ring[(i + 1) % R]);
    main.send(ring[0], kTok, static_cast<int>(n));
    ok = wait_done(main, 1);
    msgs = n;
  } else if (what == "spawn") {
    std::vector<Pid> pids;
    pids.reserve(n);
    long rss0 = rss_bytes();
    for (long i = 0; i < n; ++i) pids.push_back(*node.spawn(std::make_unique<Leaf>(main.pid())));
    auto t1 = std::chrono::steady_clock::now();
    // Let the workers take in the spawns, then measure what the processes occupy.
    while (node.stats().spawned < static_cast<uint64_t>(n)) std::this_thread::yield();
    long per = (rss_bytes() - rss0) / n;
    for (Pid p : pids) main.send(p, kGo, 1);
    ok = wait_done(main, n);
    msgs = n;
    extra = " spawn_time=" + std::to_string(std::chrono::duration<double>(t1 - t0).count()) +
            "s bytes_per_process=" + std::to_string(per);
  } else if (what == "m2m") {
    // Spawned and told their peers before the clock starts; the vector is complete before
    // the first kGo is sent, and only read afterwards.
    std::vector<Pid> peers;
    peers.reserve(static_cast<size_t>(procs));
    for (long i = 0; i < procs; ++i) {
      SpawnOptions so;
      so.shard = static_cast<int>(i % workers);
      peers.push_back(*node.spawn(std::make_unique<Peer>(static_cast<uint32_t>(i),
                                                          static_cast<uint32_t>(per_proc), &peers,
                                                          main.pid()),
                                  std::move(so)));
    }
    t0 = std::chrono::steady_clock::now();
    for (Pid p : peers) main.send(p, kGo);
    ok = wait_done(main, procs);
    t_end = std::chrono::steady_clock::now();
    msgs = 2 * procs * per_proc;
    long handled = 0, got = 0;
    if (ok) ok = collect_tallies(main, peers, handled, got);
    if (ok && (handled != procs * per_proc || got != procs * per_proc)) {
      std::fprintf(stderr, "m2m: count mismatch: %ld requests answered, %ld replies, want %ld\n",
                   handled, got, procs * per_proc);
      ok = false;
    }
    extra = " procs=" + std::to_string(procs);
  } else {
    std::vector<Pid> subscribers;
    subscribers.reserve(static_cast<size_t>(subs));
    for (long i = 0; i < subs; ++i) {
      SpawnOptions so;
      so.shard = static_cast<int>(i % workers);
      subscribers.push_back(*node.spawn(std::make_unique<Subscriber>(), std::move(so)));
    }
    SpawnOptions po;
    po.shard = 0;
    Pid publisher =
        *node.spawn(std::make_unique<Publisher>(subscribers, rounds, main.pid()), std::move(po));
    t0 = std::chrono::steady_clock::now();
    main.send(publisher, kGo);
    MessagePtr done = main.receive(Millis(120000));
    t_end = std::chrono::steady_clock::now();
    msgs = 2 * subs * rounds;
    long handled = 0, got = 0;
    if (!done) {
      std::fprintf(stderr, "timed out waiting for the publisher\n");
      ok = false;
    } else {
      got = done->as<Tally>().got;
      long ignored = 0;
      ok = collect_tallies(main, subscribers, handled, ignored);
    }
    if (ok && (handled != subs * rounds || got != subs * rounds)) {
      std::fprintf(stderr,
                   "broadcast: count mismatch: %ld publications answered, %ld answers, want %ld\n",
                   handled, got, subs * rounds);
      ok = false;
    }
    extra = " subs=" + std::to_string(subs);
  }
  if (!t_end) t_end = std::chrono::steady_clock::now();
  double s = std::chrono::duration<double>(*t_end - t0).count();
  if (!ok) return 1;
  if (!opts.affinity) extra += " affinity=0";
  std::printf("behavior %s n=%ld time=%.3fs rate=%.0f msg/s workers=%d slack=%u moved=%llu%s\n", what.c_str(),
              n, s, static_cast<double>(msgs) / s, node.options().workers, node.options().placement_slack,
              static_cast<unsigned long long>(node.stats().moved), extra.c_str());
  return 0;
}
