// rate_limiter.cpp — see rate_limiter.h.
#include "rate_limiter.h"

#include <algorithm>
#include <cstddef>
#include <vector>

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

namespace behavior::name_server {

int64_t FailureBackoff::blocked_for(const std::string& key, int64_t now_ms) const {
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second.blocked_until_ms <= now_ms) return 0;
  return it->second.blocked_until_ms - now_ms;
}

void FailureBackoff::failed(const std::string& key, int64_t now_ms) {
  if (keys_.size() >= max_keys_ && !keys_.count(key)) prune(now_ms);
  Entry& e = keys_[key];
  if (e.failures > 0 && now_ms - e.last_ms >= forget_ms_) e = Entry{};
  e.last_ms = now_ms;
  ++e.failures;
  const int over = e.failures - free_;
  if (over <= 0) return;
  const int64_t block = over >= 20 ? max_block_ms_ : std::min<int64_t>(max_block_ms_, int64_t{1000} << (over - 1));
  e.blocked_until_ms = now_ms + block;
}

// Forgets keys quiet for forget_ms; if that frees nothing, the quietest half.
void FailureBackoff::prune(int64_t now_ms) {
  for (auto it = keys_.begin(); it != keys_.end();) {
    it = now_ms - it->second.last_ms >= forget_ms_ ? keys_.erase(it) : std::next(it);
  }
  if (keys_.size() < max_keys_) return;
  std::vector<int64_t> times;
  times.reserve(keys_.size());
  for (auto& [k, e] : keys_) times.push_back(e.last_ms);
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
  const int64_t median = times[times.size() / 2];
  for (auto it = keys_.begin(); it != keys_.end();) {
    it = it->second.last_ms <= median ? keys_.erase(it) : std::next(it);
  }
}

}  // namespace behavior::name_server
