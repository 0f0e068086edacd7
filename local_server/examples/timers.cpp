// timers.cpp — send_after, a periodic tick, and cancelling a timer, all delivered as
// ordinary messages to the process that asked for them.
#include <behavior/behavior.h>

#include <cstdio>

using namespace behavior;

constexpr uint32_t kStart = 1, kTick = 2, kOnce = 3, kNever = 4, kDone = 5;

class Ticker : public Router {
 public:
  explicit Ticker(Pid done) : done_(done) {}
  Task<> route(Message& m) override {
    switch (m.proto_id()) {
      case kStart:
        tick_ = actor().tick(Millis(20), kTick);
        actor().send_after(Millis(50), kOnce, std::string("fired once after 50 ms"));
        actor().cancel_timer(actor().send_after(Millis(30), kNever));
        break;
      case kTick:
        std::printf("tick %d\n", ++ticks_);
        if (ticks_ == 5) {
          actor().cancel_timer(tick_);
          actor().send(done_, kDone);
        }
        break;
      case kOnce:
        std::printf("%s\n", m.as<std::string>().c_str());
        break;
      case kNever:
        std::printf("a cancelled timer fired: this is a bug\n");
        break;
    }
    co_return;
  }

 private:
  Pid done_;
  TimerId tick_ = 0;
  int ticks_ = 0;
};

int main() {
  Node node;
  if (!node.start().ok()) return 1;
  Inbox main(node);
  Pid t = *node.spawn(std::make_unique<Ticker>(main.pid()));
  node.send(t, kStart);
  bool done = main.receive(Millis(5000)) != nullptr;
  node.shutdown();
  return done ? 0 : 1;
}
