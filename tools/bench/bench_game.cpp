// bench_game.cpp — what the demo game costs the servers per message a player receives
// (issue 21, "players per box"). A LocalCluster (its own redis-server, the name server, one
// gateway, --local-servers local servers as OS processes), then the bot with --players over
// TCP, WebSocket and UDP in 25-player rooms at --rate actions per second, with all its checks
// (nothing lost, reordered or duplicated). Repeated --runs times on a fresh cluster each.
//
//   delivered              messages the players received, per second of play
//   p99_ms                 the chat round trip's p99 (a reliable broadcast back to the sender),
//                          after --warmup seconds of play (the logins' ramp is not in it)
//   server_cpu_us_per_msg  user + system CPU of the gateway, the local servers and the name
//                          server (from /proc/<pid>/stat, from the bot's start to its end,
//                          logins included) divided by the messages the players received
//
// One line per run, then the median with min and max of the runs:
//   behavior game run=<i> players=N rooms=R rate=A delivered=<msg/s> p99_ms=<ms> server_cpu_us_per_msg=<µs> ...
//   behavior game players=N rooms=R rate=A runs=K delivered=<median> p99_ms=<median> server_cpu_us_per_msg=<median> ...
// The bot runs on the same machine: on 2 cores it takes a share of them, as players would.
// Exit code 1 if a run failed or a bot counted a loss or an error (the lines are still printed).
// Usage: bench_game [--players 1000] [--rooms 0=players/25] [--rate 10] [--duration 20] [--warmup 5] [--runs 5] [--smoke]
// The gateway's flags come from the environment (BEHAVIOR_FLUSH_MS=10 bench_game ...).
#include <behavior/cli.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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

using namespace behavior;
using bench::median;

