// signals.cpp — links, monitors and exit signals (see signals.h). Every function here runs
// on the worker that owns the process, between its turns.
#include "signals.h"

#include <algorithm>
#include <string>

#include "actor_ext.h"
#include "runtime.h"
#include "shard.h"
#include <behavior/system.pb.h>

namespace behavior::detail {

void Signals::deliver(Actor* a, MessagePtr m) {
  ActorExt& x = a->ext();
  switch (m->kind()) {
    case Kind::kExit:
      exit_signal(a, std::move(m));
      return;
    case Kind::kDown:
      down(a, std::move(m));
      return;
    case Kind::kLink:
      if (std::find(x.links.begin(), x.links.end(), m->from()) == x.links.end()) {
        x.links.push_back(m->from());
      }
      return;
    case Kind::kUnlink:
      std::erase(x.links, m->from());
      return;
    case Kind::kMonitor:
      x.monitored_by.emplace_back(m->from(), m->request_id());
      return;
    case Kind::kDemonitor:
      std::erase(x.monitored_by, std::pair<Pid, uint64_t>{m->from(), m->request_id()});
      return;
    default:
      return;
  }
}

// A down signal for a monitor still in place becomes a proto::kDown message; one for a
// monitor removed meanwhile is dropped.
void Signals::down(Actor* a, MessagePtr m) {
  auto& mon = a->ext().monitoring;
  const uint64_t ref = m->request_id();
  auto it = std::find_if(mon.begin(), mon.end(), [ref](const auto& e) { return e.first == ref; });
  if (it == mon.end()) return;
  mon.erase(it);
  pb::DownSignal down;
  down.set_ref(ref);
  down.set_pid(m->from().raw());
  down.set_reason(std::string(m->body().raw()));
  MessagePtr note(new Message(a->pid_, m->from(), Kind::kDown, proto::kDown, std::move(down)));
  note->set_request_id(ref);
  shard_.enqueue(a, std::move(note));
}

// An exit signal: from a link (the linked process died) or from exit(). "kill" from
// exit() cannot be trapped; a trapping process gets the rest as proto::kExit messages;
// "normal" ends no one but the process that sends it to itself.
void Signals::exit_signal(Actor* a, MessagePtr m) {
  const Pid from = m->from();
  const bool from_link = m->request_id() == kLinkExit;
  if (from_link) {
    auto& links = a->ext().links;
    auto it = std::find(links.begin(), links.end(), from);
    if (it == links.end()) return;  // unlinked meanwhile: the signal no longer concerns us
    links.erase(it);
  }
  if (a->exit_pending_) return;
  const std::string_view why = m->body().raw();
  if (!from_link && why == reason::kKill) {
    shard_.exit_now(a, reason::kKilled);
  } else if (a->trap_exit_) {
    pb::ExitSignal sig;
    sig.set_pid(from.raw());
    sig.set_reason(std::string(why));
    shard_.enqueue(a, MessagePtr(new Message(a->pid_, from, Kind::kExit, proto::kExit, std::move(sig))));
  } else if (why == reason::kNormal || (from_link && why == reason::kMigrated)) {
    if (!from_link && from == a->pid_) shard_.exit_now(a, reason::kNormal);
  } else {
    shard_.exit_now(a, why);
  }
}

void Signals::announce_exit(Actor* a, std::string_view why) {
  ActorExt& x = a->ext();
  Runtime& rt = shard_.runtime();
  const std::string reason = why == reason::kKill ? std::string(reason::kKilled) : std::string(why);
  for (Pid linked : x.links) rt.send(a->pid_, linked, Kind::kExit, 0, Body::bytes(reason), kLinkExit);
  for (auto& [watcher, ref] : x.monitored_by) {
    rt.send(a->pid_, watcher, Kind::kDown, 0, Body::bytes(reason), ref);
  }
  for (auto& [ref, target] : x.monitoring) rt.send(a->pid_, target, Kind::kDemonitor, 0, Body(), ref);
}

}  // namespace behavior::detail
