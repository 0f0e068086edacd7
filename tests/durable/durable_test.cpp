// durable_test.cpp — durable process state against a real redis-server: write-through saves
// acknowledged before the handler goes on, passivation and interval saves, reactivation
// after idle expiry and after a crash, a state that does not load, a state over its limit,
// the shutdown's last saves, a Redis restart with its append-only file, and the fencing of
// a node that was paused (SIGSTOP) past its TTL while a newer activation took over.
#include <signal.h>

#include <filesystem>

#include "cluster_fixture.h"
#include "game.pb.h"

namespace behavior::testing {
namespace {

constexpr uint32_t kAdd = 4, kGet = 5, kAddLater = 6, kBump = 7, kCrash = 8;  // as the demo game's
constexpr uint32_t kPad = 9;  // this file's counter only: pad the state with n bytes

// A counter kept with the plain Router API (the demo game's player uses Durable<State>):
// the state is "<counter>" or "<counter>:<padding>" in decimal text.
class Counter : public Router {
 public:
  Task<> route(Message& m) override {
    switch (m.proto_id()) {
      case kAdd: {
        counter_ += m.as<int64_t>();
        actor().mark_dirty();
        Status saved = co_await actor().save();
        if (!saved.ok()) co_return (void)actor().reply_error(m.reply_to(), saved);
        actor().reply(m, kAdd, counter_);
        break;
      }
      case kGet:
        actor().reply(m, kGet, counter_);
        break;
      case kBump:
        counter_ += m.as<int64_t>();
        actor().mark_dirty();
        break;
      case kPad:
        pad_.assign(static_cast<size_t>(m.as<int64_t>()), 'x');
        actor().mark_dirty();
        break;
      case kCrash:
        throw std::runtime_error("crash requested");
      default:
        break;
    }
  }
  std::string save_state() override { return std::to_string(counter_) + (pad_.empty() ? "" : ":" + pad_); }
  Status load_state(std::string_view bytes, uint32_t version) override {
    if (version > 1) return Status::invalid_argument("state version " + std::to_string(version) + " is newer than 1");
    std::string text(bytes.substr(0, bytes.find(':')));
    char* end = nullptr;
    counter_ = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0') return Status::invalid_argument("not a counter: " + text);
    return {};
  }

 private:
  int64_t counter_ = 0;
  std::string pad_;
};

class DurableTest : public ClusterTest {
 protected:
  // The test node, with counter kinds: "ctr" (write-through and passivation), "ctr_idle" (idle
  // after 300 ms), "ctr_every" (saved every 100 ms when dirty), "ctr_small" (at most 16 bytes).
  void start_node() {
    start_test_node();
    ASSERT_TRUE(cluster_->wait_ready(Millis(5000)));
    auto add = [&](const char* kind, auto tweak) {
      KindOptions k;
      k.durable.enabled = true;
      tweak(k);
      node_->register_kind(kind, [](const std::string&) { return std::make_unique<Counter>(); }, k);
    };
    add("ctr", [](KindOptions&) {});
    add("ctr_idle", [](KindOptions& k) { k.idle_timeout = Millis(300); });
    add("ctr_every", [](KindOptions& k) { k.durable.save_every = Millis(100); });
    add("ctr_small", [](KindOptions& k) { k.durable.max_bytes = 16; });
  }

  Pid ensure(const std::string& name, const std::string& kind, uint16_t on_node = 0) {
    Result<Pid> pid = cluster_->ensure(name, kind, on_node);
    EXPECT_TRUE(pid.ok()) << pid.status().to_string();
    return pid.ok() ? *pid : Pid();
  }

  Result<int64_t> call(Pid pid, uint32_t proto, int64_t n = 0) {
    Reply r = probe_->call(pid, proto, n, Millis(5000));
    if (!r.ok()) return r.status();
    return r.as<int64_t>();
  }

  std::string stored(const std::string& name, const std::string& field = "data") {
    return redis_.command({"HGET", key("state:" + name), field});
  }

