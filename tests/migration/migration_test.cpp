// migration_test.cpp — live migration with real binaries: redis-server, two local_server OS
// processes with the demo game, a gateway and a name server, and this test process as one
// more node. A durable demo "user" moves between the local servers while the test streams
// numbered messages at it (none lost, none reordered, its counter carried); a user with a
// real client connected through the gateway moves while the client keeps echoing (no error
// frame, no reconnect); `ctl drain --evacuate` empties a node holding many users.
#include <behavior/game_client.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cluster_fixture.h"

namespace behavior::testing {
namespace {

inline const std::string kGatewayBin = std::string(BEHAVIOR_BIN_DIR) + "/gateway";
inline const std::string kNameServerBin = std::string(BEHAVIOR_BIN_DIR) + "/name_server";
inline const std::string kCtlBin = std::string(BEHAVIOR_BIN_DIR) + "/ctl";
constexpr uint16_t kGatewayNode = 40;
constexpr uint32_t kAdd = 4, kGet = 5;  // the demo player's durable counter (game.h)
using Transport = GameClient::Transport;

uint16_t node_of(const std::string& pid_text) {  // "<node.shard.serial>"
  return static_cast<uint16_t>(std::stoi(pid_text.substr(1)));
}

class MigrationTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    start_server(1);
    start_server(2);
    gateway_ = start_child(kGatewayBin, {"--node-id", std::to_string(kGatewayNode), "--tcp-port", "0", "--ws-port",
                                         "0", "--udp-port", "0", "--idle-timeout-ms", "30000", "--frame-rate", "100000",
                                         "--frame-burst", "100000"},
                           "gateway ready");
    http_port_ = free_port();
    name_server_ = start_child(kNameServerBin, {"--node-id", "50", "--auth", "dev", "--login-rate", "0",
                                                "--http-port", std::to_string(http_port_)},
                               "name_server ready");
    // Not a "local" node: the name server must not place players here, nor an evacuation
    // move processes here (this node has no kinds).
    configure_test_node_ = [](ClusterOptions& co) { co.kind = "test"; };
    start_test_node();
    ASSERT_TRUE(cluster_->wait_ready(Millis(5000)));
    ASSERT_TRUE(wait_until([&] { return knows_node(1) && knows_node(2); }, Millis(10000)));
    ASSERT_TRUE(wait_until([&] { return login("127.0.0.1", http_port_, "probe").ok(); }, Millis(10000)));
  }

  void TearDown() override {
    stop_test_node();
    for (ChildProcess* p : {name_server_, gateway_}) {
      if (!p || p->wait_exit(Millis(0)) != -1) continue;
      p->signal(SIGTERM);
      int status = p->wait_exit(Millis(10000));
      EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << p->output();
    }
    ClusterTest::TearDown();
  }

