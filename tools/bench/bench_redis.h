// bench_redis.h — what the durable-state and migration benchmarks share about their Redis:
// starting a redis-server of their own (no persistence: they measure the node and the
// scripts, not fsync) and a plain hiredis connection for INFO figures (CPU, time per script).
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "bench_process.h"

namespace behavior::bench {

class RedisProbe {
 public:
  explicit RedisProbe(const std::string& hostport) {
    auto colon = hostport.rfind(':');
    c_ = redisConnect(hostport.substr(0, colon).c_str(), std::atoi(hostport.c_str() + colon + 1));
  }
  ~RedisProbe() {
    if (c_) redisFree(c_);
  }
  RedisProbe(const RedisProbe&) = delete;
  RedisProbe& operator=(const RedisProbe&) = delete;

  bool ok() const { return c_ && !c_->err; }
  redisContext* context() { return c_; }
  // `CMD ARG`'s answer as text (a string or an integer), "" otherwise.
  std::string text(const std::string& cmd, const std::string& arg) {
    auto* r = static_cast<redisReply*>(redisCommand(c_, "%s %s", cmd.c_str(), arg.c_str()));
    std::string s;
    if (r && r->type == REDIS_REPLY_STRING) s.assign(r->str, r->len);
    if (r && r->type == REDIS_REPLY_INTEGER) s = std::to_string(r->integer);
    if (r) freeReplyObject(r);
    return s;
  }
  static double field(const std::string& text, const std::string& key) {
    auto at = text.find(key);
    return at == std::string::npos ? 0 : std::atof(text.c_str() + at + key.size());
  }

  // Redis' CPU seconds and its script calls so far (EVAL and EVALSHA together).
  struct Sample {
    double cpu_s, eval_calls, eval_usec;
  };
  Sample sample() {
    std::string cpu = text("INFO", "cpu"), cmd = text("INFO", "commandstats");
    double calls = 0, usec = 0;
    for (const char* key : {"cmdstat_eval:", "cmdstat_evalsha:"}) {
      auto at = cmd.find(key);
      if (at == std::string::npos) continue;
      std::string line = cmd.substr(at, cmd.find('\n', at) - at);
      calls += field(line, "calls=");
      usec += field(line, "usec=");
    }
    return {field(cpu, "used_cpu_sys:") + field(cpu, "used_cpu_user:"), calls, usec};
  }

 private:
  redisContext* c_ = nullptr;
};

// A redis-server on a free loopback port, keeping nothing on disk; its address in `address`.
// The pid to kill at the end (-1 if it did not start).
inline pid_t start_redis(std::string* address) {
  const int port = free_port();
  *address = "127.0.0.1:" + std::to_string(port);
  pid_t pid = spawn_process({"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--save",
                             "", "--appendonly", "no"});
  for (int i = 0; i < 100 && !RedisProbe(*address).ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return pid;
}

}  // namespace behavior::bench
