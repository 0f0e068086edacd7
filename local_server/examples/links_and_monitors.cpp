// links_and_monitors.cpp — a crash travels along a link and kills the linked process unless
// it traps exits; a monitor just gets told (DOWN) with the reason.
#include <behavior/behavior.h>

#include <cstdio>

#include <behavior/system.pb.h>

using namespace behavior;

constexpr uint32_t kCrash = 1, kWatch = 2, kReady = 3;

class Fragile : public Router {
 public:
  Task<> route(Message& m) override {
    if (m.proto_id() == kCrash) throw std::runtime_error("division by zero");
    co_return;
  }
};

// Traps exits and monitors: reports what it hears to main.
class Observer : public Router {
 public:
  Observer(Pid target, Pid main) : target_(target), main_(main) {}
  void on_start() override {
    actor().trap_exit(true);
    actor().link(target_);
    actor().monitor(target_);
    actor().send(main_, kReady);  // linked and monitoring: main may go on
  }
  Task<> route(Message& m) override {
    if (m.proto_id() == proto::kExit) {
      std::printf("observer (trapping exits) got EXIT: %s\n", m.as<pb::ExitSignal>().reason().c_str());
    } else if (m.proto_id() == proto::kDown) {
      std::printf("observer got DOWN: %s\n", m.as<pb::DownSignal>().reason().c_str());
      actor().send(main_, kWatch);
    }
    co_return;
  }

 private:
  Pid target_, main_;
};

int main() {
  Node node;
  if (!node.start().ok()) return 1;
  spdlog::set_level(spdlog::level::off);
  Inbox main(node);
  Pid fragile = *node.spawn(std::make_unique<Fragile>());
  node.spawn(std::make_unique<Observer>(fragile, main.pid()));
  bool ready = main.receive(Millis(5000)) != nullptr;
  node.send(fragile, kCrash);
  bool done = ready && main.receive(Millis(5000)) != nullptr;
  node.shutdown();
  return done ? 0 : 1;
}
