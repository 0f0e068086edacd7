// demo_routers.h — the process kinds local_server hosts until the demo game arrives: an
// "echo" user process and a "clock" that logs the node's counters.
#pragma once

#include <behavior/behavior.h>

namespace behavior::local_server {

// ProtoIDs of the demo kinds.
inline constexpr uint32_t kEcho = 1;      // call: replies with the same body; info: to client
inline constexpr uint32_t kCount = 2;     // call: replies with how many messages it handled
inline constexpr uint32_t kEchoUnreliable = 3;  // info: back to the client, unreliable on UDP
inline constexpr uint32_t kClockTick = 3;

struct DemoOptions {
  Millis user_idle{20 * 60 * 1000};  // the seed's 20 minutes
  Millis clock_period{10000};
};

void register_demo_kinds(Node& node, const DemoOptions& options);
// Spawns the node's "clock" process (a named singleton).
Status start_demo(Node& node, const DemoOptions& options);

}  // namespace behavior::local_server
