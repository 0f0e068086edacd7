// demo_routers.cpp — see demo_routers.h.
#include "demo_routers.h"

namespace behavior::local_server {
namespace {

// A user's process: echoes calls, forwards infos to its client, counts what it handled.
class EchoUser : public Router {
 public:
  void on_start() override { spdlog::debug("activated {} as {}", actor().name(), actor().pid().to_string()); }
  Task<> route(Message& m) override {
    ++handled_;
    switch (m.proto_id()) {
      case kEcho:
        if (m.is_call()) {
          actor().reply(m, kEcho, Body::bytes(std::string(m.body().raw())));
        } else {
          actor().send_to_client_bytes(kEcho, std::string(m.body().raw()));
        }
        break;
      case kCount:
        actor().reply(m, kCount, handled_);
        break;
      case kEchoUnreliable:
        actor().send_to_client_unreliable(kEchoUnreliable, std::string(m.body().raw()));
        break;
      default:
        if (m.is_call()) {
          actor().reply_error(m.reply_to(), Status::invalid_argument("unknown protoID"));
        } else if (!proto::is_system(m.proto_id())) {
          actor().send_error_to_client(1, "unknown protoID " + std::to_string(m.proto_id()));
        }
    }
    co_return;
  }

 private:
  uint64_t handled_ = 0;
};

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

void register_demo_kinds(Node& node, const DemoOptions& options) {
  KindOptions user;
  user.idle_timeout = options.user_idle;
  node.register_kind<EchoUser>("user", user);
}

Status start_demo(Node& node, const DemoOptions& options) {
  SpawnOptions o;
  o.name = "clock";
  o.kind = "clock";
  Result<Pid> pid = node.spawn(std::make_unique<Clock>(options.clock_period), o);
  return pid.ok() ? Status() : pid.status();
}

}  // namespace behavior::local_server
