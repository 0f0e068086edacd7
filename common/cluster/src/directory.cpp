// directory.cpp — see directory.h.
#include "directory.h"

#include <spdlog/spdlog.h>

#include "behavior/clock.h"
#include "runtime.h"
#include "state_store.h"

#include <behavior/system.pb.h>

namespace behavior::detail {
namespace {

constexpr int64_t kNameCacheMs = 2000;

// Sets the name only if nobody holds it, and lists it among the node's names (for the
// cleanup when the node dies); returns whoever holds it now.
const char* kClaimScript = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return ARGV[1]
)lua";

// Removes the name only if it is still this holder's.
const char* kReleaseScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
)lua";

// Live migration's handover (Directory::adopt): KEYS dir, the old node's names, the new
// node's names, state; ARGV old value, new value, name. Only from the old holder: the entry,
// the name sets, a newer fencing epoch, and the state to start with, in one step.
const char* kHandoverScript = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then return {0, cur or ''} end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
local epoch = redis.call('HINCRBY', KEYS[4], 'claim', 1)
local st = redis.call('HMGET', KEYS[4], 'data', 'v')
return {1, epoch, st[1], st[2]}
)lua";

std::string dir_value(Pid pid) { return std::to_string(pid.node()) + ":" + std::to_string(pid.raw()); }

Pid parse_dir_value(const std::string& v) {
  auto colon = v.find(':');
  if (colon == std::string::npos) return Pid();
  return Pid::from_raw(std::strtoull(v.c_str() + colon + 1, nullptr, 10));
}


Status directory_down() { return Status::unavailable("the directory is unavailable (Redis is down)"); }

}  // namespace

Directory::Directory(Runtime& rt, std::string prefix, Hooks hooks)
    : rt_(rt), prefix_(std::move(prefix)), hooks_(std::move(hooks)) {}

Directory::~Directory() {
  for (auto& [name, msgs] : lookups_) {
    for (Message* m : msgs) delete m;
  }
}

std::string Directory::names_key() const { return names_key(rt_.node_id()); }
std::string Directory::names_key(uint16_t node) const { return prefix_ + "node:" + std::to_string(node) + ":names"; }

void Directory::route_named(const std::string& name, Message* m) {
  if (auto pid = rt_.names().lookup(name)) {
    m->set_to(*pid);
    rt_.route(m);
    return;
  }
  auto c = cache_.find(name);
  if (c != cache_.end() && wall_ms() < c->second.second) {
    m->set_to(c->second.first);
    rt_.route(m);
    return;
  }
  auto& waiting = lookups_[name];
  waiting.push_back(m);
  if (waiting.size() > 1) return;  // a lookup is already on its way
  lookup(name, [this, name](Result<Pid> where) {
    auto msgs = std::move(lookups_[name]);
    lookups_.erase(name);
    for (Message* msg : msgs) {
      if (where.ok()) {
        msg->set_to(*where);
        rt_.route(msg);
      } else {
        rt_.bounce(MessagePtr(msg), where.status());
      }
    }
  });
}

void Directory::lookup(const std::string& name, Done done) {
  if (auto pid = rt_.names().lookup(name)) {
    done(*pid);
    return;
  }
  if (!redis_ || !redis_->connected()) {
    done(directory_down());
    return;
  }
  redis_->command({"GET", dir_key(name)}, [this, name, done = std::move(done)](redisReply* r) {
    if (!r) {
      done(directory_down());
      return;
    }
    Pid pid = r->type == REDIS_REPLY_STRING ? parse_dir_value(reply_string(r)) : Pid();
    if (!pid.valid()) {
      done(Status::not_found("no process named " + name));
      return;
    }
    if (pid.node() != rt_.node_id() && !hooks_.node_live(pid.node())) {
      done(Status::unavailable("process " + name + " lived on node " + std::to_string(pid.node()) + ", which is down"));
      return;
    }
    cache_[name] = {pid, wall_ms() + kNameCacheMs};
    done(pid);
  });
}

