// bot_summary.h — reading the bot's --json summary in tests (tests/e2e/bot_test.cpp, the
// chaos test under load): the output's line that starts with '{', and its counters.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <string>

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

}  // namespace behavior::testing
