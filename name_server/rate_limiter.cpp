// rate_limiter.cpp — see rate_limiter.h.
#include "rate_limiter.h"

#include <algorithm>

namespace behavior::name_server {

bool RateLimiter::allow(const std::string& key, int64_t now_ms) {
  if (rate_ <= 0) return true;
  if (now_ms >= next_prune_ms_) prune(now_ms);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now_ms});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst_, b.tokens + static_cast<double>(now_ms - b.last_ms) * rate_ / 1000.0);
    b.last_ms = now_ms;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void RateLimiter::prune(int64_t now_ms) {
  // A bucket idle for the time it takes to refill completely is the same as no bucket.
  const auto full_after_ms = static_cast<int64_t>(burst_ / rate_ * 1000.0) + 1;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = now_ms - it->second.last_ms >= full_after_ms ? buckets_.erase(it) : std::next(it);
  }
  next_prune_ms_ = now_ms + std::max<int64_t>(1000, full_after_ms);
}

}  // namespace behavior::name_server
