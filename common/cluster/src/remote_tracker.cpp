// remote_tracker.cpp — see remote_tracker.h.
#include "remote_tracker.h"

#include "behavior/clock.h"
#include "runtime.h"

namespace behavior::detail {
namespace {

constexpr int64_t kCallTrackMs = 10 * 60 * 1000;

}  // namespace

size_t RemoteTracker::WatchHash::operator()(const Watch& w) const {
  uint64_t h = w.local.raw() * 0x9E3779B97F4A7C15ull ^ w.remote.raw();
  h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9ull ^ w.ref ^ (w.link ? 1 : 0);
  return static_cast<size_t>(h ^ (h >> 29));
}

void RemoteTracker::outbound(const Message& m, uint16_t node, int64_t now_ms) {
  switch (m.kind()) {
    case Kind::kCall:
      if (m.from().valid()) calls_[node][{m.from().raw(), m.request_id()}] = now_ms;
      break;
    case Kind::kMonitor:
      watches_[node].insert({m.from(), m.to(), m.request_id(), false});
      break;
    case Kind::kLink:
      watches_[node].insert({m.from(), m.to(), 0, true});
      break;
    case Kind::kDemonitor:
      forget(node, m.from(), m.to(), false, m.request_id());
      break;
    case Kind::kUnlink:
    case Kind::kExit:
      forget(node, m.from(), m.to(), true, 0);
      break;
    default:
      break;
  }
}

void RemoteTracker::inbound(const Message& m, uint16_t node) {
  switch (m.kind()) {
    case Kind::kReply:
      if (auto it = calls_.find(node); it != calls_.end()) {
        if (auto call = it->second.find({m.to().raw(), m.request_id()}); call != it->second.end()) {
          if (call_seconds_) call_seconds_->observe(double(wall_ms() - call->second) / 1000.0);
          it->second.erase(call);
        }
      }
      break;
    case Kind::kDown:
      forget(node, m.to(), m.from(), false, m.request_id());
      break;
    case Kind::kExit:
      if (m.request_id() == kLinkExit) forget(node, m.to(), m.from(), true, 0);
      break;
    default:
      break;
  }
}

void RemoteTracker::node_down(uint16_t node, const Status& why) {
  if (auto it = calls_.find(node); it != calls_.end()) {
    for (auto& [key, sent] : it->second) {
      rt_.route(Message::error_reply(Pid::from_raw(key.first), Pid(), key.second, why));
    }
    calls_.erase(it);
  }
  if (auto it = watches_.find(node); it != watches_.end()) {
    for (auto& w : it->second) {
      if (w.link) {
        rt_.send(w.remote, w.local, Kind::kExit, 0, Body::bytes(std::string("noconnection")), kLinkExit);
      } else {
        rt_.send(w.remote, w.local, Kind::kDown, 0, Body::bytes(std::string("noconnection")), w.ref);
      }
    }
    watches_.erase(it);
  }
}

void RemoteTracker::prune(int64_t now_ms) {
  for (auto& [node, calls] : calls_) {
    for (auto it = calls.begin(); it != calls.end();) {
      it = now_ms - it->second > kCallTrackMs ? calls.erase(it) : std::next(it);
    }
  }
}

size_t RemoteTracker::pending_calls() const {
  size_t n = 0;
  for (auto& [node, calls] : calls_) n += calls.size();
  return n;
}

void RemoteTracker::forget(uint16_t node, Pid local, Pid remote, bool link, uint64_t ref) {
  auto it = watches_.find(node);
  if (it == watches_.end()) return;
  it->second.erase(Watch{local, remote, link ? 0 : ref, link});
}

}  // namespace behavior::detail
