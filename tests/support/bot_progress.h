// bot_progress.h — the bot's progress lines (once a second on stderr) as load tests under
// faults read them: "bot 12.0s playing   in room 23/24  sent ... logins 30  joins 31  errors 7".
// Used by the chaos, failover and scale tests to wait until every player plays again.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "child_process.h"

namespace behavior::testing {

struct Progress {
  double t = 0;
  int in_room = 0;
  int players = 0;
  uint64_t logins = 0;
  uint64_t joins = 0;  // JOINED received: each player back in its room counts again
  size_t end = 0;      // where the line ends in the output
};

// The first progress line in the bot's output at or after `from` for which `ok` holds,
// waiting up to `timeout` for it.
inline std::optional<Progress> wait_progress(ChildProcess& bot, size_t from, std::chrono::milliseconds timeout,
                                             const std::function<bool(const Progress&)>& ok) {
  static const std::regex line(R"(bot +([0-9.]+)s \S+ +in room (\d+)/(\d+) .* logins (\d+) +joins (\d+) )");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    const std::string out = bot.output();
    for (size_t start = from; start < out.size();) {
      const size_t end = out.find('\n', start);
      if (end == std::string::npos) break;  // not complete yet
      std::smatch m;
      const std::string text = out.substr(start, end - start);
      if (std::regex_search(text, m, line)) {
        Progress p{std::stod(m[1]), std::stoi(m[2]), std::stoi(m[3]), std::stoull(m[4]), std::stoull(m[5]), end + 1};
        if (ok(p)) return p;
      }
      start = end + 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

// The latest progress line so far (a default one when there is none).
inline Progress latest_progress(ChildProcess& bot) {
  Progress last;
  wait_progress(bot, 0, std::chrono::milliseconds(0), [&](const Progress& p) {
    last = p;
    return false;
  });
  return last;
}

}  // namespace behavior::testing