  // A name no process holds any more (ended, its release done).
  bool gone(const std::string& name) {
    return wait_until([&] { return !node_->whereis(name) && !redis_.exists(key("dir:" + name)); }, Millis(5000));
  }
};

TEST_F(DurableTest, AnAwaitedSaveIsInRedisWhenTheHandlerGoesOn) {
  start_node();
  Pid p = ensure("ctr/a", "ctr");
  Result<int64_t> v = call(p, kAdd, 5);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 5);
  // The reply left after Redis acknowledged the write: it is there now, with the epoch.
  EXPECT_EQ(stored("ctr/a"), "5");
  EXPECT_EQ(stored("ctr/a", "epoch"), "1");
  EXPECT_EQ(stored("ctr/a", "claim"), "1");
  EXPECT_EQ(stored("ctr/a", "v"), "1");
  EXPECT_EQ(stored("ctr/a", "kind"), "ctr");
  ASSERT_TRUE(call(p, kAdd, 2).ok());
  EXPECT_EQ(stored("ctr/a"), "7");
}

// --redis-wait-ms (docs/reliability.md, "Redis failover"): an awaited save is acknowledged
// once a replica has it too (WAIT 1), so a failover right after cannot lose what a client was
// told. Read from the replica the moment each reply arrives. With the replica gone, saves are
// still acknowledged (availability first) after at most one wait.
TEST_F(DurableTest, AnAwaitedSaveIsOnTheReplicaWhenItIsAcknowledged) {
  RedisServer replica;
  ASSERT_TRUE(replica.start());
  ASSERT_EQ(replica.command({"REPLICAOF", "127.0.0.1", std::to_string(redis_.port())}), "OK");
  ASSERT_TRUE(wait_until([&] { return replica.command({"INFO", "replication"}).find("master_link_status:up") !=
                                      std::string::npos; },
                         Millis(10000)));
  configure_test_node_ = [](ClusterOptions& co) { co.redis_wait_ms = 2000; };
  start_node();
  Pid p = ensure("ctr/r", "ctr");
  for (int i = 1; i <= 50; ++i) {
    Result<int64_t> v = call(p, kAdd, 1);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    ASSERT_EQ(replica.command({"HGET", key("state:ctr/r"), "data"}), std::to_string(i)) << "save " << i;
  }
  replica.kill();
  for (int i = 51; i <= 53; ++i) {
    Result<int64_t> v = call(p, kAdd, 1);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    EXPECT_EQ(*v, i);
  }
  EXPECT_EQ(stored("ctr/r"), "53");
}

TEST_F(DurableTest, IdleExpirySavesTheDirtyStateAndReactivationLoadsIt) {
  start_node();
  Pid p = ensure("ctr/idle", "ctr_idle");
  probe_->send(p, kBump, int64_t{7});  // changed, not saved yet
  ASSERT_TRUE(gone("ctr/idle")) << "the idle process did not end";
  EXPECT_EQ(stored("ctr/idle"), "7") << "passivation did not save the dirty state";
  Pid again = ensure("ctr/idle", "ctr_idle");
  EXPECT_NE(again, p);
  Result<int64_t> v = call(again, kGet);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 7);
  EXPECT_EQ(stored("ctr/idle", "claim"), "2") << "each activation takes a newer epoch";
}

TEST_F(DurableTest, IntervalSavesWriteDirtyStateAndOnlyDirtyState) {
  start_node();
  Pid p = ensure("ctr/every", "ctr_every");
  probe_->send(p, kBump, int64_t{3});
  EXPECT_TRUE(wait_until([&] { return stored("ctr/every") == "3"; }, Millis(3000))) << stored("ctr/every");
  // Clean state is not written again: the write time stays.
  const std::string ms = stored("ctr/every", "ms");
  std::this_thread::sleep_for(Millis(400));
  EXPECT_EQ(stored("ctr/every", "ms"), ms);
  probe_->send(p, kBump, int64_t{1});
  EXPECT_TRUE(wait_until([&] { return stored("ctr/every") == "4"; }, Millis(3000))) << stored("ctr/every");
}

