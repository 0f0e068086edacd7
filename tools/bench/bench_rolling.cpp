// bench_rolling.cpp — how long a rolling upgrade of a local cluster takes (issue 17, "time to
// roll a 4-node cluster"): a LocalCluster (its own redis-server, name server, one gateway,
// --local-servers local servers as OS processes), --bots bots over TCP, WebSocket and UDP
// playing in rooms, then every local server rolled in turn (tools/launch/rolling.h: a
// replacement started and ready, the old one drained and evacuated with live migration,
// SIGTERM, exit 0). Repeated --runs times on a fresh cluster each; the bots' verdict is
// checked after each run (zero errors, lost, reordered, duplicated, state violations).
// One line per run, then the summary line:
//   behavior rolling run=<i> nodes=N bots=B roll_s=<> per_node_s=<a,b,...> moved=<> errors=0 ...
//   behavior rolling nodes=N bots=B runs=R roll_s_median=<> roll_s_min=<> roll_s_max=<> per_node_s_median=<> ...
// Exit code 1 if a roll failed or a bot counted an error (the lines are still printed).
// Usage: bench_rolling [--local-servers 4] [--bots 120] [--runs 5] [--new-bin PATH] [--smoke]
#include <behavior/cli.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench_bot.h"
#include "bench_process.h"
#include "bench_stats.h"
#include "local_cluster.h"
#include "rolling.h"

using namespace behavior;
using bench::median;