void Directory::ensure(const std::string& name, const std::string& kind, Pid writer, Done done) {
  if (auto it = ensures_.find(name); it != ensures_.end()) {
    it->second.push_back(std::move(done));  // an activation of this name is under way here
    return;
  }
  if (auto pid = rt_.names().lookup(name)) {
    done(*pid);
    return;
  }
  KindRef k = rt_.kind(kind);
  if (!k) {
    done(Status::not_found("unknown process kind " + kind));
    return;
  }
  if (!redis_ || !redis_->connected()) {
    done(directory_down());
    return;
  }
  // Looked up first: a name that lives on another live node (a room its first player made
  // elsewhere) costs one GET, not a held activation (for a durable kind, its state loaded by
  // the claim) discarded when the claim finds the owner. Ensures of the name arriving
  // meanwhile wait on this one. Not in ensures_ yet: an adoption (a move here) is not
  // refused for a lookup, and activate() finds what it adopted.
  auto& waiting = ensure_lookups_[name];
  waiting.push_back(std::move(done));
  if (waiting.size() > 1) return;
  redis_->command({"GET", dir_key(name)}, [this, name, k, writer](redisReply* r) {
    std::vector<Done> waiters = std::move(ensure_lookups_[name]);
    ensure_lookups_.erase(name);
    const Pid owner = r && r->type == REDIS_REPLY_STRING ? parse_dir_value(reply_string(r)) : Pid();
    if (owner.valid() && owner.node() != rt_.node_id() && hooks_.node_live(owner.node())) {
      cache_[name] = {owner, wall_ms() + kNameCacheMs};
      for (auto& w : waiters) w(owner);
      return;
    }
    auto& activating = ensures_[name];
    const bool under_way = !activating.empty();
    for (auto& w : waiters) activating.push_back(std::move(w));
    if (!under_way) activate(name, k, writer);
  });
}

// The callers waiting on the activation of `name`, taken: a later ensure starts anew.
std::vector<Directory::Done> Directory::take_ensures(const std::string& name) {
  std::vector<Done> waiters;
  if (auto it = ensures_.find(name); it != ensures_.end()) {
    waiters = std::move(it->second);
    ensures_.erase(it);
  }
  return waiters;
}

// All that wait on the ensure of `name` get `where`.
void Directory::finish_ensure(const std::string& name, Result<Pid> where) {
  for (auto& w : take_ensures(name)) w(where);
}

// Spawns `name` held and claims it (ensures_[name] holds the waiters).
void Directory::activate(const std::string& name, const KindRef& k, Pid writer) {
  if (auto pid = rt_.names().lookup(name)) {  // an adoption or a restart got here meanwhile
    finish_ensure(name, *pid);
    return;
  }
  if (!redis_ || !redis_->connected()) {
    finish_ensure(name, directory_down());
    return;
  }
  // Held: it exists (so messages can queue), and starts only if the claim is ours.
  Result<Pid> spawned = rt_.spawn_kind(k, name, writer, true, nullptr);
  if (!spawned.ok()) {
    if (auto pid = rt_.names().lookup(name)) {
      finish_ensure(name, *pid);
    } else {
      finish_ensure(name, spawned.status());
    }
    return;
  }
  claim(name, *spawned, true, k->options.durable.enabled);
}

// Claims `name` for our `pid`; when `activating`, starts or discards the held process.
void Directory::claim(const std::string& name, Pid pid, bool activating, bool durable, int attempt) {
  auto on_reply = [this, name, pid, activating, durable, attempt](redisReply* r) {
    Pid owner;
    Body state;
    if (r && r->type == REDIS_REPLY_STRING) {
      owner = parse_dir_value(reply_string(r));
    } else if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING) {
      owner = parse_dir_value(reply_string(r->element[0]));
      if (r->elements == 4 && owner == pid) state = Body(StateStore::loaded(r, false));
    }
    if (owner.valid() && owner != pid && owner.node() != rt_.node_id() && !hooks_.node_live(owner.node()) &&
        attempt == 0) {
      // The owner's node is gone but not yet cleaned up: clean it, then claim again.
      hooks_.cleanup_node(owner.node(),
                          [this, name, pid, activating, durable] { claim(name, pid, activating, durable, 1); });
      return;
    }
    finish_claim(name, pid, activating, owner, std::move(state));
  };
  if (durable) {
    redis_->command({"EVAL", StateStore::claim_script(), "3", dir_key(name), names_key(), state_key(name),
                     dir_value(pid), name},
                    std::move(on_reply));
  } else {
    redis_->command({"EVAL", kClaimScript, "2", dir_key(name), names_key(), dir_value(pid), name},
                    std::move(on_reply));
  }
}

void Directory::finish_claim(const std::string& name, Pid pid, bool activating, Pid owner, Body state) {
  std::vector<Done> waiters;
  if (activating) waiters = take_ensures(name);
  if (owner == pid) {
    claimed_[name] = pid;
    if (activating && !state.empty()) durable_.insert(name);
    if (activating) rt_.release(pid, true, std::move(state));
    for (auto& w : waiters) w(pid);
    return;
  }
  if (activating) {
    // Drop the held process's local name now: the next ensure must not find it while its
    // discard is still on the way to its worker.
    rt_.names().unregister(name, pid);
    rt_.release(pid, false);
  } else if (owner.valid()) {
    // Republishing after a Redis restart found the name taken: ours must go.
    spdlog::error("cluster: name {} is now owned by {}; stopping our {}", name, owner.to_string(), pid.to_string());
    claimed_.erase(name);
    durable_.erase(name);
    rt_.send(Pid(), pid, Kind::kExit, 0, Body::bytes(std::string("name_conflict")));
  }
  for (auto& w : waiters) {
    if (owner.valid()) {
      cache_[name] = {owner, wall_ms() + kNameCacheMs};
      w(owner);
    } else {
      w(directory_down());
    }
  }
}

