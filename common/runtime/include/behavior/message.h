// message.h — what travels between processes: a fixed uint32 protoID, the sender, a kind
// (info, call, reply, ...) and a Body. Also the reserved system protoIDs and exit reasons.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "behavior/body.h"
#include "behavior/ids.h"
#include "behavior/pid.h"
#include "behavior/status.h"

namespace behavior {

namespace detail {
class Shard;
class Runtime;
}  // namespace detail

enum class Kind : uint8_t {
  kInfo,    // async message
  kCall,    // request that expects a reply (request_id set)
  kReply,   // answer to a call (request_id of the call; code != kOk for errors)
  kStop,    // graceful stop, handled in mailbox order
  kExit,    // exit signal from a linked process (or an explicit exit())
  kDown,    // a monitored process went away
  kClient,  // a frame for the client behind a connection process (send_to_client)
  // Runtime-internal signals, never seen by routers:
  kLink,
  kUnlink,
  kMonitor,
  kDemonitor,
  kRelease,  // start (request_id 1) or discard (0) a held process; never on the wire
  kPlace,    // a process moving to another worker of its node (shard.cpp); never on the wire
};

std::string_view kind_name(Kind k);

// ProtoIDs at and above kSystemBase are reserved for the runtime and the gateway.

// Kind::kClient's request_id holds these flags.
// The frame may go over an unreliable channel.
inline constexpr uint64_t kClientUnreliable = 1;
// From a process that moved here (live migration) whose writer has not yet shown it has
// everything the old pid wrote (its barrier call, docs/durable.md): a gateway holds such a
// frame from a pid it does not know yet until the old pid's kMoved, which comes behind the
// old process's last frames.
inline constexpr uint64_t kClientAfterMove = 2;

// Exit reasons with a meaning to the runtime (any other string is an abnormal exit).
namespace reason {
inline constexpr std::string_view kNormal = "normal";
inline constexpr std::string_view kShutdown = "shutdown";
inline constexpr std::string_view kKill = "kill";      // untrappable when sent
inline constexpr std::string_view kKilled = "killed";  // what linked processes see
inline constexpr std::string_view kNoProc = "noproc";
inline constexpr std::string_view kIdle = "idle";  // model clean expired the process
// A process spawned held (SpawnOptions::held) and discarded unstarted: another node won the
// activation of its name. A normal race of the cluster, not a failure.
inline constexpr std::string_view kDiscarded = "discarded";
// Durable processes: a newer activation owns the name (this one is a leftover of a node that
// was declared dead, or of a move); moved to another node by a migration.
inline constexpr std::string_view kFenced = "fenced";
inline constexpr std::string_view kMigrated = "migrated";
// Normal exits do not take linked processes down and do not restart transient children.
inline bool is_normal(std::string_view r) { return r == kNormal || r == kShutdown || r == kMigrated; }
}  // namespace reason

// Where to send the reply to a call; can outlive the call message (deferred replies).
struct ReplyTo {
  Pid caller;
  uint64_t request_id = 0;
  bool valid() const { return caller.valid() && request_id != 0; }
};

class Message {
 public:
  Message() = default;
  Message(Pid to, Pid from, Kind kind, uint32_t proto_id, Body body)
      : to_(to), from_(from), proto_id_(proto_id), kind_(kind), body_(std::move(body)) {}

  uint32_t proto_id() const { return proto_id_; }
  Pid from() const { return from_; }
  Pid to() const { return to_; }
  Kind kind() const { return kind_; }
  uint64_t request_id() const { return request_id_; }
  bool is_call() const { return kind_ == Kind::kCall; }
  // For replies: kOk, or the error code with the body holding the error text.
  Code code() const { return code_; }
  ReplyTo reply_to() const { return {from_, kind_ == Kind::kCall ? request_id_ : 0}; }

  Body& body() { return body_; }
  // Moves the body out, e.g. to forward it without a copy.
  Body take_body() { return std::move(body_); }
  template <class T>
  decltype(auto) as() {
    return body_.template as<T>();
  }

  // The reply to call `request_id` of `to` saying it failed: the code and the text.
  static Message* error_reply(Pid to, Pid from, uint64_t request_id, const Status& why) {
    auto* r = new Message(to, from, Kind::kReply, 0, Body::bytes(why.message()));
    r->request_id_ = request_id;
    r->code_ = why.code();
    return r;
  }

  // Runtime plumbing (public so the runtime's pieces can build messages; routers read only).
  void set_request_id(uint64_t id) { request_id_ = id; }
  void set_code(Code c) { code_ = c; }
  void set_to(Pid to) { to_ = to; }
  // The worker whose process sent it, when it crossed from one worker to another (the
  // affinity count, shard.cpp); kSameWorker when delivered where it was sent; kOutside
  // when sent by a plain thread or the network.
  static constexpr uint8_t kSameWorker = 0xFE, kOutside = 0xFF;
  uint8_t src_worker() const { return src_worker_; }
  void set_src_worker(uint8_t w) { src_worker_ = w; }

  // Pooled allocation (message_pool.cpp): messages often die on another thread.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;

  // Intrusive link for the mailbox and the cross-shard queue.
  std::atomic<Message*> next{nullptr};

 private:
  Pid to_;
  Pid from_;
  uint64_t request_id_ = 0;
  uint32_t proto_id_ = 0;
  Kind kind_ = Kind::kInfo;
  Code code_ = Code::kOk;
  uint8_t src_worker_ = kSameWorker;
  Body body_;
};

using MessagePtr = std::unique_ptr<Message>;

}  // namespace behavior
