// bot_summary.h — reading the bot's --json summary in tests (tests/e2e/bot_test.cpp, the
// chaos test under load): the output's line that starts with '{', and its counters.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>

#include <cstdint>
#include <string>

#include "child_process.h"

namespace behavior::testing {

// The JSON summary: the output's line that starts with '{' (stderr lines start with "bot").
inline bool parse_summary(const std::string& output, rapidjson::Document* d) {
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    if (output[start] == '{') {
      d->Parse(output.c_str() + start, end - start);
      return !d->HasParseError() && d->IsObject();
    }
    start = end + 1;
  }
  return false;
}

// A counter of the summary; all ones when it is missing (so a comparison with 0 fails).
inline uint64_t field(const rapidjson::Value& o, const char* key) {
  return o.IsObject() && o.HasMember(key) && o[key].IsUint64() ? o[key].GetUint64() : ~uint64_t{0};
}

// Ends the bot's play (SIGINT: drain, then the summary) and checks the verdict every load
// test shares: it exited 0 with a PASS summary, and no acknowledged message was lost,
// reordered or duplicated. The summary goes to *d, the whole output to *output.
inline void finish_bot(ChildProcess& bot, rapidjson::Document* d, std::string* output) {
  bot.signal(SIGINT);
  const int status = bot.wait_exit(std::chrono::milliseconds(60000));
  *output = bot.output();
  ASSERT_NE(status, -1) << *output;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << *output;
  ASSERT_TRUE(parse_summary(*output, d)) << *output;
  EXPECT_STREQ((*d)["result"].GetString(), "PASS") << *output;
  EXPECT_EQ(field(*d, "lost"), 0u) << *output;
  EXPECT_EQ(field(*d, "reordered"), 0u) << *output;
  EXPECT_EQ(field(*d, "duplicated"), 0u) << *output;
}

}  // namespace behavior::testing