  ChildProcess* start_child(const std::string& bin, std::vector<std::string> extra, const std::string& ready) {
    std::vector<std::string> args = {"--redis",        redis_.address(), "--redis-prefix", prefix_,
                                     "--heartbeat-ms", std::to_string(kHeartbeatMs), "--ttl-ms", std::to_string(kTtlMs),
                                     "--cluster-secret", kSecret, "--log-level", "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ChildProcess>();
    EXPECT_TRUE(p->start(bin, args));
    EXPECT_TRUE(p->wait_for_output(ready, Millis(10000))) << p->output();
    servers_.push_back(std::move(p));
    return servers_.back().get();
  }

  // ctl with this cluster's Redis, prefix, secret and name server; started, not awaited.
  std::unique_ptr<ChildProcess> ctl(std::vector<std::string> args) {
    std::vector<std::string> all = {"--redis", redis_.address(), "--redis-prefix", prefix_, "--cluster-secret", kSecret,
                                    "--name-server", "http://127.0.0.1:" + std::to_string(http_port_)};
    args.insert(args.end(), all.begin(), all.end());
    auto p = std::make_unique<ChildProcess>();
    EXPECT_TRUE(p->start(kCtlBin, args));
    return p;
  }

  // proto::kMigrate to the cluster service of `holder`.
  Result<Pid> migrate(const std::string& name, uint16_t holder, uint16_t to) {
    JsonMap req;
    req.set("name", name).set("to", static_cast<int64_t>(to));
    Reply r = probe_->call(Cluster::service_pid(holder), proto::kMigrate, std::move(req), Millis(20000));
    if (!r.ok()) return r.status();
    return r.as<Pid>();
  }

  Result<int64_t> call(Pid pid, uint32_t proto, int64_t n = 0) {
    Reply r = probe_->call(pid, proto, n, Millis(5000));
    if (!r.ok()) return r.status();
    return r.as<int64_t>();
  }

  std::unique_ptr<GameClient> connect(const std::string& user, Transport t, std::string* pid) {
    Result<LoginResult> l = login("127.0.0.1", http_port_, user);
    EXPECT_TRUE(l.ok()) << l.status().to_string();
    if (!l.ok()) return nullptr;
    auto c = GameClient::connect(t, t == Transport::kTcp ? l->gateway_tcp : l->gateway_ws);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    if (!c.ok()) return nullptr;
    Result<std::string> who = (*c)->auth(l->ticket);
    EXPECT_TRUE(who.ok()) << who.status().to_string();
    if (!who.ok()) return nullptr;
    *pid = *who;
    return std::move(*c);
  }

  // `window` echoes in flight, then all their answers: each the echo of its own request, in order.
  static ::testing::AssertionResult echo_window(GameClient& c, int* next, int window) {
    for (int i = 0; i < window; ++i) {
      if (Status s = c.send(kEcho, "n" + std::to_string(*next + i)); !s.ok()) {
        return ::testing::AssertionFailure() << "send: " << s.to_string();
      }
    }
    for (int i = 0; i < window; ++i) {
      Result<ClientFrame> f = c.receive(Millis(5000));
      if (!f.ok()) return ::testing::AssertionFailure() << "echo " << *next << ": " << f.status().to_string();
      if (f->proto_id != kEcho || f->body != "n" + std::to_string(*next)) {
        return ::testing::AssertionFailure() << "expected the echo of n" << *next << ", got protoID " << f->proto_id
                                             << " body " << f->body;
      }
      ++*next;
    }
    return ::testing::AssertionSuccess();
  }

  std::string dir(const std::string& name) { return redis_.command({"GET", key("dir:" + name)}); }

  int http_port_ = 0;
  ChildProcess* gateway_ = nullptr;
  ChildProcess* name_server_ = nullptr;
};

TEST_F(MigrationTest, AStreamAcrossTheMoveLosesAndReordersNothingAndTheStateMoves) {
  Inbox sink(*node_);  // the user's writer: its kEcho infos come back here as client frames
  Result<Pid> old = cluster_->ensure("user/mia", "user", 1, sink.pid());
  ASSERT_TRUE(old.ok()) << old.status().to_string();
  ASSERT_EQ(old->node(), 1);
  Result<int64_t> v = call(*old, kAdd, 42);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  Inbox events(*node_);
  ASSERT_TRUE(node_->spawn(std::make_unique<RemoteWatcher>(*old, events.pid())).ok());
  ASSERT_NE(expect_message(events, kWatch), nullptr);

  // A numbered stream of infos to the pid the sender knows, before, during and after the move.
  constexpr int kTotal = 4000;
  std::atomic<int> sent{0};
  std::thread sender([&] {
    Inbox tx(*node_);
    for (int i = 0; i < kTotal; ++i) {
      tx.send(*old, kEcho, std::to_string(i));
      sent = i + 1;
      if (i % 20 == 19) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  int expected = 0;
  auto take = [&](int upto, Millis timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (expected < upto && std::chrono::steady_clock::now() < until) {
      MessagePtr m = sink.receive(Millis(200));
      if (!m) continue;
      if (m->kind() != Kind::kClient || m->proto_id() != kEcho) continue;
      const int got = std::stoi(std::string(m->body().raw()));
      if (got != expected) return ::testing::AssertionFailure() << "expected " << expected << ", got " << got;
      ++expected;
    }
    if (expected < upto) return ::testing::AssertionFailure() << "only " << expected << " of " << upto << " arrived";
    return ::testing::AssertionSuccess();
  };
  ASSERT_TRUE(take(300, Millis(10000)));
  Result<Pid> moved = migrate("user/mia", 1, 2);
  ASSERT_TRUE(moved.ok()) << moved.status().to_string() << servers_[0]->output();
  EXPECT_EQ(moved->node(), 2);
  EXPECT_LT(sent.load(), kTotal) << "the stream ended before the move: nothing crossed it";
  sender.join();
  ASSERT_TRUE(take(kTotal, Millis(15000))) << servers_[0]->output();
  expect_silence(sink);

  // The counter moved with it; the new activation took a newer epoch; the name is on node 2.
  v = call(*moved, kGet);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 42);
  EXPECT_EQ(redis_.command({"HGET", key("state:user/mia"), "claim"}), "2");
  EXPECT_EQ(dir("user/mia").rfind("2:", 0), 0u) << dir("user/mia");
  EXPECT_EQ(redis_.command({"SISMEMBER", key("node:1:names"), "user/mia"}), "0");
  EXPECT_EQ(redis_.command({"SISMEMBER", key("node:2:names"), "user/mia"}), "1");
  // A call to the old pid is relayed too, and answered by the new process.
  v = call(*old, kAdd, 1);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 43);
  // The watcher heard where it went, then a DOWN with reason "migrated".
  MessagePtr mv = expect_message(events, proto::kMoved);
  ASSERT_NE(mv, nullptr);
  EXPECT_EQ(Pid::from_raw(mv->as<pb::Moved>().new_pid()), *moved);
  EXPECT_EQ(mv->as<pb::Moved>().name(), "user/mia");
  MessagePtr down = expect_message(events, proto::kDown);
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->as<pb::DownSignal>().reason(), "migrated");
}

// The gateway's and the game's way to switch to a moved process's new pid: a barrier call
// (proto::kMoved) through the old pid first. A sender that learns the new pid early (here from
// the directory, which the target rewrites before the old process hears the handover was
// done) and sends its barrier while the old process still holds its queue must get the answer
// only once that queue is relayed: answered by the holding process, the barrier let the
// sender's direct messages overtake its held ones. Moves back and forth under a stream that
// switches at each move; every message arrives, in order.
TEST_F(MigrationTest, ABarrierSentWhileTheProcessMovesIsAnsweredBehindWhatItHeld) {
  Inbox sink(*node_);
  Result<Pid> first = cluster_->ensure("user/ivy", "user", 1, sink.pid());
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, switches{0};
  std::thread sender([&] {
    Inbox tx(*node_);
    Pid to = *first;
    for (int i = 0; !stop; ++i) {
      tx.send(to, kEcho, std::to_string(i));
      sent = i + 1;
      const std::string holder = dir("user/ivy");  // "<node>:<pid>"
      const size_t colon = holder.find(':');
      if (colon == std::string::npos) continue;
      const Pid now = Pid::from_raw(std::strtoull(holder.c_str() + colon + 1, nullptr, 10));
      if (now.valid() && now != to) {
        (void)tx.call(to, proto::kMoved, Body(), Millis(5000));  // the barrier, then the switch
        to = now;
        ++switches;
      }
    }
  });
  int expected = 0;
  auto take = [&](int upto) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (expected < upto && std::chrono::steady_clock::now() < until) {
      MessagePtr m = sink.receive(Millis(200));
      if (!m || m->kind() != Kind::kClient || m->proto_id() != kEcho) continue;
      const int got = std::stoi(std::string(m->body().raw()));
      if (got != expected) return ::testing::AssertionFailure() << "expected " << expected << ", got " << got;
      ++expected;
    }
    if (expected < upto) return ::testing::AssertionFailure() << "only " << expected << " of " << upto << " arrived";
    return ::testing::AssertionSuccess();
  };
  uint16_t at = 1;
  for (int move = 0; move < 6 && !HasFailure(); ++move) {
    EXPECT_TRUE(take(sent.load() + 100));
    const uint16_t to = at == 1 ? 2 : 1;
    Result<Pid> moved = migrate("user/ivy", at, to);
    ASSERT_TRUE(moved.ok()) << moved.status().to_string();
    at = to;
  }
  EXPECT_TRUE(take(sent.load() + 100));
  stop = true;
  sender.join();
  EXPECT_TRUE(take(sent.load()));
  EXPECT_EQ(switches.load(), 6);
}

