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

TEST(FailureBackoff, FreeFailuresThenABlockThatDoublesUpToTheMaximum) {
  FailureBackoff b(3, 4000, 60000, 100);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b.blocked_for("u", 0), 0);
    b.failed("u", 0);
  }
  EXPECT_EQ(b.blocked_for("u", 0), 0);
  b.failed("u", 0);  // the 4th: 1 s
  EXPECT_EQ(b.blocked_for("u", 0), 1000);
  EXPECT_EQ(b.blocked_for("u", 1000), 0);
  b.failed("u", 1000);  // 2 s
  EXPECT_EQ(b.blocked_for("u", 1000), 2000);
  b.failed("u", 3000);  // 4 s, the maximum
  b.failed("u", 7000);
  EXPECT_EQ(b.blocked_for("u", 7000), 4000);
  EXPECT_EQ(b.blocked_for("other", 7000), 0);
}

TEST(FailureBackoff, ASuccessOrAQuietSpellClearsTheKey) {
  FailureBackoff b(1, 60000, 10000, 100);
  b.failed("u", 0);
  b.failed("u", 0);
  EXPECT_GT(b.blocked_for("u", 0), 0);
  b.succeeded("u");
  EXPECT_EQ(b.blocked_for("u", 0), 0);
  b.failed("v", 0);
  b.failed("v", 20000);  // the first was forgotten: this is again a free one
  EXPECT_EQ(b.blocked_for("v", 20000), 0);
}

TEST(FailureBackoff, AFloodOfKeysStaysBounded) {
  FailureBackoff b(5, 60000, 600000, 1000);
  for (int i = 0; i < 100000; ++i) b.failed("user" + std::to_string(i), i);
  EXPECT_LE(b.tracked(), 1000u);
  EXPECT_EQ(b.blocked_for("user99999", 100000), 0);
}

}  // namespace
}  // namespace behavior::name_server
