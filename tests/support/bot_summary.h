// bot_summary.h — reading the bot's --json summary in tests (tests/e2e/bot_test.cpp, the
// chaos test under load): the output's line that starts with '{', and its counters.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>

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

// Players of a load test: `env` if set (the full runs, e.g. 300), else 90 (24 under
// ThreadSanitizer, where every server runs several times slower).
inline int players_from_env(const char* env) {
  const char* v = std::getenv(env);
  const int n = v ? std::atoi(v) : 0;
#if defined(BEHAVIOR_TSAN)
  constexpr int kDefault = 24;
#else
  constexpr int kDefault = 90;
#endif
  return n > 0 ? n : kDefault;
}

// Starts `players` bots (`bot_binary`) over TCP, WebSocket and UDP in 6 rooms, 10 actions/s,
// with a JSON summary, and returns once every one is in its room (a fatal failure if not
// within 60 s). They play until finish_bot (or `duration_s`).
inline void start_playing_bots(ChildProcess& bot, const std::string& bot_binary, const std::string& name_server,
                               int players, const std::string& user_prefix, int duration_s) {
  const std::string all_in = "in room " + std::to_string(players) + "/" + std::to_string(players);
  ASSERT_TRUE(bot.start(bot_binary, {"--name-server", name_server, "--players", std::to_string(players), "--duration",
                                     std::to_string(duration_s), "--transports", "tcp,ws,udp", "--rooms", "6", "--rate",
                                     "10", "--drain", "10", "--json", "--progress", "--user-prefix", user_prefix}));
  ASSERT_TRUE(bot.wait_for_output(all_in, std::chrono::milliseconds(60000))) << bot.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
}

// The verdict of a load test under a fault: every error kind in the summary is one the fault
// explains (`explained`). Returns "kind=count ..." for the test's measured line.
inline std::string expect_only_explained_errors(const rapidjson::Document& d, const std::string& output,
                                                const std::set<std::string>& explained) {
  std::string kinds;
  for (const auto& m : d["errors_by_kind"].GetObject()) {
    const std::string kind = m.name.GetString();
    kinds += kind + "=" + std::to_string(m.value.GetUint64()) + " ";
    EXPECT_TRUE(explained.count(kind)) << "an error the fault does not explain: " << kind << "\n" << output;
  }
  return kinds;
}

// The verdict of a load test whose players must notice nothing (an evacuation, a rolling
// upgrade): no error of any kind, every player joined its room exactly once (nobody was
// disconnected, kicked or sent back to log in) and nobody's leave was heard, nothing lost, reordered or duplicated, no
// state violation, and every stream delivered. Prints the message counts.
inline void expect_nothing_noticed(const rapidjson::Document& d, const std::string& output, int players) {
  EXPECT_EQ(field(d, "errors"), 0u) << output;
  EXPECT_EQ(field(d, "joins"), static_cast<uint64_t>(players)) << output;
  EXPECT_EQ(field(d, "lost"), 0u) << output;
  EXPECT_EQ(field(d, "reordered"), 0u) << output;
  EXPECT_EQ(field(d, "duplicated"), 0u) << output;
  EXPECT_EQ(field(d, "abandoned_by_failure"), 0u) << output;
  EXPECT_EQ(field(d, "state_violations"), 0u) << output;
  // Nobody left a room while the play went on: a move or an update that takes a playing
  // player out of its room shows here even when its echoes still come (a leave, then a join).
  EXPECT_EQ(field(d, "player_left_in_play"), 0u) << output;
  for (const char* stream : {"chat", "pong", "position_reliable"}) {
    EXPECT_GT(field(d[stream], "delivered"), 0u) << stream;
  }
  std::printf("[ measured ] %d players: %llu messages sent, %llu received, %llu joins, %llu errors\n", players,
              static_cast<unsigned long long>(field(d, "msgs_sent")),
              static_cast<unsigned long long>(field(d, "msgs_received")),
              static_cast<unsigned long long>(field(d, "joins")), static_cast<unsigned long long>(field(d, "errors")));
}

// After the event under test: lets the bots play on a little (until they have printed more
// progress, then 2 s), ends the play and expects that nobody noticed anything.
inline void play_on_and_expect_nothing_noticed(ChildProcess& bot, int players) {
  const size_t at = bot.output().size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (bot.output().size() <= at + 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(bot.output().size(), at + 200) << "the bots stopped printing progress: " << bot.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  rapidjson::Document d;  // finish_bot ends the play (SIGINT), then reads the summary
  std::string output;
  finish_bot(bot, &d, &output);
  if (::testing::Test::HasFatalFailure()) return;
  expect_nothing_noticed(d, output, players);
}

}  // namespace behavior::testing
