// local_server_test.cpp — the real local_server binary as a separate OS process: it starts
// with no arguments, logs that it is ready, and on SIGTERM or SIGINT shuts down cleanly
// (exit code 0); bad flags give a clear error and a non-zero exit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "child_process.h"

namespace behavior::testing {
namespace {

const std::string kBinary = std::string(BEHAVIOR_BIN_DIR) + "/local_server";
using std::chrono::milliseconds;

class LocalServerSignals : public ::testing::TestWithParam<int> {};

TEST_P(LocalServerSignals, StartsWithNoArgumentsAndStopsCleanlyOnSignal) {
  ChildProcess server;
  ASSERT_TRUE(server.start(kBinary, {}));
  ASSERT_TRUE(server.wait_for_output("local_server ready", milliseconds(10000))) << server.output();
  server.signal(GetParam());
  int status = server.wait_exit(milliseconds(10000));
  ASSERT_NE(status, -1) << "did not exit after the signal\n" << server.output();
  ASSERT_TRUE(WIFEXITED(status)) << server.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << server.output();
  EXPECT_NE(server.output().find("local_server stopped on signal " + std::to_string(GetParam())),
            std::string::npos)
      << server.output();
}

INSTANTIATE_TEST_SUITE_P(TermAndInt, LocalServerSignals, ::testing::Values(SIGTERM, SIGINT));

TEST(LocalServer, ReadsItsConfigurationFromTheEnvironment) {
  ChildProcess server;
  ASSERT_TRUE(server.start(kBinary, {}, {"BEHAVIOR_NODE_ID=77", "BEHAVIOR_WORKERS=1",
                                         "BEHAVIOR_CAPACITY=1234"}));
  ASSERT_TRUE(server.wait_for_output("local_server ready", milliseconds(10000))) << server.output();
  std::string out = server.output();
  EXPECT_NE(out.find("node=77"), std::string::npos) << out;
  EXPECT_NE(out.find("workers=1 capacity=1234"), std::string::npos) << out;
  server.signal(SIGTERM);
  EXPECT_NE(server.wait_exit(milliseconds(10000)), -1);
}

TEST(LocalServer, RejectsABadFlagWithAClearError) {
  ChildProcess server;
  ASSERT_TRUE(server.start(kBinary, {"--workers", "many"}));
  int status = server.wait_exit(milliseconds(10000));
  ASSERT_NE(status, -1);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(server.output().find("--workers"), std::string::npos) << server.output();
}

}  // namespace
}  // namespace behavior::testing
