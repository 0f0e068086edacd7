// cluster_reader.h — ctl's read-only view of a cluster, straight from Redis (hiredis,
// blocking): the members with their registrations, and the directory. Keys per docs/cluster.md.
#pragma once

#include <behavior/cluster.h>
#include <behavior/status.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

struct redisContext;
struct redisReply;

namespace behavior::ctl {

struct RedisTarget {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  std::string prefix = "behavior:";
};

// One member of `<prefix>nodes`. `registered` is false when its hash has expired (the node
// is dead and not yet cleaned up); then only id and heartbeat_ms (the zset score) are known.
struct NodeRow {
  ClusterNodeInfo info;
  bool registered = true;
};

// `<prefix>dir:<name>` = "<node>:<pid>".
struct DirEntry {
  uint16_t node = 0;
  Pid pid;
  std::string raw;  // the value as stored
};

class ClusterReader {
 public:
  static Result<std::unique_ptr<ClusterReader>> connect(const RedisTarget& target, Millis timeout);
  ~ClusterReader();
  ClusterReader(const ClusterReader&) = delete;
  ClusterReader& operator=(const ClusterReader&) = delete;

  // ZRANGE <p>nodes 0 -1 WITHSCORES, then HGETALL <p>node:<id> for each, by id.
  Result<std::vector<NodeRow>> nodes();
  // GET <p>dir:<name>; nullopt when the name lives nowhere.
  Result<std::optional<DirEntry>> where(const std::string& name);
  // Reserves node id `id` for a short-lived ctl node: succeeds only if no member of
  // <p>nodes has it and <p>node:<id> does not exist; then writes {id, kind=ctl} there with
  // a TTL, atomically (the node's own heartbeat takes the hash over once it joins).
  Result<bool> reserve_node_id(uint16_t id, Millis ttl);

  const RedisTarget& target() const { return target_; }

 private:
  ClusterReader(redisContext* c, RedisTarget target) : c_(c), target_(std::move(target)) {}
  // One command; an error reply or a lost connection becomes a Status.
  Result<std::unique_ptr<redisReply, void (*)(void*)>> command(const std::vector<std::string>& args);

  redisContext* c_;
  RedisTarget target_;
};

}  // namespace behavior::ctl
