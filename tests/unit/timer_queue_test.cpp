// timer_queue_test.cpp — deadlines fire in order, cancelled timers never fire, periodic
// timers re-arm without bursting after a stall, and the heap compacts.
#include <gtest/gtest.h>

#include <vector>

#include "timer_queue.h"

namespace behavior::detail {
namespace {

Timer to(uint32_t proto, int64_t period_ns = 0) {
  Timer t;
  t.proto_id = proto;
  t.period_ns = period_ns;
  return t;
}

TEST(TimerQueue, FiresInDeadlineOrder) {
  TimerQueue q(0);
  q.add(300, to(3));
  q.add(100, to(1));
  q.add(200, to(2));
  std::vector<uint32_t> fired;
  q.fire_due(250, [&](uint64_t, Timer& t) { fired.push_back(t.proto_id); });
  EXPECT_EQ(fired, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(q.next_deadline(), 300);
}

TEST(TimerQueue, CancelledTimerNeverFires) {
  TimerQueue q(0);
  uint64_t id = q.add(100, to(1));
  q.add(200, to(2));
  EXPECT_TRUE(q.cancel(id));
  EXPECT_FALSE(q.cancel(id));
  std::vector<uint32_t> fired;
  q.fire_due(1000, [&](uint64_t, Timer& t) { fired.push_back(t.proto_id); });
  EXPECT_EQ(fired, (std::vector<uint32_t>{2}));
  EXPECT_EQ(q.next_deadline(), INT64_MAX);
}

TEST(TimerQueue, PeriodicTimerRearmsAndDoesNotBurstAfterAStall) {
  TimerQueue q(0);
  q.add(10, to(9, 10));
  int fired = 0;
  q.fire_due(10, [&](uint64_t, Timer&) { ++fired; });
  EXPECT_EQ(q.next_deadline(), 20);
  q.fire_due(1000, [&](uint64_t, Timer&) { ++fired; });  // stalled for 98 periods
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(q.next_deadline(), 1010);
}

TEST(TimerQueue, FireMayCancelAPeriodicTimer) {
  TimerQueue q(0);
  q.add(10, to(9, 10));
  q.fire_due(10, [&](uint64_t id, Timer&) { q.cancel(id); });
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.next_deadline(), INT64_MAX);
}

TEST(TimerQueue, ManyCancellationsKeepTheHeapBounded) {
  TimerQueue q(0);
  for (int i = 0; i < 100000; ++i) q.cancel(q.add(1000 + i, to(1)));
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.next_deadline(), INT64_MAX);
}

TEST(TimerQueue, IdsCarryTheirBase) {
  TimerQueue q(uint64_t{3} << 56);
  EXPECT_EQ(q.add(1, to(1)) >> 56, 3u);
}

}  // namespace
}  // namespace behavior::detail
