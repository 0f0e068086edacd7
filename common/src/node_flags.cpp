// node_flags.cpp — see node_flags.h.
#include "behavior/node_flags.h"

namespace behavior {

void add_server_flags(CLI::App& app, ServerFlags& f) {
  app.set_config("--config", "", "TOML or INI file with the same keys as the long flags")
      ->envname("BEHAVIOR_CONFIG");
  app.add_option("--node-id", f.node.node_id, "Node id, unique in the cluster (1-65535)")
      ->envname("BEHAVIOR_NODE_ID")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--workers", f.node.workers, "Worker threads (0 = one per core)")
      ->envname("BEHAVIOR_WORKERS")
      ->check(CLI::Range(0, 254))
      ->capture_default_str();
  app.add_option("--capacity", f.node.capacity, "Processes this node is meant to hold")
      ->envname("BEHAVIOR_CAPACITY")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--placement-slack", f.node.placement_slack,
                 "Spawns stay on the spawner's worker while within this many processes of the "
                 "least loaded one (0 = strict least-loaded)")
      ->envname("BEHAVIOR_PLACEMENT_SLACK")
      ->capture_default_str();
  app.add_option("--spin-us", f.node.spin_us, "Microseconds an idle worker polls before sleeping")
      ->envname("BEHAVIOR_SPIN_US")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error or off")
      ->envname("BEHAVIOR_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
}

}  // namespace behavior
