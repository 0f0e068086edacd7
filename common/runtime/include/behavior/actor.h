// actor.h — a process as its own code sees it: identity, sending, calling, replying, talking
// to its client, spawning, links and monitors, timers. Only use an Actor from inside its
// own handlers (route, on_start, on_stop); from other threads use Node or Inbox.
#pragma once

#include <google/protobuf/message_lite.h>

#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "behavior/message.h"
#include "behavior/options.h"
#include "behavior/reply.h"
#include "behavior/router.h"

namespace behavior {

class Node;
class Actor;
namespace detail {
struct ActorExt;
class IdleTracker;
class Signals;
class Calls;
class ClientWriter;
class Durability;
class Migration;
class HotUpdate;
}  // namespace detail

using TimerId = uint64_t;
using CallCallback = std::function<void(Reply)>;

// `co_await actor().call(...)`: suspends this process (not the worker thread) until the
// reply, an error, or the timeout. Other messages wait in the mailbox meanwhile.
class [[nodiscard]] CallAwaiter {
 public:
  CallAwaiter(Actor* self, Pid to, std::string name, uint32_t proto_id, Body body, Millis timeout)
      : self_(self), to_(to), name_(std::move(name)), proto_id_(proto_id), body_(std::move(body)),
        timeout_(timeout) {}
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h);
  Reply await_resume() { return std::move(result_); }

 private:
  Actor* self_;
  Pid to_;
  std::string name_;
  uint32_t proto_id_;
  Body body_;
  Millis timeout_;
  Reply result_;
};

// `co_await actor().save()`: the process's state (Router::save_state) written to the store;
// resumes when the store has acknowledged it (ok), refused it (kFenced: a newer activation
// owns this name, and this process stops after the handler), or failed (timeout,
// unavailable, too big).
class [[nodiscard]] SaveAwaiter {
 public:
  SaveAwaiter(Actor* self, Millis timeout) : self_(self), timeout_(timeout) {}
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h);
  Status await_resume();

 private:
  Actor* self_;
  Millis timeout_;
  Status early_;
  Body body_;
  Reply result_;
};

class Actor {
 public:
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;

  Pid pid() const { return pid_; }
  const std::string& name() const;  // "" when anonymous
  const std::string& kind() const;
  Node& node() const;
  // The connection process that send_to_client() writes to (the seed's writer).
  Pid writer() const { return writer_; }
  void set_writer(Pid writer) { writer_ = writer; }

  // Async message. Sending to an unknown name fails at once with kNotFound; to a full
  // mailbox on this worker with kMailboxFull (on another worker the bounce comes later).
  Status send(Pid to, uint32_t proto_id, Body body = {});
  Status send(std::string_view name, uint32_t proto_id, Body body = {});

  // Request/reply. Awaited: `Reply r = co_await actor().call(...)`.
  CallAwaiter call(Pid to, uint32_t proto_id, Body body = {}, Millis timeout = kDefaultCallTimeout);
  CallAwaiter call(std::string_view name, uint32_t proto_id, Body body = {},
                   Millis timeout = kDefaultCallTimeout);
  // Callback form: the process goes on handling messages, and `done` runs in it later
  // with the reply or the error. A reply after the timeout is dropped.
  void call(Pid to, uint32_t proto_id, Body body, Millis timeout, CallCallback done);
  void call(std::string_view name, uint32_t proto_id, Body body, Millis timeout, CallCallback done);
  // Answers a call now, or later through the saved ReplyTo (deferred reply).
  Status reply(const Message& call, uint32_t proto_id, Body body = {});
  Status reply(ReplyTo to, uint32_t proto_id, Body body = {});
  Status reply_error(ReplyTo to, const Status& error);

  // To the client behind writer(): the seed's Sent2client, Sent2clientByte, SentError2client.
  Status send_to_client(uint32_t proto_id, const google::protobuf::MessageLite& msg);
  Status send_to_client_bytes(uint32_t proto_id, std::string bytes);
  // A body as it is, e.g. a received message's (m.take_body()): relayed without a copy.
  Status forward_to_client(uint32_t proto_id, Body body);
  // May be lost or reordered when the client is on UDP (its unreliable channel: state
  // updates that the next one replaces); on TCP and WebSocket the same as the above.
  Status send_to_client_unreliable(uint32_t proto_id, std::string bytes);
  Status send_error_to_client(uint32_t code, std::string_view text);

  Result<Pid> spawn(std::unique_ptr<Router> router, SpawnOptions options = {});
  Result<Pid> spawn_link(std::unique_ptr<Router> router, SpawnOptions options = {});

