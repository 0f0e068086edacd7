// demo_routers.cpp — see demo_routers.h.
#include "demo_routers.h"

namespace behavior::local_server {
namespace {

// Logs the node's counters periodically, so an operator sees the node is alive.
class Clock : public Router {
 public:
  explicit Clock(Millis period) : period_(period) {}
  void on_start() override { actor().tick(period_, kClockTick); }
  Task<> route(Message& m) override {
    if (m.proto_id() == kClockTick) {
      NodeStats s = actor().node().stats();
      spdlog::info("clock: live={} spawned={} exited={} crashed={} messages={} dropped={}", s.live,
                   s.spawned, s.exited, s.crashed, s.messages, s.dropped);
    }
    co_return;
  }

 private:
  Millis period_;
};

}  // namespace

Status start_demo(Node& node, const DemoOptions& options) {
  SpawnOptions o;
  o.name = "clock";
  o.kind = "clock";
  Result<Pid> pid = node.spawn(std::make_unique<Clock>(options.clock_period), o);
  return pid.ok() ? Status() : pid.status();
}

}  // namespace behavior::local_server