TEST_F(MigrationTest, AMoveThatCannotHappenLeavesTheProcessServingWhereItWas) {
  Result<Pid> p = cluster_->ensure("user/noa", "user", 1);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  ASSERT_TRUE(call(*p, kAdd, 7).ok());
  Result<Pid> gw = migrate("user/noa", 1, kGatewayNode);  // not a local server
  EXPECT_EQ(gw.status().code(), Code::kInvalidArgument) << gw.status().to_string();
  Result<Pid> nowhere = migrate("user/noa", 1, 77);  // no such node
  EXPECT_EQ(nowhere.status().code(), Code::kUnavailable) << nowhere.status().to_string();
  // A kind that is not durable (the demo's users and rooms both are): one on the test node.
  node_->register_kind("plain", [](const std::string&) {
    return std::make_unique<FnRouter<Task<> (*)(Actor&, Message&)>>([](Actor&, Message&) -> Task<> { co_return; });
  });
  Result<Pid> plain = cluster_->ensure("plain/r1", "plain");
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  Result<Pid> not_durable = migrate("plain/r1", kTestNode, 1);
  EXPECT_EQ(not_durable.status().code(), Code::kInvalidArgument) << not_durable.status().to_string();
  Result<Pid> other = migrate("user/nobody", 1, 2);
  EXPECT_EQ(other.status().code(), Code::kNotFound) << other.status().to_string();
  // The process is still there, with its state, and still takes messages.
  Result<int64_t> v = call(*p, kAdd, 1);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 8);
  EXPECT_EQ(dir("user/noa").rfind("1:", 0), 0u) << dir("user/noa");
}

