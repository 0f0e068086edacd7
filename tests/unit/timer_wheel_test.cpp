// timer_wheel_test.cpp — the gateway's KCP timer wheel: items are visited at or after the
// time they asked for and within a tick of it, once; an earlier request moves an item, a
// later one keeps the earlier visit; cancelled items are never visited; a wheel started
// before its first schedule keeps every time; times beyond the wheel's span and a stalled
// loop still get every item visited.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include <behavior/timer_wheel.h>

namespace behavior::gateway {
namespace {

struct Item {
  int id = 0;
  uint64_t wheel_tick = 0;
};

// Advances 1 ms at a time until `until`, recording (item id, time of the visit).
std::vector<std::pair<int, uint64_t>> run(TimerWheel<Item>& w, uint64_t from, uint64_t until) {
  std::vector<std::pair<int, uint64_t>> visits;
  for (uint64_t t = from; t <= until; ++t) w.advance(t, [&](Item* i) { visits.push_back({i->id, t}); });
  return visits;
}

TEST(TimerWheel, ItemsAreVisitedOnceAtOrWithinATickAfterTheirTime) {
  TimerWheel<Item> w(64, 10);
  w.advance(1000, [](Item*) {});
  std::vector<Item> items(50);
  std::map<int, uint64_t> asked;
  for (int i = 0; i < 50; ++i) {
    items[i].id = i;
    asked[i] = 1001 + static_cast<uint64_t>(i) * 7;  // all after now (a past time waits for the next tick)
    w.schedule(&items[i], asked[i]);
  }
  EXPECT_EQ(w.size(), 50u);
  auto visits = run(w, 1001, 1500);
  ASSERT_EQ(visits.size(), 50u);
  for (auto [id, at] : visits) {
    EXPECT_GE(at, asked[id]) << id;
    EXPECT_LT(at, asked[id] + 10) << id;
    EXPECT_EQ(items[id].wheel_tick, 0u);
  }
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, AnEarlierRequestMovesAnItemALaterOneKeepsTheEarlierVisit) {
  TimerWheel<Item> w(64, 10);
  w.advance(0, [](Item*) {});
  Item a{1}, b{2};
  w.schedule(&a, 300);
  w.schedule(&a, 100);  // earlier: moved
  w.schedule(&b, 100);
  w.schedule(&b, 300);  // later: the visit at 100 stays
  EXPECT_EQ(w.size(), 2u);
  auto visits = run(w, 1, 400);
  ASSERT_EQ(visits.size(), 2u);
  EXPECT_EQ(visits[0].second / 10, 10u);
  EXPECT_EQ(visits[1].second / 10, 10u);
}

TEST(TimerWheel, ItemsScheduledBeforeTheFirstAdvanceKeepTheirTimes) {
  TimerWheel<Item> w(64, 10);
  w.start(1000);
  Item late{1}, early{2};
  w.schedule(&late, 1500);  // the first schedule does not set the wheel's clock
  w.schedule(&early, 1100);
  auto visits = run(w, 1000, 1600);
  ASSERT_EQ(visits.size(), 2u);
  EXPECT_EQ(visits[0].first, 2);
  EXPECT_EQ(visits[0].second, 1100u);
  EXPECT_EQ(visits[1].first, 1);
  EXPECT_EQ(visits[1].second, 1500u);
}

TEST(TimerWheel, CancelledItemsAreNeverVisited) {
  TimerWheel<Item> w(64, 10);
  w.advance(0, [](Item*) {});
  Item a{1}, b{2};
  w.schedule(&a, 50);
  w.schedule(&b, 50);
  w.cancel(&a);
  w.cancel(&a);  // twice is harmless
  auto visits = run(w, 1, 200);
  ASSERT_EQ(visits.size(), 1u);
  EXPECT_EQ(visits[0].first, 2);
}

TEST(TimerWheel, TimesBeyondTheSpanAndAStalledLoopStillVisitEveryItem) {
  TimerWheel<Item> w(16, 10);  // spans 160 ms
  w.advance(0, [](Item*) {});
  Item far{1}, near{2};
  w.schedule(&far, 1000);
  w.schedule(&near, 20);
  // Visited early from the last bucket, the far item asks again for its time, as the
  // gateway does after finding nothing due.
  std::vector<std::pair<int, uint64_t>> visits;
  for (uint64_t t = 1; t <= 1200; ++t) {
    w.advance(t, [&](Item* i) {
      if (i->id == 1 && t < 1000) {
        w.schedule(i, 1000);
        return;
      }
      visits.push_back({i->id, t});
    });
  }
  ASSERT_EQ(visits.size(), 2u);
  EXPECT_EQ(visits[0].first, 2);
  EXPECT_EQ(visits[1].first, 1);
  EXPECT_GE(visits[1].second, 1000u);
  EXPECT_LT(visits[1].second, 1010u);
  // A loop stalled for many turns: one advance visits everything that is due.
  Item x{3}, y{4};
  w.schedule(&x, 1300);
  w.schedule(&y, 1350);
  int seen = 0;
  w.advance(50000, [&](Item*) { ++seen; });
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(w.size(), 0u);
}

}  // namespace
}  // namespace behavior::gateway
