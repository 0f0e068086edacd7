// state_store.cpp — see state_store.h.
#include "state_store.h"

#include <behavior/system.pb.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>

#include "behavior/clock.h"
#include "behavior/ids.h"
#include "behavior/logging.h"
#include "runtime.h"

namespace behavior::detail {
namespace {

// KEYS[1] state; ARGV epoch, version, data, kind, now_ms. {1, claim} written; {0, claim}
// refused: a newer activation has claimed the name since this one's epoch. A claim below the
// epoch means Redis lost the hash (no persistence): the epoch is taken as the claim again.
const char* kSaveScript = R"lua(
local claim = tonumber(redis.call('HGET', KEYS[1], 'claim') or '0')
local epoch = tonumber(ARGV[1])
if epoch < claim then return {0, claim} end
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'v', ARGV[2], 'epoch', ARGV[1], 'kind', ARGV[4], 'ms', ARGV[5])
if epoch > claim then redis.call('HSET', KEYS[1], 'claim', ARGV[1]) end
return {1, claim}
)lua";

const char* kClaimDurableScript = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur then return {cur} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
local epoch = redis.call('HINCRBY', KEYS[3], 'claim', 1)
local st = redis.call('HMGET', KEYS[3], 'data', 'v')
return {ARGV[1], epoch, st[1], st[2]}
)lua";

std::string sha1_hex(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

const std::string& save_sha() {
  static const std::string sha = sha1_hex(kSaveScript);
  return sha;
}

}  // namespace

const char* StateStore::claim_script() { return kClaimDurableScript; }

pb::LoadedState StateStore::loaded(const redisReply* r, bool moved) {
  pb::LoadedState state;
  state.set_epoch(static_cast<uint64_t>(r->element[1]->integer));
  state.set_moved(moved);
  if (r->elements == 4 && r->element[2]->type == REDIS_REPLY_STRING) {
    state.set_found(true);
    state.set_data(reply_string(r->element[2]));
    state.set_version(static_cast<uint32_t>(std::strtoul(reply_string(r->element[3]).c_str(), nullptr, 10)));
  }
  return state;
}

void StateStore::set_redis(RedisClient* redis) {
  redis_ = redis;
  redis_->on_connected([this] { redis_->command({"SCRIPT", "LOAD", kSaveScript}, {}); });
}

void StateStore::register_metrics(MetricsRegistry& metrics, const Labels& node) {
  auto with = [&node](const char* result) {
    Labels l = node;
    l.emplace_back("result", result);
    return l;
  };
  const char* help =
      "Durable state saves by outcome: ok, fenced (a newer activation owns the name), busy (an interval save refused "
      "while too many saves awaited Redis; retried), failed.";
  saved_ = &metrics.counter("behavior_state_saves_total", help, with("ok"));
  fenced_ = &metrics.counter("behavior_state_saves_total", help, with("fenced"));
  failed_ = &metrics.counter("behavior_state_saves_total", help, with("failed"));
  busy_ = &metrics.counter("behavior_state_saves_total", help, with("busy"));
  bytes_ = &metrics.counter("behavior_state_saved_bytes_total", "Bytes of durable state written.", node);
  unreplicated_ = &metrics.counter("behavior_state_saves_unreplicated_total",
                                   "Write-through saves acknowledged before a replica had them (--redis-wait-ms: "
                                   "no replica answered in time, or none is waited for just after one did not).",
                                   node);
  latency_ = &metrics.histogram("behavior_state_save_seconds",
                                "From a save reaching the network loop to Redis acknowledging it.", kLatencyBuckets,
                                node);
  metrics.gauge_fn("behavior_state_saves_in_flight", "Durable state saves sent and not yet acknowledged.", node,
                   [this] { return double(in_flight()); });
  metrics.gauge_fn("behavior_durable_processes", "Durable processes alive on this node.", node,
                   [this] { return double(rt_.durable_counters().live.load()); });
  metrics.counter_fn("behavior_state_load_failures_total",
                     "Activations that did not start because their stored state did not load.", node,
                     [this] { return double(rt_.durable_counters().load_failures.load()); });
}

