// call_and_reply.cpp — calls between processes: awaited (co_await), with a callback, with a
// timeout, a deferred reply, and the errors a caller can get instead of a reply.
#include <behavior/behavior.h>

#include <cstdio>

using namespace behavior;

constexpr uint32_t kAdd = 1, kSlowAdd = 2, kLater = 3, kRun = 4;

struct Pair {
  int a, b;
};
struct Deferred {
  ReplyTo to;
  int sum;
};

// Answers kAdd at once and kSlowAdd 200 ms later (a deferred reply through ReplyTo).
class Adder : public Router {
 public:
  Task<> route(Message& m) override {
    if (m.proto_id() == kAdd) {
      Pair p = m.as<Pair>();
      actor().reply(m, kAdd, p.a + p.b);
    } else if (m.proto_id() == kSlowAdd) {
      Pair p = m.as<Pair>();
      actor().send_after(Millis(200), kLater, Deferred{m.reply_to(), p.a + p.b});
    } else if (m.proto_id() == kLater) {
      auto& d = m.as<Deferred>();
      actor().reply(d.to, kSlowAdd, d.sum);
    }
    co_return;
  }
};

class Client : public Router {
 public:
  explicit Client(Pid done) : done_(done) {}
  Task<> route(Message&) override {
    Reply r = co_await actor().call("adder", kAdd, Pair{2, 3});
    std::printf("awaited call: 2+3 = %d\n", r.as<int>());

    Reply slow = co_await actor().call("adder", kSlowAdd, Pair{1, 1}, Millis(50));
    std::printf("call with a 50 ms timeout to a 200 ms reply: %s\n", slow.status().to_string().c_str());

    Reply missing = co_await actor().call("nobody", kAdd, Pair{0, 0});
    std::printf("call to an unknown name: %s\n", missing.status().to_string().c_str());

    // The callback form: this process goes on with other messages meanwhile.
    actor().call(*actor().node().whereis("adder"), kSlowAdd, Pair{20, 22}, Millis(1000),
                 [this](Reply reply) {
                   std::printf("callback call: 20+22 = %d\n", reply.as<int>());
                   actor().send(done_, kRun);
                 });
  }

 private:
  Pid done_;
};

int main() {
  Node node;
  if (!node.start().ok()) return 1;
  SpawnOptions named;
  named.name = "adder";
  node.spawn(std::make_unique<Adder>(), named);
  Inbox main(node);
  Pid client = *node.spawn(std::make_unique<Client>(main.pid()));
  node.send(client, kRun);
  bool done = main.receive(Millis(5000)) != nullptr;
  node.shutdown();
  return done ? 0 : 1;
}