TEST_F(DurableTest, ACrashedProcessRestartsFromTheLastSavedState) {
  start_node();
  Pid p = ensure("ctr/crash", "ctr");
  ASSERT_TRUE(call(p, kAdd, 5).ok());
  probe_->send(p, kBump, int64_t{100});  // held by the crashed instance only
  probe_->send(p, kCrash);
  ASSERT_TRUE(gone("ctr/crash"));
  EXPECT_EQ(stored("ctr/crash"), "5") << "a crash must not save what the crashed instance held";
  Result<int64_t> v = call(ensure("ctr/crash", "ctr"), kGet);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 5);
  EXPECT_GE(node_->stats().crashed, 1u);
}

TEST_F(DurableTest, AStateThatDoesNotLoadStopsTheActivationAndIsKept) {
  start_node();
  for (const char* name : {"ctr/garbage", "ctr/newer"}) {
    const bool garbage = std::string(name) == "ctr/garbage";
    redis_.command({"HSET", key(std::string("state:") + name), "data", garbage ? "not a number" : "12", "v",
                    garbage ? "1" : "2", "claim", "3", "epoch", "3"});
  }
  for (const char* name : {"ctr/garbage", "ctr/newer"}) {
    Result<Pid> pid = cluster_->ensure(name, "ctr");
    if (pid.ok()) {
      Result<int64_t> v = call(*pid, kGet);
      EXPECT_FALSE(v.ok()) << name << " started with a state it could not load";
    }
    ASSERT_TRUE(gone(name)) << name;
  }
  EXPECT_EQ(node_->stats().state_load_failures, 2u);
  EXPECT_EQ(stored("ctr/garbage"), "not a number") << "a state that did not load must not be overwritten";
  EXPECT_EQ(stored("ctr/newer"), "12");
  EXPECT_EQ(stored("ctr/newer", "v"), "2");
}

TEST_F(DurableTest, AStateOverItsLimitIsRefusedAndTheStoredOneKept) {
  start_node();
  Pid p = ensure("ctr/small", "ctr_small");
  ASSERT_TRUE(call(p, kAdd, 1).ok());
  probe_->send(p, kPad, int64_t{100});
  Result<int64_t> v = call(p, kAdd, 1);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kInvalidArgument) << v.status().to_string();
  EXPECT_NE(v.status().message().find("over its kind's limit of 16"), std::string::npos) << v.status().to_string();
  EXPECT_EQ(stored("ctr/small"), "1");
  EXPECT_GE(node_->stats().state_save_failures, 1u);
}

TEST_F(DurableTest, LeavingTheClusterSavesEveryDirtyState) {
  start_node();
  for (int i = 0; i < 50; ++i) probe_->send(ensure("ctr/leave" + std::to_string(i), "ctr"), kBump, int64_t{i + 1});
  ASSERT_TRUE(call(ensure("ctr/leave0", "ctr"), kGet).ok());  // the bumps before it are handled
  stop_test_node();
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(stored("ctr/leave" + std::to_string(i)), std::to_string(i + 1)) << i;
    EXPECT_FALSE(redis_.exists(key("dir:ctr/leave" + std::to_string(i))));
  }
}

TEST_F(DurableTest, ARedisRestartWithItsAppendOnlyFileKeepsAcknowledgedState) {
  redis_.stop();
  const std::string dir = std::filesystem::temp_directory_path() / ("behavior-aof-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  redis_.use_aof(dir);
  ASSERT_TRUE(redis_.start());
  start_node();
  Pid p = ensure("ctr/aof", "ctr");
  ASSERT_TRUE(call(p, kAdd, 41).ok());
  redis_.stop();  // SIGTERM: Redis writes its append-only file out
  ASSERT_TRUE(redis_.start());
  EXPECT_EQ(stored("ctr/aof"), "41");
  ASSERT_TRUE(wait_until([&] { return cluster_->redis_connected(); }, Millis(5000)));
  // A new activation after the restart loads it.
  node_->stop(std::string_view("ctr/aof"));
  ASSERT_TRUE(gone("ctr/aof"));
  Result<int64_t> v = call(ensure("ctr/aof", "ctr"), kGet);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 41);
  stop_test_node();
  redis_.stop();
  std::filesystem::remove_all(dir);
}

