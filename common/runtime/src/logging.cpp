// logging.cpp — see logging.h.
#include "behavior/logging.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>

#include <chrono>
#include <memory>
#include <string>

namespace behavior {
namespace {

std::atomic<uint64_t> g_suppressed{0};

// %j: the message as the inside of a JSON string (quotes, backslashes and control bytes
// escaped; other bytes as they are).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (u < 0x20) {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
        dest.append(esc, esc + 6);
      } else {
        dest.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

}  // namespace

void init_logging(uint16_t node_id, std::string_view level, std::string_view format) {
  if (format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonMessageFlag>('j').set_pattern(
        fmt::format(R"({{"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","node":{},"msg":"%j"}})", node_id));
    spdlog::set_formatter(std::move(f));
  } else {
    spdlog::set_pattern(fmt::format("%Y-%m-%d %H:%M:%S.%e %^%l%$ node={} %v", node_id));
  }
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

bool LogThrottle::allow(uint64_t* left_out) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t seen = second_.load(std::memory_order_relaxed);
  if (seen != now && second_.compare_exchange_strong(seen, now, std::memory_order_relaxed)) {
    lines_.store(0, std::memory_order_relaxed);
  }
  if (lines_.fetch_add(1, std::memory_order_relaxed) < burst_) {
    *left_out = left_out_.exchange(0, std::memory_order_relaxed);
    return true;
  }
  left_out_.fetch_add(1, std::memory_order_relaxed);
  g_suppressed.fetch_add(1, std::memory_order_relaxed);
  return false;
}

uint64_t log_lines_suppressed() { return g_suppressed.load(std::memory_order_relaxed); }

}  // namespace behavior