void Directory::adopt(const std::string& name, const std::string& kind, Pid writer, Pid old_pid, Done done) {
  KindRef k = rt_.kind(kind);
  if (!k) {
    done(Status::not_found("unknown process kind " + kind + " on node " + std::to_string(rt_.node_id())));
    return;
  }
  if (!k->options.durable.enabled) {
    done(Status::invalid_argument("kind " + kind + " is not durable here"));
    return;
  }
  if (!redis_ || !redis_->connected()) {
    done(directory_down());
    return;
  }
  if (ensures_.count(name) || rt_.names().lookup(name)) {
    done(Status::already_exists("node " + std::to_string(rt_.node_id()) + " already has a process named " + name));
    return;
  }
  Result<Pid> spawned = rt_.spawn_kind(k, name, writer, true, nullptr);
  if (!spawned.ok()) {
    done(spawned.status());
    return;
  }
  const Pid pid = *spawned;
  auto on_reply = [this, name, pid, old_pid, done = std::move(done)](redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_INTEGER) {
      rt_.names().unregister(name, pid);
      rt_.release(pid, false);
      done(r && r->type == REDIS_REPLY_ERROR ? Status::unavailable("the handover failed: " + reply_string(r))
                                             : directory_down());
      return;
    }
    if (r->element[0]->integer == 0) {
      rt_.names().unregister(name, pid);
      rt_.release(pid, false);
      const std::string cur = reply_string(r->element[1]);
      done(Status(Code::kAlreadyExists, "the directory no longer gives " + name + " to " + old_pid.to_string() +
                                            (cur.empty() ? " (nobody holds it)" : " (it is at " + cur + ")")));
      return;
    }
    pb::LoadedState loaded = StateStore::loaded(r, true);
    loaded.set_moved_from(old_pid.raw());
    claimed_[name] = pid;
    durable_.insert(name);  // released on the state connection, after its last save
    cache_.erase(name);
    rt_.release(pid, true, Body(std::move(loaded)));
    done(pid);
  };
  redis_->command_with_deadline({"EVAL", kHandoverScript, "4", dir_key(name), names_key(old_pid.node()), names_key(),
                                 state_key(name), dir_value(old_pid), dir_value(pid), name},
                                std::move(on_reply));
}

void Directory::holder(const std::string& name, Done done) {
  if (!redis_ || !redis_->connected()) {
    done(directory_down());
    return;
  }
  redis_->command_with_deadline({"GET", dir_key(name)}, [done = std::move(done)](redisReply* r) {
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
      done(directory_down());
      return;
    }
    done(r->type == REDIS_REPLY_STRING ? parse_dir_value(reply_string(r)) : Pid());
  });
}

void Directory::released(const std::string& name, Pid pid) {
  auto it = claimed_.find(name);
  if (it == claimed_.end() || it->second != pid) return;  // a node-local name
  claimed_.erase(it);
  RedisClient* via = durable_.erase(name) && state_redis_ ? state_redis_ : redis_;
  if (!via || !via->connected()) {
    releases_.emplace_back(name, pid);
    return;
  }
  via->command({"EVAL", kReleaseScript, "2", dir_key(name), names_key(), dir_value(pid), name}, {});
}

void Directory::republish() {
  for (auto& [name, pid] : releases_) {
    redis_->command({"EVAL", kReleaseScript, "2", dir_key(name), names_key(), dir_value(pid), name}, {});
  }
  releases_.clear();
  auto names = claimed_;
  for (auto& [name, pid] : names) claim(name, pid, false);
  if (!names.empty()) spdlog::info("cluster: republished {} directory names", names.size());
}

void Directory::node_down(uint16_t node) {
  for (auto it = cache_.begin(); it != cache_.end();) {
    it = it->second.first.node() == node ? cache_.erase(it) : std::next(it);
  }
}

void Directory::drop_all() {
  auto names = std::move(claimed_);
  claimed_.clear();
  durable_.clear();
  for (auto& [name, pid] : names) {
    rt_.names().unregister(name, pid);  // the next lookup asks the directory
    rt_.send(Pid(), pid, Kind::kExit, 0, Body::bytes(std::string(reason::kKill)));
  }
}

}  // namespace behavior::detail