TEST_F(MigrationTest, AConnectedClientFollowsItsProcessWithoutAnErrorOrReconnect) {
  for (Transport t : {Transport::kTcp, Transport::kWebSocket}) {
    const std::string user = t == Transport::kTcp ? "zoe" : "yan";
    std::string pid;
    auto c = connect(user, t, &pid);
    ASSERT_NE(c, nullptr);
    const uint16_t from = node_of(pid), to = from == 1 ? 2 : 1;
    int next = 0;
    ASSERT_TRUE(echo_window(*c, &next, 10));
    auto run = ctl({"migrate", "user/" + user, "--to", std::to_string(to)});
    // Echo windows while ctl moves the process, and more after.
    const auto until = std::chrono::steady_clock::now() + Millis(30000);
    while (run->wait_exit(Millis(0)) == -1 && std::chrono::steady_clock::now() < until) {
      ASSERT_TRUE(echo_window(*c, &next, 10)) << gateway_->output();
    }
    const int status = run->wait_exit(Millis(5000));
    ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << run->output();
    EXPECT_NE(run->output().find("moved user/" + user), std::string::npos) << run->output();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(echo_window(*c, &next, 10)) << gateway_->output();
    EXPECT_EQ(dir("user/" + user).rfind(std::to_string(to) + ":", 0), 0u) << dir("user/" + user);
  }
  std::string metrics = http_get(std::stoi(redis_.command({"HGET", key("node:40"), "metrics"}).substr(
                                     redis_.command({"HGET", key("node:40"), "metrics"}).rfind(':') + 1)),
                                 "/metrics");
  EXPECT_NE(metrics.find("behavior_gateway_process_moves_total 2"), std::string::npos) << metrics;
}

TEST_F(MigrationTest, DrainWithEvacuateEmptiesTheNodeAndEveryStateGoesAlong) {
  constexpr int kUsers = 40;
  std::vector<Pid> pids;
  for (int i = 0; i < kUsers; ++i) {
    Result<Pid> p = cluster_->ensure("user/e" + std::to_string(i), "user", 1);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    ASSERT_TRUE(call(*p, kAdd, i + 1).ok());
    pids.push_back(*p);
  }
  // A client of a user on node 1 keeps echoing through the evacuation.
  std::string pid;
  std::unique_ptr<GameClient> c;
  for (int i = 0; i < 10 && (!c || node_of(pid) != 1); ++i) c = connect("walker" + std::to_string(i), Transport::kTcp, &pid);
  ASSERT_TRUE(c && node_of(pid) == 1) << "no login landed on node 1";
  ASSERT_EQ(redis_.command({"SCARD", key("node:1:names")}), std::to_string(kUsers + 1));
  int next = 0;
  auto run = ctl({"drain", "1", "--evacuate"});
  const auto until = std::chrono::steady_clock::now() + Millis(60000);
  while (run->wait_exit(Millis(0)) == -1 && std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(echo_window(*c, &next, 5)) << gateway_->output();
  }
  const int status = run->wait_exit(Millis(5000));
  ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << run->output();
  EXPECT_NE(run->output().find("node 1 is empty"), std::string::npos) << run->output();
  EXPECT_EQ(redis_.command({"SCARD", key("node:1:names")}), "0");
  ASSERT_TRUE(echo_window(*c, &next, 10));
  for (int i = 0; i < kUsers; ++i) {
    const std::string name = "user/e" + std::to_string(i);
    EXPECT_EQ(dir(name).rfind("2:", 0), 0u) << name << " is at " << dir(name);
    Result<int64_t> v = call(pids[static_cast<size_t>(i)], kGet);  // through the old pid's relay
    ASSERT_TRUE(v.ok()) << name << ": " << v.status().to_string();
    EXPECT_EQ(*v, i + 1) << name;
  }
}

}  // namespace
}  // namespace behavior::testing
