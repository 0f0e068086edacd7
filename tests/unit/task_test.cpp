// task_test.cpp — Task<T>: lazy start, nested awaits with values, exceptions propagating to
// the awaiting task, frames freed (checked under AddressSanitizer).
#include <gtest/gtest.h>

#include <behavior/task.h>

#include <stdexcept>

namespace behavior {
namespace {

Task<int> add(int a, int b) { co_return a + b; }
Task<int> twice(int a) {
  int x = co_await add(a, a);
  co_return x;
}
Task<> store(int* out, bool fail) {
  if (fail) throw std::runtime_error("failed");
  *out = co_await twice(21);
}

TEST(Task, IsLazyAndRunsToCompletionWhenResumed) {
  int out = 0;
  Task<> t = store(&out, false);
  EXPECT_EQ(out, 0);
  t.handle().resume();
  EXPECT_TRUE(t.handle().done());
  EXPECT_EQ(out, 42);
  EXPECT_FALSE(t.handle().promise().error);
}

TEST(Task, ExceptionIsCapturedInThePromise) {
  int out = 0;
  Task<> t = store(&out, true);
  t.handle().resume();
  ASSERT_TRUE(t.handle().done());
  ASSERT_TRUE(t.handle().promise().error);
  EXPECT_THROW(std::rethrow_exception(t.handle().promise().error), std::runtime_error);
}

Task<int> thrower() {
  throw std::logic_error("inner");
  co_return 0;
}
Task<> catcher(std::string* seen) {
  try {
    co_await thrower();
  } catch (const std::logic_error& e) {
    *seen = e.what();
  }
}

TEST(Task, NestedExceptionReachesTheAwaiter) {
  std::string seen;
  Task<> t = catcher(&seen);
  t.handle().resume();
  EXPECT_TRUE(t.handle().done());
  EXPECT_EQ(seen, "inner");
}

TEST(Task, DestroyingAnUnstartedTaskFreesItsFrame) {
  int out = 0;
  { Task<> t = store(&out, false); }
  EXPECT_EQ(out, 0);
}

}  // namespace
}  // namespace behavior
