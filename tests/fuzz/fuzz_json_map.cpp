// fuzz_json_map.cpp — libFuzzer target for JsonMap's wire form: any bytes either parse into
// a flat map that round-trips, or are refused.
#include <cstddef>
#include <cstdint>
#include <string>

#include <behavior/json_map.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  behavior::JsonMap m;
  if (!m.ParseFromString(std::string(reinterpret_cast<const char*>(data), size))) return 0;
  std::string wire;
  if (!m.SerializeToString(&wire)) return 0;  // NaN/inf cannot come from JSON, but be lenient
  behavior::JsonMap back;
  if (!back.ParseFromString(wire) || back.size() != m.size()) __builtin_trap();
  return 0;
}
