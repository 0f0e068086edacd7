// rate_limiter_test.cpp — the per-address token bucket: a burst passes, the next request is
// refused, tokens come back with time at the configured rate, addresses do not share
// buckets, quiet addresses are forgotten, and rate 0 means no limit.
#include <gtest/gtest.h>

#include "rate_limiter.h"

namespace behavior::name_server {
namespace {

TEST(RateLimiter, ABurstPassesThenRequestsAreRefusedUntilTokensReturn) {
  RateLimiter rl(10, 3);  // 10/s, burst 3
  EXPECT_TRUE(rl.allow("1.2.3.4", 0));
  EXPECT_TRUE(rl.allow("1.2.3.4", 0));
  EXPECT_TRUE(rl.allow("1.2.3.4", 0));
  EXPECT_FALSE(rl.allow("1.2.3.4", 0));
  EXPECT_FALSE(rl.allow("1.2.3.4", 50));  // half a token
  EXPECT_TRUE(rl.allow("1.2.3.4", 100));  // one token after 100 ms at 10/s
  EXPECT_FALSE(rl.allow("1.2.3.4", 100));
}

TEST(RateLimiter, AddressesHaveTheirOwnBuckets) {
  RateLimiter rl(1, 1);
  EXPECT_TRUE(rl.allow("a", 0));
  EXPECT_FALSE(rl.allow("a", 0));
  EXPECT_TRUE(rl.allow("b", 0));
}

TEST(RateLimiter, QuietAddressesAreForgotten) {
  RateLimiter rl(10, 5);
  for (int i = 0; i < 1000; ++i) rl.allow("10.0.0." + std::to_string(i), 0);
  EXPECT_EQ(rl.tracked(), 1000u);
  rl.allow("late", 5000);  // everyone else refilled long ago
  EXPECT_EQ(rl.tracked(), 1u);
}

TEST(RateLimiter, RateZeroMeansNoLimit) {
  RateLimiter rl(0, 1);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(rl.allow("x", 0));
}

}  // namespace
}  // namespace behavior::name_server