void StateStore::save(MessagePtr m, Pid service) {
  pb::SaveState s;
  try {
    s = m->as<pb::SaveState>();
  } catch (const std::exception& e) {
    answer(*m, service, Status::invalid_argument(std::string("bad save: ") + e.what()), 0);
    return;
  }
  if (s.name().empty()) {
    answer(*m, service, Status::invalid_argument("a save needs a process name"), 0);
    return;
  }
  if (!redis_ || !redis_->connected()) {
    answer(*m, service, Status::unavailable("the state store is unavailable (Redis is down)"), 0);
    return;
  }
  if (s.behind() && in_flight() > kMaxInFlight) {
    answer(*m, service, Status::unavailable("the state store is busy: " + std::to_string(in_flight()) + " saves in flight"), 0,
           true);
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  const size_t bytes = s.data().size();
  const bool write_through = !s.behind() && m->is_call();
  auto done = [this, m = std::shared_ptr<Message>(m.release()), service, started, bytes, write_through,
               name = s.name(), epoch = s.epoch()](redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      answer(*m, service,
             Status::unavailable(r && r->type == REDIS_REPLY_ERROR ? "the state store refused the save: " + reply_string(r)
                                                                   : std::string("the Redis connection dropped before the save was acknowledged")),
             epoch);
      return;
    }
    if (r->element[0]->integer == 0) {
      const long long claim = r->element[1]->integer;
      answer(*m, service,
             Status::fenced("the state of " + name + " belongs to a newer activation (epoch " + std::to_string(claim) +
                            " > " + std::to_string(epoch) + ")"),
             epoch);
      return;
    }
    replicate(write_through, [this, m, service, started, bytes, epoch] {
      latency_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      bytes_->inc(bytes);
      answer(*m, service, {}, epoch);
    });
  };
  // No deadline of our own: an awaited save's call has its timeout, and in_flight() bounds
  // the rest when Redis stalls.
  eval({"EVALSHA", save_sha(), "1", key(s.name()), std::to_string(s.epoch()), std::to_string(s.version()), s.data(),
        s.kind(), std::to_string(wall_ms())},
       std::move(done));
}

// Asynchronous replication loses the last writes before a primary dies (a Sentinel
// failover). A save a process awaited (a score its client is then told of, a move's
// handover) waits until one replica has it: WAIT runs on this connection after the save, and
// holds the connection until the replica acknowledges, normally well under a millisecond. With
// no replica answering, the save is still acknowledged (it is on the primary; availability
// first) and counted; WAIT is then left out for a second, so a missing replica costs one
// timeout per second, not one per save.
void StateStore::replicate(bool write_through, std::function<void()> answer) {
  auto unreplicated = [this] {
    if (unreplicated_) unreplicated_->inc();
  };
  if (!write_through || replica_wait_ms_ <= 0 || !redis_) return answer();
  if (std::chrono::steady_clock::now() < no_replica_until_) {
    unreplicated();
    return answer();
  }
  redis_->command({"WAIT", "1", std::to_string(replica_wait_ms_)},
                  [this, unreplicated, answer = std::move(answer)](redisReply* r) {
                    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
                      unreplicated();
                      no_replica_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
                    }
                    answer();
                  });
}

void StateStore::eval(std::vector<std::string> args, RedisClient::Callback cb) {
  auto retry = [this, args, cb = std::move(cb)](redisReply* r) mutable {
    if (r && r->type == REDIS_REPLY_ERROR && reply_string(r).rfind("NOSCRIPT", 0) == 0) {
      args[0] = "EVAL";
      args[1] = kSaveScript;
      redis_->command(args, std::move(cb));
      return;
    }
    cb(r);
  };
  redis_->command(args, std::move(retry));
}

void StateStore::answer(const Message& m, Pid service, const Status& outcome, uint64_t epoch, bool busy) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (outcome.ok()) {
    saved_->inc();
  } else if (busy) {
    busy_->inc();  // expected under load: not logged
  } else if (outcome.code() == Code::kFenced) {
    fenced_->inc();
  } else {
    failed_->inc();
  }
  if (!outcome.ok() && !busy) {
    static LogThrottle throttle;
    if (uint64_t left_out; throttle.allow(&left_out)) {
      spdlog::warn("state: a save from {} was not written: {}{}", m.from().to_string(), outcome.to_string(),
                   left_out_note(left_out));
    }
  }
  if (!m.is_call()) return;
  const ReplyTo to = m.reply_to();
  if (outcome.ok()) {
    auto* r = new Message(to.caller, service, Kind::kReply, proto::kSaveState, Body(epoch));
    r->set_request_id(to.request_id);
    rt_.route(r);
  } else {
    rt_.route(Message::error_reply(to.caller, service, to.request_id, outcome));
  }
}

}  // namespace behavior::detail
