// rate_limiter.h — a token bucket per client address, for the login and register endpoints:
// `rate` requests per second on average, bursts up to `burst`. Buckets of addresses that
// have been quiet long enough to be full again are forgotten, so memory stays bounded by
// the number of recently active addresses. One thread (the HTTP loop).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace behavior::name_server {

class RateLimiter {
 public:
  // rate <= 0: no limit.
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst < 1 ? 1 : burst) {}

  // Takes one token for `key` at `now_ms`; false when its bucket is empty.
  bool allow(const std::string& key, int64_t now_ms);
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    int64_t last_ms;
  };
  void prune(int64_t now_ms);

  double rate_;
  double burst_;
  std::unordered_map<std::string, Bucket> buckets_;
  int64_t next_prune_ms_ = 0;
};

}  // namespace behavior::name_server

namespace behavior::name_server {

// Failed password checks per key (a user name, an address): the first `free` failures cost
// nothing; each one after that blocks the key for twice as long as the last, from 1 s up to
// `max_block_ms`. A success clears the key. Keys quiet for `forget_ms` are forgotten and at
// most `max_keys` are tracked (a flood of user names evicts the quietest first), so memory
// stays bounded. Online guessing gets slower per key without locking anyone out for long.
class FailureBackoff {
 public:
  FailureBackoff(int free, int64_t max_block_ms, int64_t forget_ms, size_t max_keys)
      : free_(free), max_block_ms_(max_block_ms), forget_ms_(forget_ms), max_keys_(max_keys) {}

  // 0 when `key` may try now, else the milliseconds it must wait.
  int64_t blocked_for(const std::string& key, int64_t now_ms) const;
  void failed(const std::string& key, int64_t now_ms);
  void succeeded(const std::string& key) { keys_.erase(key); }
  size_t tracked() const { return keys_.size(); }

 private:
  struct Entry {
    int failures = 0;
    int64_t last_ms = 0;
    int64_t blocked_until_ms = 0;
  };
  void prune(int64_t now_ms);

  int free_;
  int64_t max_block_ms_;
  int64_t forget_ms_;
  size_t max_keys_;
  std::unordered_map<std::string, Entry> keys_;
};

}  // namespace behavior::name_server
