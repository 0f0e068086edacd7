// supervisor.cpp — a one_for_one supervisor restarts a crashed child; the restart intensity
// (here 2 restarts in 5 s) makes it give up when a child keeps crashing.
#include <behavior/behavior.h>

#include <cstdio>
#include <thread>

using namespace behavior;

constexpr uint32_t kCrash = 1;

class Worker : public Router {
 public:
  void on_start() override { std::printf("  %s started as %s\n", actor().name().c_str(), actor().pid().to_string().c_str()); }
  Task<> route(Message& m) override {
    if (m.proto_id() == kCrash) throw std::runtime_error("bad input");
    co_return;
  }
};

ChildSpec worker(const std::string& id) {
  ChildSpec spec;
  spec.id = id;
  spec.start = [] { return std::make_unique<Worker>(); };
  spec.options.name = id;
  return spec;
}

Pid wait_for_new(Node& node, const std::string& name, Pid old) {
  for (int i = 0; i < 5000; ++i) {
    auto pid = node.whereis(name);
    if (pid && *pid != old) return *pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Pid();
}

int main() {
  Node node;
  if (!node.start().ok()) return 1;
  spdlog::set_level(spdlog::level::off);  // the crashes are the point here; keep output short
  SupervisorFlags flags{Strategy::kOneForOne, /*intensity=*/2, Millis(5000)};
  std::printf("starting the supervisor\n");
  Pid sup = *node.spawn(std::make_unique<Supervisor>(flags, std::vector<ChildSpec>{worker("db"), worker("cache")}));
  Pid db = wait_for_new(node, "db", Pid());
  wait_for_new(node, "cache", Pid());
  for (int i = 1; i <= 2; ++i) {
    std::printf("crash %d of db\n", i);
    node.send(db, kCrash);
    db = wait_for_new(node, "db", db);
  }
  std::printf("crash 3 of db, the third restart within 5 s: one too many\n");
  node.send(db, kCrash);
  bool gone = false;
  for (int i = 0; i < 5000 && !gone; ++i) {
    gone = !node.whereis("db") && !node.whereis("cache");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::printf("the supervisor gave up and took its children down: %s\n", gone ? "yes" : "no");
  (void)sup;
  node.shutdown();
  return gone ? 0 : 1;
}
