// launch_test.cpp — the README's first command end to end: `launch` starts redis-server, two
// local servers, a gateway and the name server, the bots play over TCP, WebSocket and UDP
// with reconnects, the summary says zero loss, and everything stops cleanly; and Ctrl-C on
// a launcher without bots stops every service it started.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

#include "child_process.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

const std::string kLaunch = std::string(BEHAVIOR_BIN_DIR) + "/launch";

std::vector<pid_t> printed_pids(const std::string& out) {
  std::vector<pid_t> pids;
  std::regex line(R"(\n(redis|local_server-\d|gateway-\d|name_server)\s+(\d+)\s)");
  for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it) {
    pids.push_back(static_cast<pid_t>(std::stol((*it)[2])));
  }
  return pids;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(Launch, BotsPlayOnAFreshClusterWithZeroLossAndEverythingStopsCleanly) {
  ChildProcess launch;
  ASSERT_TRUE(launch.start(
      kLaunch, {"--name-server-port", "0", "--bots", "30", "--duration", "8", "--rooms", "3",
                "--rate", "10", "--reconnects", "1", "--transports", "tcp,ws,udp"}));
  int status = launch.wait_exit(Millis(90000));
  std::string out = launch.output();
  ASSERT_NE(status, -1) << out;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("result=PASS"), std::string::npos) << out;
  EXPECT_NE(out.find(" lost=0 "), std::string::npos) << out;
  EXPECT_NE(out.find("every service stopped cleanly"), std::string::npos) << out;
  std::vector<pid_t> pids = printed_pids(out);
  EXPECT_EQ(pids.size(), 5u) << out;  // redis, 2 local servers, gateway, name server
  for (pid_t p : pids) EXPECT_FALSE(alive(p)) << "pid " << p << " outlived the launcher";
}

// Given a Redis that is not there, launch says so at once (it used to say "starting
// redis-server", which it was not doing, and fail after 30 s with raw JSON).
TEST(Launch, AnUnreachableRedisIsNamedAtOnce) {
  ChildProcess launch;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(launch.start(kLaunch, {"--redis", "127.0.0.1:1", "--bots", "0"}));
  int status = launch.wait_exit(Millis(10000));
  ASSERT_NE(status, -1) << launch.output();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(launch.output().find("Redis at 127.0.0.1:1 is unreachable"), std::string::npos) << launch.output();
  EXPECT_EQ(launch.output().find("starting redis-server"), std::string::npos) << launch.output();
}

TEST(Launch, CtrlCStopsEveryServiceItStarted) {
  ChildProcess launch;
  ASSERT_TRUE(launch.start(kLaunch, {"--name-server-port", "0", "--bots", "0"}));
  ASSERT_TRUE(launch.wait_for_output("Ctrl-C stops everything", Millis(30000))) << launch.output();
  std::vector<pid_t> pids = printed_pids(launch.output());
  ASSERT_EQ(pids.size(), 5u) << launch.output();
  for (pid_t p : pids) EXPECT_TRUE(alive(p));
  launch.signal(SIGINT);
  int status = launch.wait_exit(Millis(30000));
  ASSERT_NE(status, -1) << launch.output();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << launch.output();
  EXPECT_NE(launch.output().find("every service stopped cleanly"), std::string::npos)
      << launch.output();
  for (pid_t p : pids) EXPECT_FALSE(alive(p)) << "pid " << p << " outlived the launcher";
}

// A service that dies while the cluster runs is reported at once, with how it ended and the
// end of its log (it used to be noticed only at Ctrl-C, as a raw wait status).
TEST(Launch, AServiceThatDiesIsReportedAtOnceWithItsLogTail) {
  ChildProcess launch;
  ASSERT_TRUE(launch.start(kLaunch, {"--name-server-port", "0", "--bots", "0"}));
  ASSERT_TRUE(launch.wait_for_output("Ctrl-C stops everything", Millis(30000))) << launch.output();
  std::smatch m;
  const std::string out = launch.output();
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(\nlocal_server-2\s+(\d+)\s)"))) << out;
  ::kill(static_cast<pid_t>(std::stol(m[1])), SIGKILL);
  ASSERT_TRUE(launch.wait_for_output("local_server-2 exited (killed by SIGKILL) while the cluster runs", Millis(5000)))
      << launch.output();
  EXPECT_NE(launch.output().find("local_server ready"), std::string::npos) << "no log tail\n" << launch.output();
  launch.signal(SIGINT);
  int status = launch.wait_exit(Millis(30000));
  ASSERT_NE(status, -1) << launch.output();
}

}  // namespace
}  // namespace behavior::testing
