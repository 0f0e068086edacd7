// cluster_reader.cpp — see cluster_reader.h. The field names of a node's hash are those the
// heartbeat script in common/src/cluster.cpp writes (docs/cluster.md, "Redis keys").
#include "cluster_reader.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdlib>

namespace behavior::ctl {
namespace {

// KEYS[1] <p>node:<id>, KEYS[2] <p>nodes; ARGV[1] id, ARGV[2] ttl ms.
const char* kReserveScript = R"lua(
if redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'kind', 'ctl')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

std::string text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string(r->str, r->len)
                                                                                : std::string();
}

ClusterNodeInfo parse_node(const redisReply* h) {
  ClusterNodeInfo n;
  for (size_t i = 0; i + 1 < h->elements; i += 2) n.set_field(text(h->element[i]), text(h->element[i + 1]));
  return n;
}

}  // namespace

Result<std::unique_ptr<ClusterReader>> ClusterReader::connect(const RedisTarget& target, Millis timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  redisContext* c = redisConnectWithTimeout(target.host.c_str(), target.port, tv);
  const std::string where = target.host + ":" + std::to_string(target.port);
  if (!c) return Status::unavailable("cannot reach Redis at " + where + ": out of memory");
  if (c->err) {
    std::string why = c->errstr;
    redisFree(c);
    return Status::unavailable("cannot reach Redis at " + where + ": " + why);
  }
  redisSetTimeout(c, tv);
  std::unique_ptr<ClusterReader> reader(new ClusterReader(c, target));
  if (!target.password.empty()) {
    auto r = reader->command({"AUTH", target.password});
    if (!r.ok()) return Status::unauthenticated("Redis at " + where + " refused the password: " + r.status().message());
  }
  return reader;
}

ClusterReader::~ClusterReader() { redisFree(c_); }

Result<std::unique_ptr<redisReply, void (*)(void*)>> ClusterReader::command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(args.size()), argv.data(), lens.data()));
  if (!r) return Status::unavailable("Redis: " + std::string(c_->errstr[0] ? c_->errstr : "connection lost"));
  std::unique_ptr<redisReply, void (*)(void*)> owned(r, freeReplyObject);
  if (r->type == REDIS_REPLY_ERROR) return Status::unavailable("Redis: " + std::string(r->str, r->len));
  return owned;
}

Result<std::vector<NodeRow>> ClusterReader::nodes() {
  auto members = command({"ZRANGE", target_.prefix + "nodes", "0", "-1", "WITHSCORES"});
  if (!members.ok()) return members.status();
  const redisReply* z = members->get();
  if (z->type != REDIS_REPLY_ARRAY) return Status::internal("Redis: ZRANGE did not answer a list");
  std::vector<NodeRow> out;
  for (size_t i = 0; i + 1 < z->elements; i += 2) {
    const auto id = static_cast<uint16_t>(std::atoi(text(z->element[i]).c_str()));
    auto h = command({"HGETALL", target_.prefix + "node:" + std::to_string(id)});
    if (!h.ok()) return h.status();
    NodeRow row;
    if ((*h)->type == REDIS_REPLY_ARRAY && (*h)->elements > 0) {
      row.info = parse_node(h->get());
    } else {
      row.registered = false;
      row.info.heartbeat_ms = std::atoll(text(z->element[i + 1]).c_str());
    }
    row.info.id = id;
    out.push_back(std::move(row));
  }
  std::sort(out.begin(), out.end(), [](const NodeRow& a, const NodeRow& b) { return a.info.id < b.info.id; });
  return out;
}

Result<std::optional<DirEntry>> ClusterReader::where(const std::string& name) {
  auto r = command({"GET", target_.prefix + "dir:" + name});
  if (!r.ok()) return r.status();
  if ((*r)->type == REDIS_REPLY_NIL) return std::optional<DirEntry>();
  DirEntry e;
  e.raw = text(r->get());
  const auto colon = e.raw.find(':');
  if (colon == std::string::npos) return Status::internal("the directory entry of " + name + " is malformed: " + e.raw);
  e.node = static_cast<uint16_t>(std::atoi(e.raw.substr(0, colon).c_str()));
  e.pid = Pid::from_raw(std::strtoull(e.raw.c_str() + colon + 1, nullptr, 10));
  return std::optional<DirEntry>(e);
}

Result<bool> ClusterReader::reserve_node_id(uint16_t id, Millis ttl) {
  auto r = command({"EVAL", kReserveScript, "2", target_.prefix + "node:" + std::to_string(id), target_.prefix + "nodes",
                    std::to_string(id), std::to_string(ttl.count())});
  if (!r.ok()) return r.status();
  return (*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 1;
}

}  // namespace behavior::ctl
