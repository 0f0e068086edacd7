// command_line_test.cpp — what every binary's command line shares (behavior/cli.h):
// --version, one exit code (2) for every usage error, and a message that names the flag and
// says what is wrong with its value.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "child_process.h"

namespace behavior::testing {
namespace {

const std::string kBin = BEHAVIOR_BIN_DIR;
using std::chrono::milliseconds;
const char* const kBinaries[] = {"local_server", "gateway", "name_server", "ctl", "launch", "bot"};

// Runs bin/name with args; returns its exit code (-1: did not exit normally) and output.
std::pair<int, std::string> run(const std::string& name, const std::vector<std::string>& args) {
  ChildProcess p;
  if (!p.start(kBin + "/" + name, args)) return {-1, "could not start"};
  int status = p.wait_exit(milliseconds(10000));
  return {status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, p.output()};
}

TEST(CommandLine, EveryBinaryAnswersVersion) {
  for (const char* name : kBinaries) {
    auto [code, out] = run(name, {"--version"});
    EXPECT_EQ(code, 0) << name << "\n" << out;
    EXPECT_NE(out.find(std::string(name) + " (behavior "), std::string::npos) << out;
  }
}

TEST(CommandLine, EveryBinaryExitsWithTwoOnAnUnknownFlag) {
  for (const std::string name : kBinaries) {
    // ctl wants its subcommand first.
    auto [code, out] = run(name, name == "ctl" ? std::vector<std::string>{"nodes", "--no-such-flag"}
                                               : std::vector<std::string>{"--no-such-flag"});
    EXPECT_EQ(code, 2) << name << "\n" << out;
    EXPECT_NE(out.find("--no-such-flag"), std::string::npos) << name << "\n" << out;
  }
}

TEST(CommandLine, ANonNumberIsCalledThatAndAnOutOfRangeNumberShowsTheRange) {
  auto [code, out] = run("gateway", {"--tcp-port", "abc"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--tcp-port: 'abc' is not a whole number"), std::string::npos) << out;
  std::tie(code, out) = run("gateway", {"--tcp-port", "70000"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--tcp-port: 70000 is out of range -1..65535"), std::string::npos) << out;
  std::tie(code, out) = run("local_server", {"--workers", "many"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("'many' is not a whole number"), std::string::npos) << out;
}

}  // namespace
}  // namespace behavior::testing
