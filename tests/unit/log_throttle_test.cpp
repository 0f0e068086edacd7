// log_throttle_test.cpp — LogThrottle (logging.h): a flood of one warning writes a bounded
// number of lines, and the next line that gets through says how many were left out.
#include <behavior/logging.h>
#include <gtest/gtest.h>

#include <thread>

namespace behavior {
namespace {

TEST(LogThrottle, AFloodWritesAtMostTheBurstEachSecondAndCountsTheRest) {
  LogThrottle throttle(10);
  const uint64_t suppressed_before = log_lines_suppressed();
  int written = 0;
  uint64_t left_out = 0;
  for (int i = 0; i < 10000; ++i) {
    if (throttle.allow(&left_out)) ++written;
  }
  // Within one second 10; if the loop crossed a second boundary, at most 20.
  EXPECT_GE(written, 10);
  EXPECT_LE(written, 20);
  EXPECT_EQ(log_lines_suppressed() - suppressed_before, uint64_t(10000 - written));
  // A second later the next line gets through and says what was left out.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_TRUE(throttle.allow(&left_out));
  EXPECT_GT(left_out, 0u);
  EXPECT_EQ(left_out_note(left_out), " (" + std::to_string(left_out) + " more like it left out)");
  EXPECT_EQ(left_out_note(0), "");
}

}  // namespace
}  // namespace behavior
