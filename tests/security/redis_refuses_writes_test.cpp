// redis_refuses_writes_test.cpp — a Redis that is up but refuses writes must not make the
// cluster kill its own processes. Redis refuses writes when it is out of memory under
// `noeviction`, when a background save failed, or when too few replicas acknowledge
// (`min-replicas-to-write`). Reads still work then, so every node saw every other node's
// heartbeat key expire, declared it dead, and when writes came back each node found itself
// declared dead and fenced: every player lost its process. A node whose own heartbeat
// writes fail cannot tell who is dead; it freezes membership instead.
//
// Each test plays 100 bots over TCP, WebSocket and UDP on a whole local cluster (real
// redis-server, name server, gateway, two local servers), makes Redis refuse writes for
// longer than the heartbeat TTL (3 s), lets it take writes again, and checks that no
// process was lost: no node fenced or saw a peer go down, no player had to join its room
// again or got a new process, and the bots lost, reordered and duplicated nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <sstream>
#include <thread>

#include "bot_summary.h"
#include "child_process.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "redis_server.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

constexpr int kPlayers = 100;

class RedisRefusesWrites : public LocalClusterTest {
 protected:
  void SetUp() override {
    start(1, 2, {"--login-rate", "0"});  // every bot logs in from 127.0.0.1
    if (cluster_) redis_port_ = redis_port();
  }
  void TearDown() override {
    if (bot_.pid() > 0 && bot_.wait_exit(Millis(0)) == -1) {
      bot_.signal(SIGKILL);
      bot_.wait_exit(Millis(5000));
    }
    LocalClusterTest::TearDown();
  }

  std::string redis(const std::vector<std::string>& args) { return redis_command(redis_port_, "", args); }

  // One counter summed over every server's /metrics (their addresses are in Redis).
  uint64_t metric_sum(const std::string& name) {
    uint64_t sum = 0;
    const std::regex line("^" + name + "(\\{[^}]*\\})? ([0-9.e+]+)$");
    for (const auto& svc : cluster_->services()) {
      const int id = cluster_->node_id(svc.name);
      if (id <= 0) continue;
      const std::string at = redis({"HGET", cluster_->redis_prefix() + "node:" + std::to_string(id), "metrics"});
      if (at.find(':') == std::string::npos) {
        ADD_FAILURE() << svc.name << " has no metrics address in Redis: " << at;
        continue;
      }
      const std::string text = http_get(std::stoi(at.substr(at.rfind(':') + 1)), "/metrics");
      EXPECT_FALSE(text.empty()) << svc.name << " /metrics";
      std::istringstream in(text);
      for (std::string l; std::getline(in, l);) {
        std::smatch m;
        if (std::regex_match(l, m, line)) sum += static_cast<uint64_t>(std::stod(m[2]));
      }
    }
    return sum;
  }

  // The bot's latest progress line ("bot 12.0s playing   in room 100/100 ...").
  std::string last_progress_line() {
    const std::string out = bot_.output();
    const size_t end = out.rfind("\nbot ");
    if (end == std::string::npos) return "";
    return out.substr(end + 1, out.find('\n', end + 1) - end - 1);
  }

  void start_bots() {
    ASSERT_TRUE(bot_.start(std::string(BEHAVIOR_BIN_DIR) + "/bot",
                           {"--name-server", cluster_->name_server_url(), "--players", std::to_string(kPlayers),
                            "--duration", "120", "--transports", "tcp,ws,udp", "--rooms", "4", "--rate", "10",
                            "--drain", "10", "--json", "--max-errors", "100000", "--progress", "--user-prefix",
                            "refuse"}));
    const std::string all_in = "in room " + std::to_string(kPlayers) + "/" + std::to_string(kPlayers);
    ASSERT_TRUE(bot_.wait_for_output(all_in, Millis(60000))) << bot_.output();
  }

  // Redis refuses writes for `seconds` through `refuse`, then takes them again through
  // `restore`; the bots play on through it. Then nothing may have been lost.
  void refuse_writes_under_load(const std::vector<std::string>& refuse, const std::vector<std::string>& restore,
                                const std::string& expected_error, int seconds) {
    start_bots();
    if (HasFatalFailure()) return;
    const uint64_t processes_before = metric_sum("behavior_processes");
    ASSERT_GT(processes_before, static_cast<uint64_t>(kPlayers));
    ASSERT_EQ(redis(refuse), "OK");
    // The refusal is real: a write is refused while a read still works.
    const std::string probe = redis({"SET", cluster_->redis_prefix() + "probe", std::string(4096, 'x')});
    EXPECT_NE(probe.find(expected_error), std::string::npos) << probe;
    EXPECT_NE(redis({"ZRANGE", cluster_->redis_prefix() + "nodes", "0", "-1"}).find('1'), std::string::npos);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    ASSERT_EQ(redis(restore), "OK");
    // Past two TTLs with writes back: any fencing has happened by now.
    std::this_thread::sleep_for(Millis(8000));
    const std::string all_in = "in room " + std::to_string(kPlayers) + "/" + std::to_string(kPlayers);
    EXPECT_NE(last_progress_line().find(all_in), std::string::npos) << bot_.output();

    EXPECT_EQ(metric_sum("behavior_cluster_fenced_total"), 0u) << "a node fenced itself; logs in " << cluster_->log_dir();
    EXPECT_EQ(metric_sum("behavior_cluster_nodes_down_total"), 0u) << "a node saw a live peer go down";
    EXPECT_GT(metric_sum("behavior_heartbeat_failures_total"), 0u) << "the refusal never reached a heartbeat";
    const uint64_t processes_after = metric_sum("behavior_processes");
    std::printf("[ measured ] live processes %llu before the refusal, %llu after\n",
                static_cast<unsigned long long>(processes_before), static_cast<unsigned long long>(processes_after));

    rapidjson::Document d;
    std::string output;
    finish_bot(bot_, &d, &output);
    if (HasFatalFailure()) return;
    // No player lost its process or its room: each joined exactly once.
    EXPECT_EQ(field(d, "joins"), static_cast<uint64_t>(kPlayers)) << output;
    const rapidjson::Value& errors = d["errors_by_kind"];
    for (const char* kind : {"error_410", "process_changed", "room_lost", "disconnected"}) {
      EXPECT_FALSE(errors.HasMember(kind)) << kind << " while Redis refused writes\n" << output;
    }
  }

  ChildProcess bot_;
  int redis_port_ = 0;
};

// Out of memory under noeviction: every write command is refused with -OOM.
TEST_F(RedisRefusesWrites, OutOfMemoryForTenSecondsUnderLoadLosesNoProcess) {
  ASSERT_EQ(redis({"CONFIG", "SET", "maxmemory-policy", "noeviction"}), "OK");
  refuse_writes_under_load({"CONFIG", "SET", "maxmemory", "1mb"}, {"CONFIG", "SET", "maxmemory", "0"}, "OOM", 10);
}

// Too few replicas for min-replicas-to-write: every write is refused with -NOREPLICAS.
TEST_F(RedisRefusesWrites, TooFewReplicasForSixSecondsUnderLoadLosesNoProcess) {
  refuse_writes_under_load({"CONFIG", "SET", "min-replicas-to-write", "1"},
                           {"CONFIG", "SET", "min-replicas-to-write", "0"}, "NOREPLICAS", 6);
}

}  // namespace
}  // namespace behavior::testing