int64_t game_add_later_ms() { return 1500; }  // the demo game's kAddLaterDelay

// The demo game's player state, as the store holds it.
int64_t stored_counter(RedisServer& redis, const std::string& key) {
  game::PlayerRecord rec;
  std::string data = redis.command({"HGET", key, "data"});
  return rec.ParseFromString(data) ? rec.counter() : -1;
}

TEST_F(DurableTest, ANodePausedPastItsTtlCannotOverwriteNewerState) {
  ChildProcess& stale = start_server(1);
  start_server(2);
  start_node();
  ASSERT_TRUE(wait_for_nodes(3));
  Pid old = ensure("user/paused", "user", 1);
  ASSERT_EQ(old.node(), 1);
  ASSERT_TRUE(call(old, kAdd, 1).ok());
  // A write that the paused node will attempt when it runs again, with its old epoch: its
  // timer is due by then, and it runs before the node hears from Redis that it was declared
  // dead (the heartbeat's answer takes a round trip; the timer and the save go at once).
  probe_->send(old, kAddLater, int64_t{100});
  ASSERT_TRUE(call(old, kGet).ok());  // the timer is set
  const auto timer_set = std::chrono::steady_clock::now();
  stale.signal(SIGSTOP);
  ASSERT_TRUE(wait_until([&] { return !knows_node(1); }, Millis(10000))) << "node 1 was not declared dead";
  // A newer activation on node 2 loads the last save and goes on.
  Pid fresh = ensure("user/paused", "user", 2);
  ASSERT_EQ(fresh.node(), 2);
  Result<int64_t> v = call(fresh, kAdd, 10);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 11);
  std::this_thread::sleep_until(timer_set + std::chrono::milliseconds(500) + std::chrono::milliseconds(game_add_later_ms()));
  stale.signal(SIGCONT);
  // The stale write is refused by the store, and the stale process stops.
  EXPECT_TRUE(wait_until([&] { return stale.output().find("belongs to a newer activation") != std::string::npos; },
                         Millis(10000)))
      << stale.output();
  EXPECT_TRUE(wait_until([&] { return stale.output().find("cluster names") != std::string::npos; }, Millis(10000)))
      << "node 1 did not fence itself";
  EXPECT_EQ(stored_counter(redis_, key("state:user/paused")), 11) << "the state went back in time";
  v = call(fresh, kGet);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 11);
}

// SIGKILL of a local server holding 200 players: every acknowledged (write-through) change
// and every change older than the save interval comes back on another node; only what was
// younger than the interval may be lost (the demo saves a dirty player every second).
TEST_F(DurableTest, AKilledNodesProcessesComeBackElsewhereWithTheirSavedState) {
  ChildProcess& doomed = start_server(1);
  start_server(2);
  start_node();
  ASSERT_TRUE(wait_for_nodes(3));
  constexpr int kPlayers = 200;
  auto name = [](int i) { return "user/k" + std::to_string(i); };
  for (int i = 0; i < kPlayers; ++i) {
    Pid p = ensure(name(i), "user", 1);
    ASSERT_EQ(p.node(), 1);
    Result<int64_t> v = call(p, kAdd, i);  // acknowledged: in Redis when the reply comes
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    probe_->send(p, kBump, int64_t{1000});  // not awaited: saved by the next interval save
  }
  // Past one save interval (1 s): the bumps are saved too.
  ASSERT_TRUE(wait_until(
      [&] {
        for (int i = 0; i < kPlayers; ++i) {
          if (stored_counter(redis_, key("state:" + name(i))) != i + 1000) return false;
        }
        return true;
      },
      Millis(5000)));
  doomed.signal(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return !knows_node(1); }, Millis(10000)));
  int violations = 0;
  for (int i = 0; i < kPlayers; ++i) {
    Pid p = ensure(name(i), "user", 2);
    Result<int64_t> v = call(p, kGet);
    if (!v.ok() || *v != i + 1000 || p.node() != 2) ++violations;
  }
  EXPECT_EQ(violations, 0);
}

}  // namespace
}  // namespace behavior::testing
