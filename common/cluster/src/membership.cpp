// membership.cpp — see membership.h.
//
// Redis keys (prefix P): P node:<id> (the registration hash, PEXPIRE ttl, rewritten each
// heartbeat), P nodes (zset: id → last heartbeat), P drain:<id> (an operator's drain),
// P dead:<id> (set by the cleanup of a dead node, taken by its next heartbeat: proof it was
// fenced), P events (pub/sub "up <id>", "down <id>", "left <id>"). A node whose hash expired is dead:
// any node that notices runs the cleanup script, which removes its directory entries, names
// set and zset entry in one step and publishes "down". Pub/sub only makes that faster; a
// lost subscription still converges through the TTL.
#include "membership.h"

#include <behavior/clock.h>
#include <behavior/metrics.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <cstdio>
#include <memory>

#include "runtime.h"

namespace behavior::detail {
namespace {



const char* kRegisterScript = R"lua(
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local draining = redis.call('EXISTS', KEYS[3])
redis.call('HSET', KEYS[1], 'draining', tostring(draining))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
local fenced = redis.call('DEL', KEYS[4])
return 1 + draining + 10 * fenced
)lua";

const char* kCleanupScript = R"lua(
if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local names = redis.call('SMEMBERS', KEYS[2])
local prefix = ARGV[1] .. ':'
for _, n in ipairs(names) do
  local k = ARGV[2] .. n
  local v = redis.call('GET', k)
  if v and string.sub(v, 1, #prefix) == prefix then redis.call('DEL', k) end
end
redis.call('DEL', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[4], '1', 'PX', '604800000')
if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('PUBLISH', ARGV[3], ARGV[5] .. ' ' .. ARGV[1])
end
return #names
)lua";

ClusterNodeInfo parse_node(redisReply* h) {
  ClusterNodeInfo n;
  for (size_t i = 0; i + 1 < h->elements; i += 2) n.set_field(reply_string(h->element[i]), reply_string(h->element[i + 1]));
  return n;
}

}  // namespace

Membership::Membership(Runtime& rt, const ClusterOptions& options, Hooks hooks)
    : rt_(rt), options_(options), hooks_(std::move(hooks)), started_ms_(wall_ms()) {}

void Membership::set_addresses(std::string s2s, std::string metrics) {
  s2s_address_ = std::move(s2s);
  metrics_address_ = std::move(metrics);
}

std::string Membership::node_key(uint16_t id) const { return key("node:" + std::to_string(id)); }

