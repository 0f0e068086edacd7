// soak_test.cpp — a bounded soak: a local cluster (Redis, name server, a gateway, two local
// servers) under steady bot load over TCP, WebSocket and UDP with reconnects, the resident
// memory of every server sampled once a second from /proc. Promises: no reliable message
// lost, reordered or duplicated over the whole run (the bot's checks), and no server's
// memory grows past a bound once warmed up. BEHAVIOR_SOAK_SECONDS sets the length (60 in
// CI; `BEHAVIOR_SOAK_SECONDS=600 build/bin/soak_tests` for the 10-minute run). Optimized
// builds only: the sanitizers' allocators keep freed memory in quarantine.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "local_cluster.h"

namespace behavior::testing {
namespace {

const std::string kBot = std::string(BEHAVIOR_BIN_DIR) + "/bot";

// Resident set size of `pid` in KiB (VmRSS), or -1.
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

long max_in(const std::vector<long>& v, size_t from, size_t to) {
  long m = -1;
  for (size_t i = from; i < std::min(to, v.size()); ++i) m = std::max(m, v[i]);
  return m;
}

TEST(Soak, SteadyBotLoadLosesNothingAndEveryServersMemoryStaysBounded) {
  const char* env = std::getenv("BEHAVIOR_SOAK_SECONDS");
  const int seconds = env ? std::max(20, std::atoi(env)) : 60;
  tools::LocalClusterOptions o;
  o.bin_dir = BEHAVIOR_BIN_DIR;
  o.gateways = 1;
  o.local_servers = 2;
  tools::LocalCluster cluster(o);
  Status s = cluster.start();
  ASSERT_TRUE(s.ok()) << s.to_string();

  // 60 players at 10 actions/s each, every player reconnecting about every 20 s (the churn
  // of connections, tickets and attach/detach is where a leak would hide).
  ChildProcess bot;
  ASSERT_TRUE(bot.start(kBot, {"--name-server", cluster.name_server_url(), "--players", "60", "--duration",
                               std::to_string(seconds), "--transports", "tcp,ws,udp", "--rate", "10", "--rooms", "4",
                               "--reconnects", std::to_string(std::max(1, seconds / 20)), "--user-prefix", "soak",
                               "--drain", "3", "--no-progress"}));
  const std::vector<std::string> services = {"gateway-1", "local_server-1", "local_server-2", "name_server"};
  std::map<std::string, std::vector<long>> rss;
  int status = -1;
  while ((status = bot.wait_exit(std::chrono::milliseconds(1000))) == -1) {
    for (const std::string& name : services) rss[name].push_back(rss_kib(cluster.pid(name)));
    ASSERT_LT(rss[services[0]].size(), static_cast<size_t>(seconds + 120)) << "the bot never finished";
  }
  const std::string out = bot.output();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("result=PASS"), std::string::npos) << out;
  EXPECT_NE(out.find(" lost=0 "), std::string::npos) << out;
  std::printf("%s", out.substr(out.find("players ") == std::string::npos ? 0 : out.find("players ")).c_str());

  // Warm-up is the first quarter (connections made, rooms full, allocator pools grown);
  // the last quarter must stay within 16 MiB or 25% (whichever is more) of the warm peak.
  std::printf("[ measured ] RSS over %d s of play (KiB): service, at start, warm (25-40%%), end (last 25%%)\n",
              seconds);
  for (const std::string& name : services) {
    const std::vector<long>& v = rss[name];
    ASSERT_GE(v.size(), 8u);
    const size_t n = v.size();
    const long warm = max_in(v, n / 4, n * 2 / 5 + 1);
    const long end = max_in(v, n * 3 / 4, n);
    std::printf("[ measured ] %-15s %8ld %8ld %8ld  (%+.1f%%)\n", name.c_str(), v.front(), warm, end,
                warm > 0 ? 100.0 * double(end - warm) / double(warm) : 0.0);
    ASSERT_GT(warm, 0) << name << " was not running";
    EXPECT_LE(end - warm, std::max(16L * 1024, warm / 4)) << name << " grew from " << warm << " KiB to " << end
                                                            << " KiB under steady load";
  }
  EXPECT_TRUE(cluster.stop()) << "a service did not stop cleanly; logs in " << cluster.log_dir();
}

}  // namespace
}  // namespace behavior::testing
