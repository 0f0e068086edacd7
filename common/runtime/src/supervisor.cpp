// supervisor.cpp — restart strategies and intensity, as in OTP's supervisor module. All
// state changes happen in the supervisor's own process: children are linked, their exits
// arrive as proto::kExit messages, and terminations for one_for_all / rest_for_one finish
// (every EXIT received) before the restarts begin, so a restarted child never meets its
// old incarnation's registered name.
#include "behavior/supervisor.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "behavior/clock.h"
#include <behavior/system.pb.h>

namespace behavior {
namespace {
}  // namespace

Supervisor::Supervisor(SupervisorFlags flags, std::vector<ChildSpec> children) : flags_(flags) {
  for (auto& spec : children) children_.push_back(Child{std::move(spec), Pid()});
}

void Supervisor::on_start() {
  actor().trap_exit(true);
  for (size_t i = 0; i < children_.size(); ++i) {
    if (!start_child(i)) {
      give_up();
      return;
    }
  }
}

bool Supervisor::start_child(size_t i) {
  Child& c = children_[i];
  Result<Pid> pid = actor().spawn_link(c.spec.start(), c.spec.options);
  if (!pid.ok()) {
    spdlog::error("supervisor {} could not start child {}: {}", actor().pid().to_string(),
                  c.spec.id, pid.status().to_string());
    return false;
  }
  c.pid = *pid;
  return true;
}

Task<> Supervisor::route(Message& m) {
  switch (m.proto_id()) {
    case proto::kExit: {
      auto& sig = m.as<pb::ExitSignal>();
      Pid from = Pid::from_raw(sig.pid());
      for (size_t i = 0; i < children_.size(); ++i) {
        if (children_[i].pid == from) {
          on_child_exit(i, sig.reason());
          co_return;
        }
      }
      // Not a child: our own parent (or another linked process) went down.
      if (sig.reason() != reason::kNormal) actor().stop(sig.reason());
      co_return;
    }
    case kKillStragglers:
      for (auto& c : children_) {
        if (c.pid.valid() && c.terminating) actor().exit(c.pid, reason::kKill);
      }
      co_return;
    case kRetry:
      restart_pending();
      co_return;
    case kWhichChildren: {
      std::string out;
      for (auto& c : children_) {
        if (!out.empty()) out += ',';
        out += c.spec.id + "=" + (c.pid.valid() ? c.pid.to_string() : "undefined");
      }
      actor().reply(m, kWhichChildren, Body::bytes(std::move(out)));
      co_return;
    }
    default:
      if (m.is_call()) actor().reply_error(m.reply_to(), Status::invalid_argument("unknown request"));
      co_return;
  }
}

void Supervisor::on_child_exit(size_t i, const std::string& why) {
  Child& c = children_[i];
  c.pid = Pid();
  if (c.terminating) {
    c.terminating = false;
    if (--terminating_ == 0) restart_pending();
    return;
  }
  if (giving_up_) return;
  bool clean = why == reason::kNormal || why == reason::kShutdown || why == reason::kMigrated;
  bool restart = c.spec.restart == Restart::kPermanent ||
                 (c.spec.restart == Restart::kTransient && !clean);
  if (!restart) return;
  if (!record_restart()) {
    spdlog::error("supervisor {} reached max restart intensity ({} in {} ms); child {} exited: {}",
                  actor().pid().to_string(), flags_.intensity, flags_.period.count(), c.spec.id, why);
    give_up();
    return;
  }
  spdlog::warn("supervisor {} restarting child {} (exited: {})", actor().pid().to_string(),
               c.spec.id, why);
  to_restart_.clear();
  switch (flags_.strategy) {
    case Strategy::kOneForOne:
      to_restart_.push_back(i);
      break;
    case Strategy::kOneForAll:
    case Strategy::kRestForOne: {
      size_t first = flags_.strategy == Strategy::kOneForAll ? 0 : i;
      for (size_t j = first; j < children_.size(); ++j) {
        if (j == i || children_[j].spec.restart != Restart::kTemporary) to_restart_.push_back(j);
      }
      for (size_t j = children_.size(); j-- > first;) {
        if (j != i && children_[j].pid.valid()) terminate(j);
      }
      break;
    }
  }
  if (terminating_ == 0) restart_pending();
}

void Supervisor::terminate(size_t i) {
  Child& c = children_[i];
  c.terminating = true;
  ++terminating_;
  actor().exit(c.pid, reason::kShutdown);
  actor().send_after(flags_.shutdown_timeout, kKillStragglers);
}

void Supervisor::restart_pending() {
  while (!to_restart_.empty()) {
    size_t i = to_restart_.front();
    if (!children_[i].pid.valid() && !start_child(i)) {
      if (!record_restart()) {
        give_up();
        return;
      }
      actor().send_after(Millis(10), kRetry);  // try again shortly, within the intensity
      return;
    }
    to_restart_.erase(to_restart_.begin());
  }
}

bool Supervisor::record_restart() {
  int64_t now = steady_ms();
  restarts_.push_back(now);
  while (!restarts_.empty() && restarts_.front() < now - flags_.period.count()) restarts_.pop_front();
  return static_cast<int>(restarts_.size()) <= flags_.intensity;
}

void Supervisor::give_up() {
  giving_up_ = true;
  to_restart_.clear();
  actor().stop(reason::kShutdown);  // on_stop takes the children down
}

void Supervisor::on_stop(std::string_view) {
  for (size_t j = children_.size(); j-- > 0;) {
    if (children_[j].pid.valid()) actor().exit(children_[j].pid, reason::kShutdown);
  }
}

Pid Supervisor::child(std::string_view id) const {
  for (auto& c : children_) {
    if (c.spec.id == id) return c.pid;
  }
  return Pid();
}

}  // namespace behavior
