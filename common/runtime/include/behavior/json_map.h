// json_map.h — a small flat map (string keys; null, bool, integer, double or string values)
// for inter-process messages. Locally it moves like any object; on the wire it is a JSON
// object (RapidJSON), readable by any language. Nested values are refused when parsing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace behavior {

class JsonMap {
 public:
  using Value = std::variant<std::nullptr_t, bool, int64_t, double, std::string>;
  static constexpr size_t kMaxWireBytes = 1 << 20;

  JsonMap& set(std::string key, Value value) {
    values_[std::move(key)] = std::move(value);
    return *this;
  }
  const Value* get(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  size_t size() const { return values_.size(); }
  const std::map<std::string, Value, std::less<>>& values() const { return values_; }

  // The wire form (the same two members as a protobuf message, so Body can carry it).
  bool SerializeToString(std::string* out) const;
  // Accepts one flat JSON object of at most kMaxWireBytes; anything else is refused.
  bool ParseFromString(const std::string& in);

  friend bool operator==(const JsonMap& a, const JsonMap& b) { return a.values_ == b.values_; }

 private:
  std::map<std::string, Value, std::less<>> values_;
};

}  // namespace behavior
