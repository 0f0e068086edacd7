// json_map.cpp — JsonMap's wire form through RapidJSON's SAX writer and DOM reader.
#include "behavior/json_map.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace behavior {

const JsonMap::Value* JsonMap::get(std::string_view key) const {
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

std::optional<int64_t> JsonMap::get_int(std::string_view key) const {
  const Value* v = get(key);
  if (v && std::holds_alternative<int64_t>(*v)) return std::get<int64_t>(*v);
  return std::nullopt;
}

std::optional<std::string> JsonMap::get_string(std::string_view key) const {
  const Value* v = get(key);
  if (v && std::holds_alternative<std::string>(*v)) return std::get<std::string>(*v);
  return std::nullopt;
}

bool JsonMap::SerializeToString(std::string* out) const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [key, value] : values_) {
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    if (std::holds_alternative<std::nullptr_t>(value)) {
      w.Null();
    } else if (const bool* b = std::get_if<bool>(&value)) {
      w.Bool(*b);
    } else if (const int64_t* i = std::get_if<int64_t>(&value)) {
      w.Int64(*i);
    } else if (const double* d = std::get_if<double>(&value)) {
      if (!w.Double(*d)) return false;  // NaN and infinities have no JSON form
    } else {
      const auto& s = std::get<std::string>(value);
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    }
  }
  w.EndObject();
  out->assign(buf.GetString(), buf.GetSize());
  return true;
}

bool JsonMap::ParseFromString(const std::string& in) {
  if (in.size() > kMaxWireBytes) return false;
  rapidjson::Document doc;
  doc.Parse(in.data(), in.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  std::map<std::string, Value, std::less<>> parsed;
  // Indexed, not `it != end`: RapidJSON's iterator comparison is ambiguous in C++20.
  auto members = doc.MemberBegin();
  for (rapidjson::SizeType i = 0; i < doc.MemberCount(); ++i) {
    const auto& member = members[i];
    std::string key(member.name.GetString(), member.name.GetStringLength());
    const auto& v = member.value;
    if (v.IsNull()) {
      parsed[key] = nullptr;
    } else if (v.IsBool()) {
      parsed[key] = v.GetBool();
    } else if (v.IsInt64()) {
      parsed[key] = v.GetInt64();
    } else if (v.IsNumber()) {
      parsed[key] = v.GetDouble();
    } else if (v.IsString()) {
      parsed[key] = std::string(v.GetString(), v.GetStringLength());
    } else {
      return false;  // arrays and objects: not a flat map
    }
  }
  values_ = std::move(parsed);
  return true;
}

}  // namespace behavior