namespace {

using Clock = std::chrono::steady_clock;


struct Run {
  bool ok = false;
  double roll_s = 0;
  std::vector<double> per_node;
  int64_t moved = 0;
  uint64_t errors = 0, lost = 0, reordered = 0, duplicated = 0, state_violations = 0, joins = 0;
  std::string error;
};

Run one_run(int local_servers, int bots, const std::string& new_bin, const std::string& bin_dir) {
  Run run;
  tools::LocalCluster cluster(bench::bench_cluster_options(bin_dir, local_servers));
  if (Status s = cluster.start(); !s.ok()) {
    run.error = "the cluster did not start: " + s.to_string();
    return run;
  }
  const std::string out = cluster.log_dir() + "/bot.out";
  pid_t bot = bench::spawn_process({bin_dir + "/bot", "--name-server", cluster.name_server_url(), "--players",
                         std::to_string(bots), "--duration", "600", "--transports", "tcp,ws,udp", "--rooms", "6",
                         "--rate", "10", "--drain", "5", "--json", "--progress", "--user-prefix", "bench"},
                        out);
  const std::string all_in = "in room " + std::to_string(bots) + "/" + std::to_string(bots);
  const auto deadline = Clock::now() + std::chrono::seconds(90);
  while (bench::slurp(out).find(all_in) == std::string::npos) {
    if (Clock::now() > deadline) {
      ::kill(bot, SIGKILL);
      ::waitpid(bot, nullptr, 0);
      run.error = "the bots did not all join within 90 s (see " + out + ")";
      return run;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  tools::RollOptions ro;
  ro.binary = new_bin;
  tools::RollReport partial;
  const auto t0 = Clock::now();
  auto rolled = tools::roll_local_servers(cluster, ro, &partial);
  run.roll_s = std::chrono::duration<double>(Clock::now() - t0).count();
  for (const auto& n : partial.nodes) {
    run.per_node.push_back(n.total_s);
    run.moved += n.moved;
  }
  if (!rolled.ok()) run.error = "the roll failed: " + rolled.status().message();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // play on the new nodes
  ::kill(bot, SIGINT);
  int status = 0;
  ::waitpid(bot, &status, 0);
  const rapidjson::Document d = bench::bot_summary(out);
  run.errors = bench::summary_u64(d, "errors");
  run.lost = bench::summary_u64(d, "lost");
  run.reordered = bench::summary_u64(d, "reordered");
  run.duplicated = bench::summary_u64(d, "duplicated");
  run.state_violations = bench::summary_u64(d, "state_violations");
  run.joins = bench::summary_u64(d, "joins");
  const bool clean = run.errors == 0 && run.lost == 0 && run.reordered == 0 && run.duplicated == 0 &&
                     run.state_violations == 0 && run.joins == static_cast<uint64_t>(bots);
  if (run.error.empty() && !clean) run.error = "the bots counted errors (see " + out + ")";
  if (run.error.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) run.error = "the bot failed";
  if (!cluster.stop() && run.error.empty()) run.error = "a service did not stop cleanly; logs in " + cluster.log_dir();
  run.ok = run.error.empty();
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  int local_servers = 4, bots = 120, runs = 5;
  std::string new_bin;
  bool smoke = false;
  CLI::App app{"bench_rolling: time to roll every local server of a local cluster under bots"};
  app.add_option("--local-servers", local_servers, "Local servers in the cluster")
      ->capture_default_str()
      ->check(behavior::integer_in(1, 16));
  app.add_option("--bots", bots, "Bot players (TCP, WebSocket, UDP)")->capture_default_str()->check(behavior::integer_in(3, 5000));
  app.add_option("--runs", runs, "Rolls, each on a fresh cluster")->capture_default_str()->check(behavior::integer_in(1, 50));
  app.add_option("--new-bin", new_bin, "The new local_server (default: the one next to this program)");
  app.add_flag("--smoke", smoke, "One quick run: 2 local servers, 12 bots");
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  if (smoke) {
    local_servers = 2;
    bots = 12;
    runs = 1;
  }
  const std::string bin_dir = bench::self_dir();
  std::vector<double> rolls, per_node;
  uint64_t errors = 0, lost = 0, reordered = 0, duplicated = 0, violations = 0;
  int64_t moved = 0;
  bool all_ok = true;
  for (int i = 1; i <= runs; ++i) {
    Run r = one_run(local_servers, bots, new_bin, bin_dir);
    std::string nodes;
    char buf[32];
    for (double s : r.per_node) {
      std::snprintf(buf, sizeof buf, "%s%.2f", nodes.empty() ? "" : ",", s);
      nodes += buf;
    }
    std::printf("behavior rolling run=%d nodes=%d bots=%d roll_s=%.2f per_node_s=%s moved=%lld errors=%llu lost=%llu "
                "reordered=%llu duplicated=%llu state_violations=%llu ok=%s%s%s\n",
                i, local_servers, bots, r.roll_s, nodes.empty() ? "-" : nodes.c_str(), static_cast<long long>(r.moved),
                static_cast<unsigned long long>(r.errors), static_cast<unsigned long long>(r.lost),
                static_cast<unsigned long long>(r.reordered), static_cast<unsigned long long>(r.duplicated),
                static_cast<unsigned long long>(r.state_violations), r.ok ? "yes" : "no", r.ok ? "" : " error=",
                r.ok ? "" : r.error.c_str());
    std::fflush(stdout);
    all_ok &= r.ok;
    if (!r.ok) continue;
    rolls.push_back(r.roll_s);
    per_node.insert(per_node.end(), r.per_node.begin(), r.per_node.end());
    moved += r.moved;
    errors += r.errors;
    lost += r.lost;
    reordered += r.reordered;
    duplicated += r.duplicated;
    violations += r.state_violations;
  }
  std::printf("behavior rolling nodes=%d bots=%d runs=%d ok_runs=%zu roll_s_median=%.2f roll_s_min=%.2f roll_s_max=%.2f "
              "per_node_s_median=%.2f moved_per_run=%.0f errors=%llu lost=%llu reordered=%llu duplicated=%llu "
              "state_violations=%llu\n",
              local_servers, bots, runs, rolls.size(), median(rolls),
              rolls.empty() ? 0 : *std::min_element(rolls.begin(), rolls.end()),
              rolls.empty() ? 0 : *std::max_element(rolls.begin(), rolls.end()), median(per_node),
              rolls.empty() ? 0.0 : static_cast<double>(moved) / static_cast<double>(rolls.size()),
              static_cast<unsigned long long>(errors), static_cast<unsigned long long>(lost),
              static_cast<unsigned long long>(reordered), static_cast<unsigned long long>(duplicated),
              static_cast<unsigned long long>(violations));
  return all_ok ? 0 : 1;
}
