// command_line_test.cpp — what every binary's command line shares (behavior/cli.h):
// --version, one exit code (2) for every usage error, and a message that names the flag and
// says what is wrong with its value.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <tuple>

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

namespace behavior::testing {
namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

// A config file is strict: an unknown key or a line that is not `key = value` is refused
// with the file and line (before: unknown keys were ignored, a syntax error named neither).
TEST(CommandLine, AConfigFileWithAnUnknownKeyOrBadSyntaxIsRefusedWithFileAndLine) {
  const std::string unknown = write_file("unknown.toml", "# a gateway\ntcp-port = 7100\nmax_frame = 100\n");
  auto [code, out] = run("gateway", {"--config", unknown});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(unknown + ":3: unknown key 'max_frame' (did you mean max-frame?)"), std::string::npos) << out;
  const std::string bad = write_file("bad.toml", "http-port = 8100\n\nhttp-port 8200\n");
  std::tie(code, out) = run("name_server", {"--config", bad});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(bad + ":3: want key = value"), std::string::npos) << out;
  const std::string section = write_file("section.toml", "[gateway]\ntcp-port = 7100\n");
  std::tie(code, out) = run("local_server", {"--config", section});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(section + ":1: unknown section [gateway]"), std::string::npos) << out;
}

TEST(CommandLine, PrintConfigShowsTheEffectiveValuesWithSecretsMasked) {
  const std::string file = write_file("good.toml", "tcp-port = 7100\nmax-frame = 1000\n");
  auto [code, out] = run("gateway", {"--config", file, "--idle-timeout-ms", "1234", "--cluster-secret",
                                     "do-not-print", "--print-config"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("tcp-port=7100"), std::string::npos) << out;          // from the file
  EXPECT_NE(out.find("idle-timeout-ms=1234"), std::string::npos) << out;   // from the command line
  EXPECT_NE(out.find("heartbeat-ms=1000"), std::string::npos) << out;      // a default
  EXPECT_NE(out.find("redis=\"127.0.0.1:6379\""), std::string::npos) << out;
  EXPECT_EQ(out.find("do-not-print"), std::string::npos) << out;
  EXPECT_NE(out.find("cluster-secret=\"***\""), std::string::npos) << out;
}

TEST(CommandLine, AStandaloneMetricsPortIsRefusedNotIgnored) {
  auto [code, out] = run("local_server", {"--metrics-port", "9999"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--metrics-port needs --redis"), std::string::npos) << out;
}

}  // namespace
}  // namespace behavior::testing
