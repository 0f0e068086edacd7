// demo_routers.h — the node's own housekeeping process: a "clock" that logs the node's
// counters. The game's kinds ("user", "room") are in game/game.h.
#pragma once

#include <behavior/behavior.h>

namespace behavior::local_server {

inline constexpr uint32_t kClockTick = 3;

struct DemoOptions {
  Millis clock_period{10000};
};

// Spawns the node's "clock" process (a named singleton).
Status start_demo(Node& node, const DemoOptions& options);

}  // namespace behavior::local_server
