// basics_test.cpp — Status and Result, Pid packing, the id builder, the name registry.
#include <gtest/gtest.h>

#include <behavior/id_builder.h>
#include <behavior/pid.h>
#include <behavior/status.h>

#include <set>
#include <thread>

#include "name_registry.h"

namespace behavior {
namespace {

TEST(Status, OkAndErrorsPrintTheirCode) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().to_string(), "ok");
  Status s = Status::timeout("call timed out");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kTimeout);
  EXPECT_EQ(s.to_string(), "timeout: call timed out");
}

TEST(Result, HoldsAValueOrAStatus) {
  Result<int> good(5);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 5);
  Result<int> bad(Status::not_found("x"));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kNotFound);
}

TEST(Pid, PacksNodeShardAndSerial) {
  Pid p(513, 3, 123456789);
  EXPECT_EQ(p.node(), 513);
  EXPECT_EQ(p.shard(), 3);
  EXPECT_EQ(p.serial(), 123456789u);
  EXPECT_EQ(p.to_string(), "<513.3.123456789>");
  EXPECT_EQ(Pid::from_raw(p.raw()), p);
  EXPECT_FALSE(Pid().valid());
}

TEST(IdBuilder, IdsAreUniqueAndIncreasingAcrossThreads) {
  IdBuilder ids;
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) got[t].push_back(ids.next());
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (auto& v : got) {
    for (size_t i = 1; i < v.size(); ++i) ASSERT_LT(v[i - 1], v[i]);
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), size_t{kThreads * kEach});
  EXPECT_GT(ids.next(), *all.rbegin());
}

TEST(IdBuilder, ARestartedBuilderStartsAboveTheLastRun) {
  IdBuilder first;
  uint64_t last = 0;
  for (int i = 0; i < 1000; ++i) last = first.next();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  IdBuilder second;
  EXPECT_GT(second.next(), last);
}

TEST(NameRegistry, FirstRegistrationWinsAndOnlyTheOwnerUnregisters) {
  detail::NameRegistry names;
  Pid a(1, 0, 1), b(1, 0, 2);
  EXPECT_EQ(names.try_register("room/1", a), a);
  EXPECT_EQ(names.try_register("room/1", b), a);
  names.unregister("room/1", b);  // not the owner: no effect
  EXPECT_EQ(names.lookup("room/1"), a);
  names.unregister("room/1", a);
  EXPECT_FALSE(names.lookup("room/1").has_value());
  EXPECT_EQ(names.size(), 0u);
}

}  // namespace
}  // namespace behavior