  // Links are two-way: when either side exits abnormally the other gets an exit signal,
  // which ends it unless it traps exits (then it arrives as a proto::kExit message).
  void link(Pid other);
  void unlink(Pid other);
  // One-way: when `target` exits, a proto::kDown message with this ref arrives.
  uint64_t monitor(Pid target);
  void demonitor(uint64_t ref);
  void trap_exit(bool on) { trap_exit_ = on; }
  bool trapping_exits() const { return trap_exit_; }
  // Sends an exit signal; reason "kill" cannot be trapped.
  void exit(Pid target, std::string_view reason);
  // Ends this process after the current handler returns.
  void stop(std::string_view reason = reason::kNormal);

  TimerId send_after(Millis delay, uint32_t proto_id, Body body = {});
  TimerId tick(Millis period, uint32_t proto_id);
  bool cancel_timer(TimerId id);

  // Durable state (KindOptions::durable). mark_dirty() says the state changed since the
  // last save: interval and passivation saves write only dirty state. save() writes it now.
  SaveAwaiter save(Millis timeout = kDefaultCallTimeout);
  void mark_dirty();
  bool durable() const;
  // This activation's fencing epoch (grows with every activation of the name); 0 if none.
  uint64_t epoch() const;
  // True when this process is a live process moved here from another node (live migration:
  // its client is still connected, its monitors were told), false for a new activation.
  // Known from on_start on. What a router rebuilds that is not in its state (a room's pid,
  // a subscription) it rebuilds here.
  bool moved_here() const;
  Pid moved_from() const;  // moved here: the pid this process had before the move, else none
  // True once on_start has run. In Router::upgrade_state it tells the two cases apart:
  // false at an activation (the state comes from the store; monitors, pids and timers of
  // the old activation are gone), true in a hot update (the process lives on: its monitors,
  // timers and links are still in force, so pids and refs in the state are still valid).
  bool started() const { return started_; }

  // Model clean: stop after this long without traffic (0 = never). Pressure shortens it.
  void set_idle_timeout(Millis timeout);
  // Messages this process's bounded mailbox dropped or refused.
  uint64_t dropped() const;

 private:
  friend class detail::Shard;
  friend class detail::Runtime;
  friend class detail::IdleTracker;
  friend class detail::Signals;
  friend class detail::Calls;
  friend class detail::ClientWriter;
  friend class detail::Durability;
  friend class detail::Migration;
  friend class detail::HotUpdate;
  friend class CallAwaiter;
  friend class SaveAwaiter;
  Actor() = default;
  ~Actor();
  detail::ActorExt& ext();
  Status send_kind(Pid to, Kind kind, uint32_t proto_id, Body body, uint64_t request_id = 0);
  uint64_t client_flags(uint64_t flags) const;  // a kClient's request_id (message.h)

  Pid pid_;
  Pid writer_;
  Router* router_ = nullptr;
  detail::Shard* shard_ = nullptr;
  detail::ActorExt* ext_ = nullptr;
  // Mailbox (touched only by the owning worker).
  Message* mb_head_ = nullptr;
  Message* mb_tail_ = nullptr;
  uint32_t mb_size_ = 0;
  uint32_t mb_limit_ = 0;
  // Ready queue / spawn queue link.
  std::atomic<Actor*> next_{nullptr};
  // The handler in progress when it is suspended in a call, and what resumes it.
  std::coroutine_handle<> task_;
  std::coroutine_handle<> resume_;
  MessagePtr current_;  // the message the handler in progress is handling
  // Model clean: intrusive LRU list per idle timeout value.
  Actor* idle_prev_ = nullptr;
  Actor* idle_next_ = nullptr;
  int64_t last_active_ns_ = 0;
  int64_t idle_ns_ = 0;
  uint16_t idle_list_ = 0;
  // Where it runs (shard.cpp, "Affinity"): kHome on the worker its pid names; a guest, moved
  // to the worker that messages it most, arriving (sends from there still go through its
  // home worker) or settled. And the count of recent messages from one other worker.
  uint8_t place_ = 0;
  uint8_t affinity_worker_ = 0;
  uint8_t affinity_count_ = 0;
  bool scheduled_ = false;
  bool held_ = false;
  bool started_ = false;
  bool trap_exit_ = false;
  bool exit_pending_ = false;
  bool exiting_ = false;
  Overflow overflow_ = Overflow::kReject;
};

}  // namespace behavior
