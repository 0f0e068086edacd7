// calls.h — request and reply from the caller's side. A call gets a request id and a
// timeout timer; what ends it (the reply, the timeout, or an error reply when the callee
// cannot be reached or dies) either resumes the awaiting coroutine at once or is queued
// in the mailbox for the callback form, so the callback runs as one of the process's turns.
#pragma once

#include <coroutine>
#include <cstdint>
#include <string>

#include "behavior/actor.h"
#include "behavior/message.h"

namespace behavior::detail {

class Shard;
struct PendingCall;

class Calls {
 public:
  explicit Calls(Shard& shard) : shard_(shard) {}

  // Sends the call from `a` (to `to`, or to `name` when `to` is not valid). Either
  // `waiter` and `slot` (awaited form) or `callback` is set.
  void begin(Actor* a, Pid to, std::string name, uint32_t proto_id, Body body, Millis timeout,
             std::coroutine_handle<> waiter, Reply* slot, CallCallback callback);
  // A reply reached `a`. A late one (after the timeout) or an unknown one is dropped.
  void on_reply(Actor* a, MessagePtr m);
  // The call's timer fired first.
  void on_timeout(Actor* a, uint64_t request_id);
  // A queued reply (callback form) came to the head of the mailbox: the callback to run
  // with it, empty when there is none.
  CallCallback take_callback(Actor* a, uint64_t request_id);
  // `a` is exiting: its calls' timers stop.
  void cancel_all(Actor* a);

 private:
  void answer(Actor* a, PendingCall* pc, MessagePtr reply);

  Shard& shard_;
};

}  // namespace behavior::detail
