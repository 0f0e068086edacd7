// sentinel_client_test.cpp — RedisClient against a real redis-server and a real sentinel
// (both with passwords): the first sentinel in the list is dead, so the client must ask the
// next one; it reaches the primary, commands go through; a master name no sentinel knows
// leaves it disconnected and retrying, without a crash.
#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "behavior/redis_client.h"
#include "child_process.h"
#include "local_cluster.h"
#include "redis_server.h"

namespace behavior::testing {
namespace {

class SentinelClient : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    ASSERT_TRUE(primary_.start());
    char dir[] = "/tmp/behavior-sentinel-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    sentinel_port_ = tools::LocalCluster::free_port();
    const std::string conf = std::string(dir) + "/sentinel.conf";
    std::ofstream(conf) << "port " << sentinel_port_ << "\nbind 127.0.0.1\ndir " << dir << "\nrequirepass sp\n"
                        << "sentinel monitor m 127.0.0.1 " << primary_.port() << " 1\n"
                        << "sentinel auth-pass m pw\n";
    ASSERT_TRUE(sentinel_.start("/usr/bin/redis-server", {conf, "--sentinel"}));
    ASSERT_TRUE(sentinel_.wait_for_output("+monitor master m", std::chrono::milliseconds(10000))) << sentinel_.output();
  }
  void TearDown() override { uv_loop_close(&loop_); }

  // Runs the loop until `done` or `ms` have passed.
  template <typename Done>
  bool run_until(Done done, int ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    uv_timer_t tick;
    uv_timer_init(&loop_, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 10, 10);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }
  RedisOptions options(std::string master) {
    RedisOptions o;
    o.sentinels = {"127.0.0.1:" + std::to_string(tools::LocalCluster::free_port()),  // nobody there
                   "127.0.0.1:" + std::to_string(sentinel_port_)};
    o.master_name = std::move(master);
    o.sentinel_password = "sp";
    o.password = "pw";
    return o;
  }

  RedisServer primary_{"pw"};
  ChildProcess sentinel_;
  int sentinel_port_ = 0;
  uv_loop_t loop_{};
};

TEST_F(SentinelClient, ADeadSentinelIsSkippedAndThePrimaryIsReached) {
  RedisClient client(&loop_, options("m"), "test");
  client.start();
  ASSERT_TRUE(run_until([&] { return client.connected(); }, 5000));
  std::string got;
  client.command({"SET", "k", "v"}, [&](redisReply*) {
    client.command({"GET", "k"}, [&](redisReply* r) { got = reply_string(r); });
  });
  EXPECT_TRUE(run_until([&] { return !got.empty(); }, 2000));
  EXPECT_EQ(got, "v");
  EXPECT_EQ(primary_.command({"GET", "k"}), "v");
  client.stop();
  run_until([] { return false; }, 50);  // the handles close
}

TEST_F(SentinelClient, AnUnknownMasterNameLeavesTheClientRetrying) {
  RedisClient client(&loop_, options("nope"), "test");
  client.start();
  EXPECT_FALSE(run_until([&] { return client.connected(); }, 1500));
  EXPECT_GT(client.reconnects(), 0u);
  client.stop();
  run_until([] { return false; }, 50);
}

}  // namespace
}  // namespace behavior::testing
