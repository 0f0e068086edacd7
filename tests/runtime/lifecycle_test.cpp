// lifecycle_test.cpp — spawning many processes across workers, names (model center),
// kinds and ensure() (one activation under races), the writer path to a client, and a
// graceful node shutdown that runs every on_stop.
#include <spdlog/sinks/ringbuffer_sink.h>

#include <atomic>
#include <thread>

#include "runtime.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

constexpr uint32_t kHello = 70, kStarted = 71;

class Lifecycle : public NodeTest {};

TEST_F(Lifecycle, ManyProcessesSpreadOverWorkersAndAllAnswer) {
  constexpr int kCount = 5000;
  Pid p = probe().pid();
  std::vector<Pid> pids;
  for (int i = 0; i < kCount; ++i) {
    pids.push_back(spawn([p](Actor& self, Message&) -> Task<> {
      self.send(p, kHello, static_cast<int>(self.pid().shard()));
      co_return;
    }));
  }
  for (Pid pid : pids) node().send(pid, kGo);
  int per_shard[2] = {0, 0};
  for (int i = 0; i < kCount; ++i) {
    MessagePtr m = probe().receive(Millis(10000));
    ASSERT_NE(m, nullptr) << i;
    ++per_shard[m->as<int>()];
  }
  // Placement keeps the workers within the slack of each other.
  EXPECT_LE(std::abs(per_shard[0] - per_shard[1]), static_cast<int>(node().options().placement_slack) + 1);
  EXPECT_EQ(node().stats().live, static_cast<uint64_t>(kCount));
}

// The cluster directory spawns a name's process held, and discards it when another node wins
// the activation: a normal race, logged at debug (it was 307 ERROR lines in a 300-bot run).
TEST_F(Lifecycle, ADiscardedHeldProcessEndsQuietlyWithReasonDiscarded) {
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  auto previous = spdlog::default_logger();
  const auto previous_level = spdlog::get_level();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", ring));
  spdlog::set_level(spdlog::level::debug);
  SpawnOptions o;
  o.name = "room/lost-race";
  o.held = true;
  std::atomic<bool> started{false};
  Pid held = spawn([&started](Actor&, Message&) -> Task<> {
    started = true;
    co_return;
  }, o);
  watch(held);
  detail::runtime_of(node()).release(held, false);
  EXPECT_EQ(next_down_reason(probe()), std::string(reason::kDiscarded));
  EXPECT_FALSE(started.load());
  EXPECT_FALSE(node().whereis("room/lost-race").has_value());
  spdlog::set_default_logger(previous);
  spdlog::set_level(previous_level);
  bool logged_at_debug = false;
  for (const auto& line : ring->last_formatted()) {
    if (line.find("discarded") == std::string::npos) continue;
    EXPECT_EQ(line.find("[error]"), std::string::npos) << line;
    logged_at_debug |= line.find("[debug]") != std::string::npos;
  }
  EXPECT_TRUE(logged_at_debug);
}

TEST_F(Lifecycle, StrictLeastLoadedAlternatesWorkers) {
  node().shutdown();
  NodeOptions o;
  o.workers = 2;
  o.placement_slack = 0;
  Node strict(o);
  ASSERT_TRUE(strict.start().ok());
  Result<Pid> a = strict.spawn_fn([](Actor&, Message&) -> Task<> { co_return; });
  Result<Pid> b = strict.spawn_fn([](Actor&, Message&) -> Task<> { co_return; });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->shard(), b->shard());
}

TEST_F(Lifecycle, NamesAreUniqueAndFreedOnExit) {
  SpawnOptions o;
  o.name = "user/1";
  Pid first = spawn([](Actor& self, Message&) -> Task<> {
    self.stop();
    co_return;
  }, o);
  Result<Pid> dup = node().spawn_fn([](Actor&, Message&) -> Task<> { co_return; }, o);
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(node().whereis("user/1"), first);
  node().send(first, kGo);
  ASSERT_TRUE(wait_until([&] { return !node().whereis("user/1").has_value(); }));
  Result<Pid> again = node().spawn_fn([](Actor&, Message&) -> Task<> { co_return; }, o);
  EXPECT_TRUE(again.ok());
}

struct Counted : Router {
  static inline std::atomic<int> starts{0};
  void on_start() override { starts.fetch_add(1); }
  Task<> route(Message& m) override {
    actor().reply(m, kHello, actor().name());
    co_return;
  }
};

