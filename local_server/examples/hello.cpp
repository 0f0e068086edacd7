// hello.cpp — the smallest program: start a node, spawn a named process, call it from main.
#include <behavior/behavior.h>

#include <cstdio>

using namespace behavior;

constexpr uint32_t kGreet = 1;

class Greeter : public Router {
 public:
  Task<> route(Message& m) override {
    if (m.proto_id() == kGreet) {
      ++greeted_;
      actor().reply(m, kGreet, "hello, " + m.as<std::string>() + " (#" + std::to_string(greeted_) + ")");
    }
    co_return;
  }

 private:
  int greeted_ = 0;  // the process's own state: no locks, one message at a time
};

int main() {
  Node node;
  if (!node.start().ok()) return 1;
  SpawnOptions options;
  options.name = "greeter";
  node.spawn(std::make_unique<Greeter>(), options);

  Inbox main(node);  // lets this plain thread call processes
  for (const char* who : {"world", "erlang"}) {
    Reply r = main.call("greeter", kGreet, std::string(who));
    if (!r.ok()) return 1;
    std::printf("%s\n", r.as<std::string>().c_str());
  }
  node.shutdown();
  return 0;
}
