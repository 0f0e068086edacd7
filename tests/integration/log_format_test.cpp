// log_format_test.cpp — --log-format json: every line a server writes is one JSON object
// with time, level, node and msg, whatever the message holds (quotes, backslashes).
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>

#include <sstream>

#include "child_process.h"

namespace behavior::testing {
namespace {

TEST(LogFormat, JsonLinesAreEachOneObjectWithTimeLevelNodeAndMessage) {
  ChildProcess p;
  ASSERT_TRUE(p.start(std::string(BEHAVIOR_BIN_DIR) + "/local_server",
                      {"--node-id", "7", "--log-format", "json", "--kinds-lib", "/nonexistent/a \"quoted\" \\ name.so"}));
  // The library is refused: a line with quotes and a backslash in it, then exit 1.
  int status = p.wait_exit(std::chrono::milliseconds(10000));
  ASSERT_NE(status, -1);
  std::istringstream lines(p.output());
  int objects = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;  // CLI11's own messages are not log lines
    rapidjson::Document d;
    d.Parse(line.c_str());
    ASSERT_FALSE(d.HasParseError()) << line;
    ASSERT_TRUE(d.IsObject()) << line;
    EXPECT_TRUE(d.HasMember("time") && d["time"].IsString()) << line;
    EXPECT_TRUE(d.HasMember("level") && d["level"].IsString()) << line;
    EXPECT_TRUE(d.HasMember("node") && d["node"].IsInt() && d["node"].GetInt() == 7) << line;
    EXPECT_TRUE(d.HasMember("msg") && d["msg"].IsString()) << line;
    ++objects;
  }
  EXPECT_GT(objects, 0) << p.output();
  EXPECT_NE(p.output().find(R"(a \"quoted\" \\ name.so)"), std::string::npos) << p.output();
}

TEST(LogFormat, AnUnknownFormatIsAUsageError) {
  ChildProcess p;
  ASSERT_TRUE(p.start(std::string(BEHAVIOR_BIN_DIR) + "/gateway", {"--log-format", "xml"}));
  int status = p.wait_exit(std::chrono::milliseconds(10000));
  ASSERT_TRUE(status != -1 && WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2) << p.output();
  EXPECT_NE(p.output().find("--log-format"), std::string::npos) << p.output();
}

}  // namespace
}  // namespace behavior::testing
