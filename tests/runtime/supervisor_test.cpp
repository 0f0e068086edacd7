// supervisor_test.cpp — one_for_one, one_for_all and rest_for_one restart exactly the
// children they should; restart intensity makes the supervisor give up; transient and
// temporary children follow their restart type.
#include "test_support.h"

namespace behavior::testing {
namespace {

constexpr uint32_t kCrash = 40, kQuit = 41;

class Child : public Router {
 public:
  Task<> route(Message& m) override {
    if (m.proto_id() == kCrash) throw std::runtime_error("child crash");
    if (m.proto_id() == kQuit) actor().stop();
    co_return;
  }
};

ChildSpec child(std::string id, Restart restart = Restart::kPermanent) {
  ChildSpec c;
  c.id = id;
  c.start = [] { return std::make_unique<Child>(); };
  c.restart = restart;
  c.options.name = "sup_test/" + id;
  return c;
}

class Supervisors : public NodeTest {
 protected:
  Pid start_sup(SupervisorFlags flags, std::vector<ChildSpec> children) {
    Result<Pid> sup = node().spawn(std::make_unique<Supervisor>(flags, std::move(children)));
    EXPECT_TRUE(sup.ok());
    EXPECT_TRUE(wait_until([&] { return names_alive({"a", "b", "c"}); }));
    return *sup;
  }
  bool names_alive(std::initializer_list<const char*> ids) {
    for (auto id : ids) {
      if (!node().whereis(std::string("sup_test/") + id)) return false;
    }
    return true;
  }
  Pid pid_of(const char* id) { return node().whereis(std::string("sup_test/") + id).value_or(Pid()); }
  // Waits until `id` runs under a pid other than `old`.
  bool restarted(const char* id, Pid old) {
    return wait_until([&] {
      Pid now = pid_of(id);
      return now.valid() && now != old;
    });
  }
  std::vector<ChildSpec> abc() { return {child("a"), child("b"), child("c")}; }
};

TEST_F(Supervisors, OneForOneRestartsOnlyTheFailedChild) {
  Pid sup = start_sup({Strategy::kOneForOne}, abc());
  Pid a = pid_of("a"), b = pid_of("b"), c = pid_of("c");
  node().send(b, kCrash);
  ASSERT_TRUE(restarted("b", b));
  EXPECT_EQ(pid_of("a"), a);
  EXPECT_EQ(pid_of("c"), c);
  Reply r = probe().call(sup, Supervisor::kWhichChildren);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r.as<std::string>().find("b=" + pid_of("b").to_string()), std::string::npos);
}

TEST_F(Supervisors, OneForAllRestartsEveryChild) {
  start_sup({Strategy::kOneForAll}, abc());
  Pid a = pid_of("a"), b = pid_of("b"), c = pid_of("c");
  node().send(b, kCrash);
  EXPECT_TRUE(restarted("a", a));
  EXPECT_TRUE(restarted("b", b));
  EXPECT_TRUE(restarted("c", c));
}

TEST_F(Supervisors, RestForOneRestartsTheFailedChildAndThoseAfterIt) {
  start_sup({Strategy::kRestForOne}, abc());
  Pid a = pid_of("a"), b = pid_of("b"), c = pid_of("c");
  node().send(b, kCrash);
  EXPECT_TRUE(restarted("b", b));
  EXPECT_TRUE(restarted("c", c));
  EXPECT_EQ(pid_of("a"), a);
}

TEST_F(Supervisors, TooManyRestartsMakeTheSupervisorGiveUp) {
  SupervisorFlags flags{Strategy::kOneForOne, /*intensity=*/2, Millis(10000)};
  Pid sup = start_sup(flags, abc());
  watch(sup);
  for (int i = 0; i < 2; ++i) {  // within the intensity: restarted
    Pid b = pid_of("b");
    node().send(b, kCrash);
    ASSERT_TRUE(restarted("b", b)) << "restart " << i;
  }
  node().send(pid_of("b"), kCrash);  // the third restart in the period is one too many
  EXPECT_EQ(next_down_reason(probe()), "shutdown");
  EXPECT_TRUE(wait_until([&] { return !pid_of("a").valid() && !pid_of("b").valid() && !pid_of("c").valid(); }));
}

TEST_F(Supervisors, TransientChildIsRestartedOnlyAfterAnAbnormalExit) {
  start_sup({Strategy::kOneForOne},
            {child("a", Restart::kTransient), child("b", Restart::kTemporary), child("c")});
  Pid a = pid_of("a");
  node().send(a, kCrash);
  ASSERT_TRUE(restarted("a", a));
  a = pid_of("a");
  watch(a);
  node().send(a, kQuit);
  EXPECT_EQ(next_down_reason(probe()), "normal");
  Pid b = pid_of("b");
  watch(b);
  node().send(b, kCrash);
  EXPECT_EQ(next_down_reason(probe()), "exception: child crash");
  // Give a wrong restart the time to happen, then check neither came back.
  Pid c = pid_of("c");
  node().send(c, kCrash);
  ASSERT_TRUE(restarted("c", c));  // c's restart went through after a's and b's exits
  EXPECT_FALSE(pid_of("a").valid());
  EXPECT_FALSE(pid_of("b").valid());
}

TEST_F(Supervisors, StoppingTheSupervisorStopsItsChildren) {
  Pid sup = start_sup({Strategy::kOneForOne}, abc());
  Pid c = pid_of("c");
  watch(c);
  node().stop(sup);
  EXPECT_EQ(next_down_reason(probe()), "shutdown");
  EXPECT_TRUE(wait_until([&] { return !pid_of("a").valid() && !pid_of("b").valid(); }));
}

TEST_F(Supervisors, NestedSupervisorIsRestartedByItsParent) {
  ChildSpec inner;
  inner.id = "inner";
  inner.start = [] {
    return std::make_unique<Supervisor>(SupervisorFlags{Strategy::kOneForOne, 0, Millis(10000)},
                                        std::vector<ChildSpec>{child("a")});
  };
  inner.options.name = "sup_test/inner";
  node().spawn(std::make_unique<Supervisor>(SupervisorFlags{}, std::vector<ChildSpec>{inner}));
  ASSERT_TRUE(wait_until([&] { return pid_of("inner").valid() && pid_of("a").valid(); }));
  Pid inner_pid = pid_of("inner");
  Pid a = pid_of("a");
  node().send(a, kCrash);  // intensity 0: the inner supervisor gives up, the outer restarts it
  EXPECT_TRUE(restarted("inner", inner_pid));
  EXPECT_TRUE(restarted("a", a));
}

}  // namespace
}  // namespace behavior::testing
