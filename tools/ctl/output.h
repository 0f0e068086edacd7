// output.h — how ctl prints: aligned tables for people, one JSON document (RapidJSON) for
// machines, and message bodies as text when printable, hex otherwise.
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace behavior::ctl {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Columns padded to their widest cell, two spaces apart; numbers may be right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header, std::vector<bool> right_aligned = {});
  void add(std::vector<std::string> row);
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

void write_string(JsonWriter& w, std::string_view s);
void write_key_string(JsonWriter& w, const char* key, std::string_view s);

// True for valid UTF-8 without control characters other than tab, CR and LF.
bool printable(std::string_view bytes);
std::string to_hex(std::string_view bytes);
// "68656c6c6f" → "hello"; whitespace and a leading "0x" are allowed; nullopt when malformed.
std::optional<std::string> from_hex(std::string_view text);
// The body as a person reads it: the text itself, or "hex:" and its hex digits.
std::string show_body(std::string_view bytes);
// 1234 ms → "1.2s", 75000 → "1m15s".
std::string show_age(int64_t ms);

}  // namespace behavior::ctl
