// logging.h — one spdlog logger for the whole binary: one line per event, prefixed with the
// node id, so the lines of several servers can be read side by side; or one JSON object per
// line for a log collector. And a throttle for the lines a hostile peer can cause (refused
// handshakes, bad datagrams): a flood costs a bounded number of lines and a counter.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace behavior {

// Sets the format and the level ("trace", "debug", "info", "warn", "error", "off").
//   text: "<time> <level> node=<id> <message>"
//   json: {"time":"<UTC, ISO 8601>","level":"<level>","node":<id>,"msg":"<message>"}
void init_logging(uint16_t node_id, std::string_view level = "info", std::string_view format = "text");

// A fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) writes "fatal signal N (NAME)"
// and the stack to stderr, then ends the process with that signal as before. Every server
// installs it (finish_server_flags). False when not installed: a sanitizer build keeps the
// sanitizer's report.
bool install_crash_report();

// At most `burst` lines per second from one call site; the rest are counted, and the next
// line that gets through says how many were left out. Thread-safe.
//   static LogThrottle throttle;
//   if (uint64_t left_out; throttle.allow(&left_out)) spdlog::warn("...{}", ..., left_out_note(left_out));
class LogThrottle {
 public:
  explicit LogThrottle(uint32_t burst = 10) : burst_(burst) {}
  bool allow(uint64_t* left_out);

 private:
  const uint32_t burst_;
  std::atomic<int64_t> second_{-1};
  std::atomic<uint32_t> lines_{0};
  std::atomic<uint64_t> left_out_{0};
};

// "" or " (N more like it left out)", to end the line that gets through.
inline std::string left_out_note(uint64_t left_out) {
  return left_out ? " (" + std::to_string(left_out) + " more like it left out)" : std::string();
}

// Lines every LogThrottle of this process left out (behavior_log_lines_suppressed_total).
uint64_t log_lines_suppressed();

}  // namespace behavior