namespace {

using Clock = std::chrono::steady_clock;

// User + system CPU seconds of a process so far (fields 14 and 15 of /proc/<pid>/stat).
double cpu_seconds(pid_t pid) {
  std::string stat = bench::slurp("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');  // the name may hold spaces
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The servers' CPU so far: everything but Redis (the store, not the message path).
double servers_cpu(const tools::LocalCluster& cluster) {
  double total = 0;
  for (const tools::ServiceInfo& s : cluster.services()) {
    if (s.pid > 0 && s.name.rfind("redis", 0) != 0) total += cpu_seconds(s.pid);
  }
  return total;
}

double p99_of(const rapidjson::Value& d, const char* key) {
  if (!d.IsObject() || !d.HasMember(key) || !d[key].IsObject() || !d[key].HasMember("p99")) return -1;
  return d[key]["p99"].GetDouble();
}

struct Options {
  int local_servers = 2, players = 1000, rooms = 0, runs = 5, bot_threads = 0;
  double rate = 10, duration = 20, warmup = 5;
  std::string transports = "tcp,ws,udp";
};

struct Run {
  bool ok = false;
  double delivered = 0, p99_ms = 0, ping_p99_ms = 0, cpu_us = 0, server_cores = 0;
  uint64_t received = 0, errors = 0, lost = 0, reordered = 0, duplicated = 0;
  std::string error;
};

Run one_run(const Options& opt, const std::string& bin_dir) {
  Run run;
  tools::LocalCluster cluster(bench::bench_cluster_options(bin_dir, opt.local_servers));
  if (Status s = cluster.start(); !s.ok()) {
    run.error = "the cluster did not start: " + s.to_string();
    return run;
  }
  const std::string out = cluster.log_dir() + "/bot.out";
  std::vector<std::string> argv = {bin_dir + "/bot", "--name-server", cluster.name_server_url(), "--players",
                                   std::to_string(opt.players), "--duration", std::to_string(opt.duration),
                                   "--transports", opt.transports, "--rooms", std::to_string(opt.rooms), "--rate",
                                   std::to_string(opt.rate), "--warmup", std::to_string(opt.warmup), "--drain", "10",
                                   "--json", "--no-progress",
                                   "--user-prefix", "game"};
  if (opt.bot_threads > 0) {
    argv.push_back("--threads");
    argv.push_back(std::to_string(opt.bot_threads));
  }
  const double cpu0 = servers_cpu(cluster);
  const auto t0 = Clock::now();
  pid_t bot = bench::spawn_process(argv, out);
  int status = 0;
  ::waitpid(bot, &status, 0);
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = servers_cpu(cluster) - cpu0;
  const rapidjson::Document d = bench::bot_summary(out);
  run.received = bench::summary_u64(d, "msgs_received");
  run.errors = bench::summary_u64(d, "errors");
  run.lost = bench::summary_u64(d, "lost");
  run.reordered = bench::summary_u64(d, "reordered");
  run.duplicated = bench::summary_u64(d, "duplicated");
  run.p99_ms = p99_of(d, "chat_rtt_ms");
  run.ping_p99_ms = p99_of(d, "ping_rtt_ms");
  if (run.received != ~uint64_t{0} && run.received > 0) {
    run.delivered = static_cast<double>(run.received) / opt.duration;
    run.cpu_us = cpu * 1e6 / static_cast<double>(run.received);
  }
  run.server_cores = cpu / wall;
  if (run.received == ~uint64_t{0}) run.error = "no summary from the bot (see " + out + ")";
  const bool clean = run.errors == 0 && run.lost == 0 && run.reordered == 0 && run.duplicated == 0;
  if (run.error.empty() && !clean) run.error = "the bots counted errors or losses (see " + out + ")";
  if (run.error.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) run.error = "the bot failed";
  if (!cluster.stop() && run.error.empty()) run.error = "a service did not stop cleanly; logs in " + cluster.log_dir();
  run.ok = run.error.empty();
  return run;
}

double min_of(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }
double max_of(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  bool smoke = false;
  CLI::App app{"bench_game: server CPU per delivered message and latency of the demo game under bots"};
  app.add_option("--players", opt.players, "Bot players")->capture_default_str()->check(behavior::integer_in(3, 20000));
  app.add_option("--rooms", opt.rooms, "Rooms (0: one per 25 players)")->capture_default_str()->check(behavior::integer_in(0, 10000));
  app.add_option("--rate", opt.rate, "Actions per player per second")->capture_default_str();
  app.add_option("--duration", opt.duration, "Seconds of play per run")->capture_default_str();
  app.add_option("--warmup", opt.warmup, "Seconds of play (the logins' ramp) whose round trips are not in p99")->capture_default_str();
  app.add_option("--runs", opt.runs, "Runs, each on a fresh cluster")->capture_default_str()->check(behavior::integer_in(1, 50));
  app.add_option("--local-servers", opt.local_servers, "Local servers")->capture_default_str()->check(behavior::integer_in(1, 16));
  app.add_option("--transports", opt.transports, "The bot's transports")->capture_default_str();
  app.add_option("--bot-threads", opt.bot_threads, "The bot's threads (0: its default)")->capture_default_str();
  app.add_flag("--smoke", smoke, "One quick run: 60 players, 5 s");
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  if (smoke) {
    opt.players = 60;
    opt.duration = 5;
    opt.warmup = 1;
    opt.runs = 1;
  }
  if (opt.rooms == 0) opt.rooms = std::max(1, opt.players / 25);
  const std::string bin_dir = bench::self_dir();
  std::vector<double> delivered, p99, cpu_us, cores;
  bool all_ok = true;
  for (int i = 1; i <= opt.runs; ++i) {
    Run r = one_run(opt, bin_dir);
    std::printf("behavior game run=%d players=%d rooms=%d rate=%g delivered=%.0f p99_ms=%.1f ping_p99_ms=%.1f "
                "server_cpu_us_per_msg=%.2f server_cores=%.2f lost=%llu errors=%llu ok=%s%s%s\n",
                i, opt.players, opt.rooms, opt.rate, r.delivered, r.p99_ms, r.ping_p99_ms, r.cpu_us, r.server_cores,
                static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.errors),
                r.ok ? "yes" : "no", r.ok ? "" : " error=", r.ok ? "" : r.error.c_str());
    std::fflush(stdout);
    all_ok &= r.ok;
    if (r.received == ~uint64_t{0}) continue;
    delivered.push_back(r.delivered);
    p99.push_back(r.p99_ms);
    cpu_us.push_back(r.cpu_us);
    cores.push_back(r.server_cores);
  }
  std::printf("behavior game players=%d rooms=%d rate=%g runs=%d delivered=%.0f p99_ms=%.1f server_cpu_us_per_msg=%.2f "
              "delivered_min=%.0f delivered_max=%.0f p99_ms_min=%.1f p99_ms_max=%.1f cpu_us_min=%.2f cpu_us_max=%.2f "
              "server_cores=%.2f ok=%s\n",
              opt.players, opt.rooms, opt.rate, opt.runs, median(delivered), median(p99), median(cpu_us),
              min_of(delivered), max_of(delivered), min_of(p99), max_of(p99), min_of(cpu_us), max_of(cpu_us),
              median(cores), all_ok ? "yes" : "no");
  return all_ok ? 0 : 1;
}
