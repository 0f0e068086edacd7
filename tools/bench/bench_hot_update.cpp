// bench_hot_update.cpp — what a hot update costs (docs/hot_update.md): one in-process node
// (the stock local_server's runtime, exporting its symbols like local_server does) loads the
// demo game v1 (lib/libbehavior_demo_game.so), activates P players ("user/N", standalone: no
// cluster, no saves), then reloads lib/libbehavior_demo_game_v2.so, which upgrades every
// live player in place. Meanwhile --callers threads call random players in a loop (kEcho,
// call and reply, as a gateway's traffic would be): the latency of the calls made during
// the reload against those before it is the pause a client sees. Every call is checked: a
// call that fails is a lost message. Exit code 1 if the reload failed, a call failed or a
// player did not end on v2.
// One line:
//   behavior hot_update processes=P upgrade_s=<s> per_s=<processes/s> longest_pause_ms=<>
//     call_p50_us=<before> call_p99_us=<before> reload_p50_us=<> reload_p99_us=<> reload_max_us=<> calls=<n> failed=<n>
// Usage: bench_hot_update [-P N] [--callers C] [--lib-dir DIR] [--smoke]
#include <behavior/behavior.h>
#include <behavior/cli.h>
#include <behavior/ids.h>
#include <behavior/kinds_library.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "bench_stats.h"

namespace {

using namespace behavior;
using bench::percentile;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kEcho = 1;  // the demo player's echo call (local_server/game/game.h)

}  // namespace

int main(int argc, char** argv) {
  int processes = 100000;
  int callers = 2;
  std::string lib_dir = "build/lib";
  bool smoke = false;
  CLI::App app{"bench_hot_update: upgrading live processes in place"};
  app.add_option("-P,--processes", processes, "Live players to upgrade")->check(CLI::PositiveNumber);
  app.add_option("--callers", callers, "Threads calling random players during the reload")->check(CLI::PositiveNumber);
  app.add_option("--lib-dir", lib_dir, "Where libbehavior_demo_game{,_v2}.so are");
  app.add_flag("--smoke", smoke, "A small run (CI): 2000 processes");
  CLI11_PARSE(app, argc, argv);
  if (smoke) processes = 2000;
  spdlog::set_level(spdlog::level::warn);

  NodeOptions no;
  no.workers = 2;
  no.capacity = static_cast<uint32_t>(processes) * 2;
  Node node(no);
  // No interval saves: this node has no store.
  KindsHost host(node, {{"user_save_ms", "0"}, {"room_save_ms", "0"}});
  if (Status s = host.load({lib_dir + "/libbehavior_demo_game.so"}, nullptr); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  }
  if (!node.start().ok()) return 1;
  std::vector<Pid> pids;
  pids.reserve(static_cast<size_t>(processes));
  for (int i = 0; i < processes; ++i) {
    Result<Pid> p = node.spawn_kind("user", "user/p" + std::to_string(i));
    if (!p.ok()) {
      std::fprintf(stderr, "spawn: %s\n", p.status().to_string().c_str());
      return 1;
    }
    pids.push_back(*p);
  }

  // Callers: sequential calls to random players; each sample is (start, latency).
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failed{0}, calls{0};
  struct Sample {
    Clock::time_point at;
    int64_t us;
  };
  std::vector<std::vector<Sample>> samples(static_cast<size_t>(callers));
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      Inbox inbox(node);
      std::mt19937 rng(static_cast<unsigned>(c) + 1);
      std::uniform_int_distribution<size_t> pick(0, pids.size() - 1);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        Reply r = inbox.call(pids[pick(rng)], kEcho, std::string("ping"), Millis(10000));
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        calls.fetch_add(1, std::memory_order_relaxed);
        if (!r.ok() || r.message().body().raw() != "ping") failed.fetch_add(1, std::memory_order_relaxed);
        samples[static_cast<size_t>(c)].push_back({t0, us});
      }
    });
  }
  std::this_thread::sleep_for(Millis(smoke ? 300 : 1000));
  const auto reload_start = Clock::now();
  ReloadReport r = host.reload(lib_dir + "/libbehavior_demo_game_v2.so");
  const auto reload_end = Clock::now();
  std::this_thread::sleep_for(Millis(smoke ? 200 : 500));
  stop = true;
  for (auto& t : threads) t.join();
  if (!r.status.ok()) {
    std::fprintf(stderr, "%s\n", r.status.to_string().c_str());
    return 1;
  }
  std::vector<int64_t> before, during;
  for (const auto& v : samples) {
    for (const Sample& s : v) {
      if (s.at < reload_start) before.push_back(s.us);
      if (s.at >= reload_start && s.at < reload_end) during.push_back(s.us);
    }
  }
  const bool all_upgraded = r.upgraded == static_cast<uint64_t>(processes) && r.busy == 0 && r.failed == 0;
  std::printf(
      "behavior hot_update processes=%d upgrade_s=%.3f per_s=%.0f longest_pause_ms=%.2f call_p50_us=%.0f "
      "call_p99_us=%.0f reload_p50_us=%.0f reload_p99_us=%.0f reload_max_us=%.0f reload_calls=%zu calls=%llu "
      "failed=%llu upgraded=%llu\n",
      processes, r.seconds, r.seconds > 0 ? static_cast<double>(r.upgraded) / r.seconds : 0.0, r.longest_slice_ms,
      percentile(before, 0.5), percentile(before, 0.99), percentile(during, 0.5), percentile(during, 0.99),
      percentile(during, 1.0), during.size(), static_cast<unsigned long long>(calls.load()),
      static_cast<unsigned long long>(failed.load()), static_cast<unsigned long long>(r.upgraded));
  node.shutdown();
  return failed.load() == 0 && all_upgraded ? 0 : 1;
}
