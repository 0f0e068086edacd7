// supervisor.h — OTP-style supervisors: a process that starts children, links to them,
// traps their exits and restarts them by strategy, within a restart intensity.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "behavior/actor.h"
#include "behavior/router.h"

namespace behavior {

enum class Strategy : uint8_t {
  kOneForOne,   // restart the child that exited
  kOneForAll,   // stop all the others, restart all
  kRestForOne,  // stop the children started after it, restart it and them
};

enum class Restart : uint8_t {
  kPermanent,  // always restarted
  kTransient,  // restarted only after an abnormal exit (not normal or shutdown)
  kTemporary,  // never restarted
};

struct ChildSpec {
  std::string id;
  std::function<std::unique_ptr<Router>()> start;
  Restart restart = Restart::kPermanent;
  SpawnOptions options;  // name, kind, mailbox limit...
};

struct SupervisorFlags {
  Strategy strategy = Strategy::kOneForOne;
  // More than `intensity` restarts within `period`: the supervisor stops its children and
  // exits with reason "shutdown" (OTP's reached_max_restart_intensity).
  int intensity = 3;
  Millis period{5000};
  // How long a child may take to exit on "shutdown" before it is killed.
  Millis shutdown_timeout{5000};
};

class Supervisor : public Router {
 public:
  Supervisor(SupervisorFlags flags, std::vector<ChildSpec> children);

  void on_start() override;
  Task<> route(Message& m) override;
  void on_stop(std::string_view reason) override;

  // Pid of a child by id (invalid while it is restarting). Only from the supervisor's own
  // process; other processes ask with a kWhichChildren call.
  Pid child(std::string_view id) const;

  // Calls the supervisor answers: proto kWhichChildren → bytes "id=pid,..." (for tools).
  static constexpr uint32_t kWhichChildren = 0xFFFE0001u;

 private:
  struct Child {
    ChildSpec spec;
    Pid pid;
    bool terminating = false;
  };
  bool start_child(size_t i);
  void on_child_exit(size_t i, const std::string& reason);
  bool record_restart();
  void terminate(size_t i);
  void restart_pending();
  void give_up();

  SupervisorFlags flags_;
  std::vector<Child> children_;
  std::deque<int64_t> restarts_;  // steady-clock ms of recent restarts
  std::vector<size_t> to_restart_;  // children to start once every terminating one is gone
  size_t terminating_ = 0;
  bool giving_up_ = false;
  static constexpr uint32_t kKillStragglers = 0xFFFE0002u;
  static constexpr uint32_t kRetry = 0xFFFE0003u;
};

}  // namespace behavior
