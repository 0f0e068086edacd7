// main.cpp — local_server: parse config, build the node with its process kinds, run until
// SIGINT/SIGTERM, shut down cleanly (every process gets on_stop).
#include <behavior/behavior.h>
#include <behavior/node_flags.h>

#include "demo_routers.h"

int main(int argc, char** argv) {
  behavior::ServerFlags flags;
  behavior::local_server::DemoOptions demo;
  CLI::App app{"behavior local_server: hosts processes"};
  behavior::add_server_flags(app, flags);
  int idle_minutes = 20;
  app.add_option("--user-idle-minutes", idle_minutes, "Idle lifetime of user processes")
      ->envname("BEHAVIOR_USER_IDLE_MINUTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  demo.user_idle = behavior::Millis(int64_t{idle_minutes} * 60 * 1000);

  behavior::init_logging(flags.node.node_id, flags.log_level);
  behavior::Node node(flags.node);
  behavior::local_server::register_demo_kinds(node, demo);
  if (auto s = node.start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.to_string());
    return 1;
  }
  if (auto s = behavior::local_server::start_demo(node, demo); !s.ok()) {
    spdlog::critical("cannot start the demo processes: {}", s.to_string());
    return 1;
  }
  spdlog::info("local_server ready: workers={} capacity={}", node.options().workers,
               node.options().capacity);
  int sig = node.run_until_signal();
  spdlog::info("local_server stopped on signal {}", sig);
  return 0;
}
