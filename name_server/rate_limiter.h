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
