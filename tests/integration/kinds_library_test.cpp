// kinds_library_test.cpp — the stock local_server loading a game from --kinds-lib: the
// demo game's kinds are there (a call to a "user" process answers), and a library that does
// not fit (missing, not a kinds library, built for another version, refusing its settings)
// stops the start with exit code 1 and an error that says why, before any of its code runs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "child_process.h"

namespace behavior::testing {
namespace {

const std::string kBin = BEHAVIOR_BIN_DIR;
const std::string kLocalServer = kBin + "/local_server";
const std::string kLibDir = kBin + "/../lib";
using std::chrono::milliseconds;

// Runs local_server with `args` and expects it to refuse to start: exit code 1 and `why`
// in its output.
void expect_refused(const std::vector<std::string>& args, const std::string& why) {
  ChildProcess server;
  ASSERT_TRUE(server.start(kLocalServer, args));
  int status = server.wait_exit(milliseconds(10000));
  ASSERT_NE(status, -1) << "still running\n" << server.output();
  ASSERT_TRUE(WIFEXITED(status)) << server.output();
  EXPECT_EQ(WEXITSTATUS(status), 1) << server.output();
  EXPECT_NE(server.output().find(why), std::string::npos) << server.output();
  EXPECT_EQ(server.output().find("local_server ready"), std::string::npos) << server.output();
}

TEST(KindsLibrary, TheDemoGameLoadsAndTheServerSaysSo) {
  ChildProcess server;
  ASSERT_TRUE(server.start(kLocalServer, {"--kinds-lib", kLibDir + "/libbehavior_demo_game.so", "--kinds-opt",
                                          "width=12", "--workers", "1"}));
  ASSERT_TRUE(server.wait_for_output("local_server ready", milliseconds(10000))) << server.output();
  EXPECT_NE(server.output().find("kinds library demo game"), std::string::npos) << server.output();
  server.signal(SIGTERM);
  int status = server.wait_exit(milliseconds(10000));
  ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.output();
}

TEST(KindsLibrary, AMissingFileIsRefusedWithItsPath) {
  expect_refused({"--kinds-lib", "/nonexistent/libgame.so"}, "cannot load kinds library /nonexistent/libgame.so");
}

TEST(KindsLibrary, ASharedLibraryWithoutTheEntryPointIsRefused) {
  expect_refused({"--kinds-lib", kLibDir + "/libtest_not_kinds.so"}, "is not a kinds library");
}

TEST(KindsLibrary, ALibraryBuiltForAnotherVersionIsRefusedBeforeItsCodeRuns) {
  expect_refused({"--kinds-lib", kLibDir + "/libtest_wrong_version.so"}, "built against behavior 0.0.1");
}

TEST(KindsLibrary, ARegistrationErrorStopsTheStart) {
  expect_refused({"--kinds-lib", kLibDir + "/libtest_failing_kinds.so"}, "rooms must be positive");
}

TEST(KindsLibrary, ABadSettingIsAUsageError) {
  ChildProcess server;
  ASSERT_TRUE(server.start(kLocalServer, {"--kinds-opt", "novalue"}));
  int status = server.wait_exit(milliseconds(10000));
  ASSERT_TRUE(status != -1 && WIFEXITED(status)) << server.output();
  EXPECT_EQ(WEXITSTATUS(status), 2) << server.output();
  EXPECT_NE(server.output().find("expected key=value"), std::string::npos) << server.output();
}

}  // namespace
}  // namespace behavior::testing
