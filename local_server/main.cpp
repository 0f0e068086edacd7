// main.cpp — local_server: parse config, build the node with its process kinds (the demo
// game's players and rooms), run until SIGINT/SIGTERM, shut down cleanly (every process
// gets on_stop).
#include <behavior/behavior.h>
#include <behavior/node_flags.h>

#include <cstdio>
#include <memory>

#include "demo_routers.h"
#include "game/game.h"

int main(int argc, char** argv) {
  behavior::Node::block_termination_signals();  // a signal before the wait is not lost
  behavior::ServerFlags flags;
  behavior::local_server::DemoOptions demo;
  behavior::game::GameOptions game;
  CLI::App app{"behavior local_server: hosts processes"};
  behavior::add_server_flags(app, flags);
  int idle_minutes = 20;
  app.add_option("--user-idle-minutes", idle_minutes, "Idle lifetime of user processes")
      ->envname("BEHAVIOR_USER_IDLE_MINUTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!behavior::finish_server_flags("local_server", flags, false)) return 2;
  game.user_idle = behavior::Millis(int64_t{idle_minutes} * 60 * 1000);
  behavior::Node node(flags.node);
  behavior::game::register_game_kinds(node, game);
  if (auto s = node.start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.to_string());
    return 1;
  }
  std::unique_ptr<behavior::Cluster> cluster;
  if (flags.clustered()) {
    cluster = std::make_unique<behavior::Cluster>(node, flags.cluster);
    if (auto s = cluster->start(); !s.ok()) {
      spdlog::critical("cannot join the cluster: {}", s.to_string());
      return 1;
    }
  }
  if (auto s = behavior::local_server::start_demo(node, demo); !s.ok()) {
    spdlog::critical("cannot start the demo processes: {}", s.to_string());
    return 1;
  }
  spdlog::info("local_server ready: workers={} capacity={} s2s_port={} metrics_port={}", node.options().workers,
               node.options().capacity, cluster ? cluster->s2s_port() : 0, cluster ? cluster->metrics_port() : 0);
  int sig = node.run_until_signal();
  if (cluster) cluster->stop();
  spdlog::info("local_server stopped on signal {}", sig);
  return 0;
}
