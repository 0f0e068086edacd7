// bench_runtime.cpp — Savina-style micro-benchmarks of the process runtime, with the same
// cases, message counts and semantics as ../shared/anchors (caf_savina.cpp, anch.erl), so
// the lines can be compared side by side:
//   behavior <case> n=<N> time=<s>s rate=<R> msg/s [key=value ...]
// Usage: bench_runtime pingpong|counting|ring|spawn N [--workers W] [--slack S]
#include <behavior/cli.h>
#include <behavior/behavior.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

using namespace behavior;

namespace {

constexpr uint32_t kPing = 1, kPong = 2, kDone = 3, kNext = 4, kTok = 5, kGo = 6, kCount = 7;

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

}  // namespace

int main(int argc, char** argv) {
  std::string what;
  long n = 0;
  NodeOptions opts;
  opts.capacity = 2'000'000;
  CLI::App app{"Runtime micro-benchmarks (compare with ../shared/anchors/run)"};
  behavior::add_version_flag(app, "bench_runtime");
  app.add_option("case", what, "pingpong, counting, ring or spawn")
      ->required()
      ->check(CLI::IsMember({"pingpong", "counting", "ring", "spawn"}));
  app.add_option("n", n, "message (or process) count")->required()->check(CLI::PositiveNumber);
  app.add_option("--workers", opts.workers, "worker threads (0 = cores)");
  app.add_option("--slack", opts.placement_slack, "placement slack (0 = strict least-loaded)");
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  spdlog::set_level(spdlog::level::warn);

  Node node(opts);
  if (!node.start().ok()) return 1;
  Inbox main(node);
  std::string extra;
  auto t0 = std::chrono::steady_clock::now();
  long msgs = 0;
  bool ok = true;
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
  } else {
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
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!ok) return 1;
  std::printf("behavior %s n=%ld time=%.3fs rate=%.0f msg/s workers=%d slack=%u%s\n", what.c_str(),
              n, s, static_cast<double>(msgs) / s, node.options().workers,
              node.options().placement_slack, extra.c_str());
  return 0;
}