TEST_F(Lifecycle, EnsureActivatesANameExactlyOnceUnderRaces) {
  Counted::starts = 0;
  node().register_kind<Counted>("user");
  constexpr int kThreads = 8, kRounds = 50;
  std::vector<std::thread> threads;
  std::vector<Pid> seen(kThreads * kRounds);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        Result<Pid> pid = node().ensure("user/" + std::to_string(r), "user");
        if (pid.ok()) seen[t * kRounds + r] = *pid;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int r = 0; r < kRounds; ++r) {
    for (int t = 1; t < kThreads; ++t) {
      ASSERT_EQ(seen[t * kRounds + r], seen[r]) << "user/" << r << " has two pids";
    }
  }
  ASSERT_TRUE(wait_until([] { return Counted::starts.load() >= kRounds; }));
  expect_silence(probe(), Millis(50));
  EXPECT_EQ(Counted::starts.load(), kRounds);
  Reply r = probe().call("user/3", kHello);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.as<std::string>(), "user/3");
  EXPECT_EQ(node().ensure("user/x", "no-such-kind").status().code(), Code::kNotFound);
}

// The seed's NewActor + Sent2client/Sent2clientByte/SentError2client: the user's process
// writes to its writer, here a local stand-in for the gateway's connection process.
TEST_F(Lifecycle, ClientFramesGoToTheWriter) {
  Pid p = probe().pid();
  Pid conn = spawn([p](Actor& self, Message& m) -> Task<> {
    if (m.kind() == Kind::kClient) {
      std::string line = std::to_string(m.proto_id()) + ":";
      if (m.proto_id() == proto::kError) {
        auto& e = m.as<pb::ErrorFrame>();
        line += std::to_string(e.code()) + "/" + e.message();
      } else {
        line += std::string(m.body().raw());
      }
      self.send(p, kNote, line);
    }
    co_return;
  });
  struct Player : Router {
    Task<> route(Message& m) override {
      if (m.proto_id() == kHello) {
        pb::ExitSignal pbmsg;  // any protobuf message will do
        pbmsg.set_reason("proto");
        actor().send_to_client(100, pbmsg);
        actor().send_to_client_bytes(101, "raw");
        actor().send_error_to_client(7, "bad move");
      }
      co_return;
    }
  };
  Result<Pid> player = node().new_actor("player/9", conn, std::make_unique<Player>());
  ASSERT_TRUE(player.ok());
  node().send("player/9", kHello);
  MessagePtr a = expect_message(probe(), kNote);
  MessagePtr b = expect_message(probe(), kNote);
  MessagePtr c = expect_message(probe(), kNote);
  ASSERT_TRUE(a && b && c);
  pb::ExitSignal expect;
  expect.set_reason("proto");
  EXPECT_EQ(a->as<std::string>(), "100:" + expect.SerializeAsString());
  EXPECT_EQ(b->as<std::string>(), "101:raw");
  EXPECT_EQ(c->as<std::string>(), std::to_string(proto::kError) + ":7/bad move");
}

TEST(Shutdown, EveryProcessGetsOnStopIncludingOnesWaitingInACall) {
  static std::atomic<int> stopped{0};
  static std::atomic<int> waiting{0};
  stopped = 0;
  waiting = 0;
  struct Stoppable : Router {
    explicit Stoppable(Pid peer) : peer_(peer) {}
    Task<> route(Message&) override {
      if (peer_.valid()) {
        waiting.fetch_add(1);
        co_await actor().call(peer_, kHello, {}, Millis(60000));  // never answered
      }
    }
    void on_stop(std::string_view reason) override {
      if (reason == "shutdown") stopped.fetch_add(1);
    }
    Pid peer_;
  };
  NodeOptions o;
  o.workers = 2;
  {
    Node node(o);
    ASSERT_TRUE(node.start().ok());
    Pid silent = *node.spawn(std::make_unique<Stoppable>(Pid()));
    for (int i = 0; i < 99; ++i) {
      Pid pid = *node.spawn(std::make_unique<Stoppable>(silent));
      node.send(pid, kGo);
    }
    ASSERT_TRUE(wait_until([] { return waiting.load() == 99; }));
    node.shutdown();
    EXPECT_EQ(stopped.load(), 100);
    EXPECT_EQ(node.stats().live, 0u);
    EXPECT_EQ(node.send(silent, kGo).code(), Code::kShutdown);
  }
}

}  // namespace
}  // namespace behavior::testing
