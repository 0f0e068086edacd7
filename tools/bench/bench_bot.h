// bench_bot.h — what the benchmarks that run the bot against a local cluster (bench_rolling,
// bench_game) share: the cluster's options, and what they read back from the bot: a file's
// text, its --json summary (the last line that is a JSON object in its output), a counter.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "local_cluster.h"

namespace behavior::bench {

// A cluster of `local_servers` local servers and one gateway from the binaries in `bin_dir`,
// logging at info (the ready lines), with no login rate limit (every bot is on 127.0.0.1).
inline tools::LocalClusterOptions bench_cluster_options(const std::string& bin_dir, int local_servers) {
  tools::LocalClusterOptions o;
  o.bin_dir = bin_dir;
  o.local_servers = local_servers;
  o.gateways = 1;
  o.log_level = "info";
  o.name_server_args = {"--login-rate", "0"};
  return o;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The bot's summary in its output file; not an object when it printed none.
inline rapidjson::Document bot_summary(const std::string& out_path) {
  rapidjson::Document d;
  std::istringstream lines(slurp(out_path));
  for (std::string l; std::getline(lines, l);) {
    if (!l.empty() && l[0] == '{') d.Parse(l.c_str());
  }
  return d;
}

// A counter of the summary; ~0 when it is missing.
inline uint64_t summary_u64(const rapidjson::Value& d, const char* key) {
  return d.IsObject() && d.HasMember(key) && d[key].IsUint64() ? d[key].GetUint64() : ~uint64_t{0};
}

}  // namespace behavior::bench