const ClusterNodeInfo* Membership::find(uint16_t id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<ClusterNodeInfo> Membership::view() const {
  std::lock_guard lock(view_mu_);
  std::vector<ClusterNodeInfo> out;
  for (auto& [id, n] : view_) out.push_back(n);
  return out;
}

// Membership is judged only through a Redis that takes this node's own writes. When our
// heartbeat cannot be written (Redis down, stalled, or up but refusing writes: out of
// memory under noeviction, a failed background save, a read-only replica after a
// failover, too few replicas for min-replicas-to-write), every other node's heartbeat
// fails the same way and their keys expire: a missing key then proves nothing. So any
// trouble with our own heartbeat freezes membership (no peer is declared dead, no dead
// node is cleaned up) until our heartbeats have gone through promptly for a whole TTL,
// by which time every live peer has written its own again.
void Membership::heartbeat_trouble(const char* why) {
  heartbeat_good_ = false;
  if (!frozen()) spdlog::warn("cluster: heartbeat failed ({}); membership frozen", why);
  heartbeat_trouble_ms_ = steady_ms();
  ++heartbeat_failures_;
}
bool Membership::ready(std::string* why) const {
  auto no = [why](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (!redis_connected_) return no("Redis is not connected");
  const int64_t good = last_good_steady_ms_;
  if (good == 0) return no("not registered in Redis yet");
  if (!heartbeat_good_) return no("Redis does not take this node's heartbeat");
  if (!have_view_) return no("the cluster's view is not read yet");
  if (steady_ms() - good >= options_.ttl.count()) return no("no heartbeat went through for a TTL (Redis stalled?)");
  return true;
}

bool Membership::frozen() const {
  return heartbeat_trouble_ms_ != 0 && steady_ms() - heartbeat_trouble_ms_ < options_.ttl.count();
}

namespace {

int64_t process_cpu_ns() {
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  auto ns = [](const timeval& tv) { return int64_t{tv.tv_sec} * 1'000'000'000 + int64_t{tv.tv_usec} * 1000; };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

std::string fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

// The node's load since the previous heartbeat, for placement (name_server/placement.h):
//   busy    the workers' utilization, 0..1: time spent working over time × workers (a worker
//           that has work but no CPU, on a box shared with others, counts as working)
//   cpu     the process's CPU in cores (user + system)
//   lag_ms  the network loop's worst lateness (a 50 ms timer fired this late)
//   udp_drops  (gateways) datagrams per second its UDP socket dropped, its receive queue
//           full: a backlog that neither busy nor lag_ms sees (the loop reads, just not
//           fast enough), and that turns into KCP retransmissions for every UDP player
void Membership::publish_load(const NodeStats& st, const std::function<void(const char*, std::string)>& field) {
  const LoadSample now{static_cast<int64_t>(steady_ms()) * 1'000'000, st.busy_ns, process_cpu_ns(),
                       options_.udp_drops ? options_.udp_drops() : 0};
  double busy = 0, cpu = 0, drops = 0;
  const int64_t dt = now.steady_ns - load_prev_.steady_ns;
  if (load_prev_.steady_ns != 0 && dt > 0) {
    busy = static_cast<double>(now.busy_ns - load_prev_.busy_ns) / static_cast<double>(dt) / std::max(1u, st.workers);
    cpu = static_cast<double>(now.cpu_ns - load_prev_.cpu_ns) / static_cast<double>(dt);
    // Unsigned: a count that wrapped still gives the difference.
    drops = static_cast<double>(static_cast<uint32_t>(now.udp_drops - load_prev_.udp_drops)) * 1e9 /
            static_cast<double>(dt);
  }
  load_prev_ = now;
  field("busy", fixed(std::clamp(busy, 0.0, 1.0), 3));
  field("cpu", fixed(cpu, 3));
  field("lag_ms", fixed(lag_max_ms_, 1));
  if (options_.udp_drops) field("udp_drops", fixed(drops, 1));
  lag_max_ms_ = 0;
}

void Membership::heartbeat() {
  if (leaving_) return;
  redis_connected_ = redis_ && redis_->connected();
  if (!redis_->connected()) {
    heartbeat_trouble("Redis is not connected");
    return;
  }
  NodeStats st = rt_.stats();
  const int64_t now = wall_ms();
  std::vector<std::string> args{"EVAL", kRegisterScript, "4", node_key(rt_.node_id()), key("nodes"),
                                key("drain:" + std::to_string(rt_.node_id())), dead_key(rt_.node_id()),
                                std::to_string(options_.ttl.count()), std::to_string(rt_.node_id()),
                                std::to_string(now)};
  auto field = [&](const char* k, std::string v) {
    args.emplace_back(k);
    args.push_back(std::move(v));
  };
  field("id", std::to_string(rt_.node_id()));
  field("kind", options_.kind);
  field("s2s", s2s_address_);
  field("metrics", metrics_address_);
  field("version", kVersion);
  field("capacity", std::to_string(rt_.options().capacity));
  field("live", std::to_string(st.live));
  field("load", std::to_string(rt_.options().capacity ? double(st.live) / rt_.options().capacity : 0.0));
  publish_load(st, field);
  field("started_ms", std::to_string(started_ms_));
  field("heartbeat_ms", std::to_string(now));
  // "draining" is written by the script itself, from the drain key (an operator's resume
  // shows at once, not one heartbeat later from our cached flag).
  field("connections", std::to_string(options_.connections ? options_.connections() : 0));
  for (const auto& [k, v] : options_.attributes) field(("a." + k).c_str(), v);
  // Read at each heartbeat, never cached: a reload of the kinds library changes them.
  KindVersions kinds;
  for (const auto& k : rt_.kinds()) kinds[k->name] = k->options.version;
  field("kinds", format_kind_versions(kinds));
  const int64_t sent = steady_ms();
  redis_->command(args, [this, now, sent](redisReply* r) {
    if (leaving_) return;
    if (!reply_ok(r)) {
      heartbeat_trouble(r ? r->str : "the connection dropped");
      return;
    }
    // An answer that took half a TTL came from a Redis that stalled (SIGSTOP, a long
    // fork): the peers' writes may have stalled behind it too.
    if (steady_ms() - sent > options_.ttl.count() / 2) {
      heartbeat_trouble("Redis answered late");
    } else {
      last_good_steady_ms_ = steady_ms();
      heartbeat_good_ = true;
    }
    ++heartbeats_ok_;
    // 1 + (2: draining) + (10: another node declared us dead and cleaned our entries up)
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= 10) {
      if (announced_) fence();  // else: a fresh start of this node id, nothing to drop
    }
    if (r->type == REDIS_REPLY_INTEGER && (r->integer % 10 == 2) != draining_) {
      draining_ = r->integer % 10 == 2;  // an operator drained (or resumed) us through the name server
      spdlog::info("cluster: this node {}", draining_ ? "is draining: no new players are placed here"
                                                      : "takes new players again");
    }
    last_heartbeat_ok_ms_ = now;
    if (!announced_) {
      announced_ = true;
      redis_->command({"PUBLISH", key("events"), "up " + std::to_string(rt_.node_id())}, {});
    }
  });
  refresh();
}

void Membership::refresh() {
  if (!redis_->connected()) return;
  if (refreshing_) {
    // An event ("up": a node joined or changed, say a gateway that drains) during a read
    // that may have passed it: read again once this one is done, rather than a heartbeat later.
    refresh_again_ = true;
    return;
  }
  refreshing_ = true;
  refresh_again_ = false;
  redis_->command({"ZRANGE", key("nodes"), "0", "-1"}, [this](redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      refreshing_ = false;  // Redis trouble is not evidence that nodes died
      return;
    }
    auto batch = std::make_shared<std::map<uint16_t, ClusterNodeInfo>>();
    auto missing = std::make_shared<std::vector<uint16_t>>();
    auto failed = std::make_shared<bool>(false);
    auto left = std::make_shared<size_t>(r->elements);
    if (r->elements == 0) {
      apply_refresh(*batch, *missing);
      return;
    }
    for (size_t i = 0; i < r->elements; ++i) {
      auto id = static_cast<uint16_t>(std::atoi(reply_string(r->element[i]).c_str()));
      redis_->command({"HGETALL", node_key(id)}, [this, id, batch, missing, failed, left](redisReply* h) {
        if (!h || h->type != REDIS_REPLY_ARRAY) {
          *failed = true;
        } else if (h->elements == 0) {
          missing->push_back(id);
        } else {
          (*batch)[id] = parse_node(h);
        }
        if (--*left == 0) {
          if (*failed) {
            refreshing_ = false;
          } else {
            apply_refresh(*batch, *missing);
          }
        }
      });
    }
  });
}

void Membership::apply_refresh(const std::map<uint16_t, ClusterNodeInfo>& fresh, const std::vector<uint16_t>& missing) {
  refreshing_ = false;
  const bool frozen = this->frozen();
  if (frozen) absent_since_.clear();  // time while frozen proves nothing either
  for (uint16_t id : missing) {
    if (frozen || id == rt_.node_id()) continue;  // our own key expired: the next heartbeat restores it
    cleanup_node(id, false, {});
    if (nodes_.count(id)) node_down(id, "its heartbeat expired");
  }
  // A node absent from the list is gone only once successful refreshes have missed it
  // for a whole TTL: right after a Redis restart the list is empty until every node
  // re-registers, and time spent without Redis proves nothing.
  const int64_t now = steady_ms();
  std::vector<uint16_t> gone;
  for (auto& [id, info] : nodes_) {
    if (frozen || fresh.count(id) || id == rt_.node_id()) continue;
    auto [it, first] = absent_since_.emplace(id, now);
    if (now - it->second >= options_.ttl.count()) gone.push_back(id);
  }
  for (uint16_t id : gone) node_down(id, "it left the cluster");
  for (auto& [id, info] : fresh) {
    if (!nodes_.count(id) && id != rt_.node_id()) spdlog::info("cluster: node {} is up ({})", id, info.s2s);
    nodes_[id] = info;
    absent_since_.erase(id);
  }
  {
    std::lock_guard lock(view_mu_);
    view_ = nodes_;
  }
  ++refreshes_;
  have_view_ = true;
  if (hooks_.refreshed) hooks_.refreshed();
  if (refresh_again_) refresh();
}

void Membership::on_event(std::string_view msg) {
  if (msg.starts_with("up ")) {
    refresh();
    return;
  }
  const bool down = msg.starts_with("down ");
  if (!down && !msg.starts_with("left ")) return;
  auto id = static_cast<uint16_t>(std::atoi(std::string(msg.substr(5)).c_str()));
  if (id == rt_.node_id() || !nodes_.count(id)) return;
  node_down(id, down ? "it was declared down" : "it left the cluster", !down);
}

void Membership::leave(std::function<void()> done) {
  leaving_ = true;
  cleanup_node(rt_.node_id(), true, std::move(done));
}

void Membership::cleanup_node(uint16_t id, bool force, std::function<void()> done) {
  const bool leaving = id == rt_.node_id();
  redis_->command({"EVAL", kCleanupScript, "4", node_key(id), names_key(id), key("nodes"), dead_key(id), std::to_string(id),
                   key("dir:"), key("events"), force ? "1" : "0", leaving ? "left" : "down"},
                  [done = std::move(done)](redisReply*) {
                    if (done) done();
                  });
}

// The cleanup script ran for us while we could not heartbeat (SIGSTOP, a long pause, cut
// off from Redis and the peers): every other node has failed its calls to us, fired DOWN
// and EXIT "noconnection" for our processes and may have activated our names elsewhere.
// Serving on would be split brain, so we act as if every peer went down (our links and
// monitors fire, pending calls fail) and kill our processes that held cluster names; the
// heartbeat has already registered us again, empty-handed.
void Membership::fence() {
  ++fenced_;
  spdlog::error("cluster: this node was declared dead while it could not heartbeat; dropping its links to other "
                "nodes and stopping its processes with cluster names");
  std::vector<uint16_t> peers;
  for (auto& [id, info] : nodes_) {
    if (id != rt_.node_id()) peers.push_back(id);
  }
  for (uint16_t id : peers) node_down(id, "this node was declared dead");
  hooks_.fenced();
}

void Membership::node_down(uint16_t id, const std::string& why, bool graceful) {
  nodes_.erase(id);
  absent_since_.erase(id);
  {
    std::lock_guard lock(view_mu_);
    view_.erase(id);
  }
  // Either way its processes are gone for us (remote links and monitors fire, calls fail);
  // only a failure is a warning and counts as down.
  if (graceful) {
    ++nodes_left_;
    spdlog::info("cluster: node {} left: {}", id, why);
  } else {
    ++nodes_down_;
    spdlog::warn("cluster: node {} is down: {}", id, why);
  }
  Status down = Status::unavailable("node " + std::to_string(id) + " is down");
  hooks_.node_down(id, down);
}

}  // namespace behavior::detail
