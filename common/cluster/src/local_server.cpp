// local_server.cpp — run_local_server (local_server.h): the stock local_server's whole life.
// Parse the flags, load the kinds libraries, build the node, register the kinds, start the
// node and the cluster, spawn the node's clock, run until a signal, stop.
#include "behavior/local_server.h"

#include <behavior/behavior.h>
#include <behavior/node_flags.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace behavior {
namespace {

constexpr uint32_t kClockTick = 3;
constexpr Millis kClockPeriod{10000};

// Logs the node's counters every ten seconds, so an operator sees the node is alive.
class Clock : public Router {
 public:
  void on_start() override { actor().tick(kClockPeriod, kClockTick); }
  Task<> route(Message& m) override {
    if (m.proto_id() == kClockTick) {
      NodeStats s = actor().node().stats();
      spdlog::info("clock: live={} spawned={} exited={} crashed={} messages={} dropped={}", s.live, s.spawned,
                   s.exited, s.crashed, s.messages, s.dropped);
    }
    co_return;
  }
};

Status start_clock(Node& node) {
  SpawnOptions o;
  o.name = "clock";
  o.kind = "clock";
  Result<Pid> pid = node.spawn(std::make_unique<Clock>(), o);
  return pid.ok() ? Status() : pid.status();
}

// "key=value" settings into a map; false (with the bad one) when one has no '='.
bool parse_kinds_options(const std::vector<std::string>& in, std::map<std::string, std::string>* out,
                         std::string* bad) {
  for (const auto& kv : in) {
    if (kv.empty()) continue;  // an empty BEHAVIOR_KINDS_OPTS
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      *bad = kv;
      return false;
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return true;
}

}  // namespace

int run_local_server(int argc, char** argv, std::string game, RegisterKindsFn register_kinds) {
  // A reload's probe (KindsHost::set_probe): this binary, loading libraries in a child.
  if (argc >= 2 && std::string(argv[1]) == "--kinds-probe") {
    Status s = KindsHost::probe(std::vector<std::string>(argv + 2, argv + argc));
    if (!s.ok()) fprintf(stderr, "%s\n", s.message().c_str());
    // Only the loading was the question: no teardown (nor a sanitizer's exit checks) answers.
    spdlog::default_logger()->flush();
    fflush(stdout);
    fflush(stderr);
    std::_Exit(s.ok() ? 0 : 1);
  }
  Node::block_termination_signals();  // a signal before the wait is not lost
  ServerFlags flags;
  CLI::App app{"behavior local_server: hosts processes" + (game.empty() ? std::string() : " (" + game + ")")};
  add_server_flags(app, flags);
  int idle_minutes = 20;
  app.add_option("--user-idle-minutes", idle_minutes,
                 "Idle lifetime of user processes (passed to the kinds as user_idle_minutes)")
      ->envname("BEHAVIOR_USER_IDLE_MINUTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  std::vector<std::string> libraries;
  app.add_option("--kinds-lib", libraries, "A shared library of process kinds to load (repeatable)")
      ->envname("BEHAVIOR_KINDS_LIB")
      ->delimiter(',');
  app.add_option("--admin-token", flags.cluster.admin_token,
                 "Bearer token for POST /v1/reload on the metrics port (empty: from loopback only)")
      ->envname("BEHAVIOR_ADMIN_TOKEN");
  std::vector<std::string> kinds_opts;
  app.add_option("--kinds-opt", kinds_opts, "key=value setting for the kinds (repeatable)")
      ->envname("BEHAVIOR_KINDS_OPTS")
      ->delimiter(',');
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  if (!finish_server_flags("local_server", flags, false)) return kUsageExit;
  std::map<std::string, std::string> options;
  std::string bad;
  if (!parse_kinds_options(kinds_opts, &options, &bad)) {
    fprintf(stderr, "local_server: --kinds-opt %s: expected key=value\n", bad.c_str());
    return kUsageExit;
  }
  options.emplace("user_idle_minutes", std::to_string(idle_minutes));

  Node node(flags.node);
  // Each kind's entry holds the library its code lives in, and each process its kind's
  // entry: no process outlives its code, across reloads too.
  KindsHost kinds(node, options);
  kinds.set_probe("/proc/self/exe");
  std::vector<std::function<Status(Node&)>> started_hooks;
  // The binary's own kinds first, then each library's, in the order given.
  if (register_kinds) {
    if (Status s = kinds.register_builtin(register_kinds, game.empty() ? "the game" : game, &started_hooks); !s.ok()) {
      spdlog::critical("{}", s.to_string());
      return 1;
    }
  }
  if (Status s = kinds.load(libraries, &started_hooks); !s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  if (node.kinds().empty()) {
    spdlog::warn("local_server hosts no game: give --kinds-lib (the demo game is lib/libbehavior_demo_game.so)");
  }
  flags.cluster.reload = [&kinds](const std::string& path, std::function<void(bool, std::string)> done) {
    kinds.reload_async(path, [done = std::move(done)](ReloadReport r) { done(r.status.ok(), r.to_json()); });
  };
  if (auto s = node.start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.to_string());
    return 1;
  }
  std::unique_ptr<Cluster> cluster;
  if (flags.clustered()) {
    cluster = std::make_unique<Cluster>(node, flags.cluster);
    if (auto s = cluster->start(); !s.ok()) {
      spdlog::critical("cannot join the cluster: {}", s.to_string());
      return 1;
    }
  }
  if (auto s = start_clock(node); !s.ok()) {
    spdlog::critical("cannot start the node's clock: {}", s.to_string());
    return 1;
  }
  for (auto& hook : started_hooks) {
    if (auto s = hook(node); !s.ok()) {
      spdlog::critical("cannot start the game: {}", s.to_string());
      if (cluster) cluster->stop();
      return 1;
    }
  }
  if (!cluster || wait_until_ready(*cluster, "local_server")) {
    spdlog::info("local_server ready: workers={} capacity={} s2s_port={} metrics_port={}", node.options().workers,
                 node.options().capacity, cluster ? cluster->s2s_port() : 0, cluster ? cluster->metrics_port() : 0);
  }
  int sig = node.run_until_signal();
  kinds.join();  // a reload in progress answers before the cluster goes
  if (cluster) cluster->stop();
  spdlog::info("local_server stopped on signal {}", sig);
  return 0;
}

}  // namespace behavior
