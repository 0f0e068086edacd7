// calls.cpp — request and reply from the caller's side (see calls.h). Runs on the worker
// that owns the calling process.
#include "calls.h"

#include "actor_ext.h"
#include "runtime.h"
#include "shard.h"

namespace behavior::detail {

void Calls::begin(Actor* a, Pid to, std::string name, uint32_t proto_id, Body body, Millis timeout,
                  std::coroutine_handle<> waiter, Reply* slot, CallCallback callback) {
  const uint64_t request_id = shard_.next_request_id();
  PendingCall pc;
  pc.request_id = request_id;
  pc.waiter = waiter;
  pc.slot = slot;
  pc.callback = std::move(callback);
  Timer t;
  t.target = a->pid_;
  t.call_request = request_id;
  pc.timer = shard_.add_timer(timeout, std::move(t));
  a->ext().pending.push_back(std::move(pc));
  auto* m = new Message(to, a->pid_, Kind::kCall, proto_id, std::move(body));
  m->set_request_id(request_id);
  // Failures come back as an error reply.
  if (to.valid()) {
    shard_.runtime().route(m);
  } else {
    shard_.runtime().route_named(name, m);
  }
}

void Calls::on_reply(Actor* a, MessagePtr m) {
  PendingCall* pc = a->ext_ ? a->ext_->find_pending(m->request_id()) : nullptr;
  if (!pc || pc->answered) return;
  shard_.cancel_timer(pc->timer);
  answer(a, pc, std::move(m));
}

void Calls::on_timeout(Actor* a, uint64_t request_id) {
  PendingCall* pc = a->ext_ ? a->ext_->find_pending(request_id) : nullptr;
  if (!pc || pc->answered) return;
  answer(a, pc, MessagePtr(Message::error_reply(a->pid_, Pid(), request_id, Status::timeout("call timed out"))));
}

// The awaiting coroutine resumes with the reply (an error reply reads as its Status); the
// callback form finds it in the mailbox and runs the callback as one of the process's turns.
void Calls::answer(Actor* a, PendingCall* pc, MessagePtr reply) {
  if (pc->waiter) {
    const uint64_t request_id = pc->request_id;
    *pc->slot = Reply(std::move(reply));
    a->resume_ = pc->waiter;
    a->ext_->erase_pending(request_id);
    shard_.schedule(a);
  } else {
    pc->answered = true;
    shard_.enqueue(a, std::move(reply));
  }
}

CallCallback Calls::take_callback(Actor* a, uint64_t request_id) {
  PendingCall* pc = a->ext_ ? a->ext_->find_pending(request_id) : nullptr;
  if (!pc) return {};
  CallCallback cb = std::move(pc->callback);
  a->ext_->erase_pending(request_id);
  return cb;
}

void Calls::cancel_all(Actor* a) {
  for (auto& pc : a->ext().pending) shard_.cancel_timer(pc.timer);
}

}  // namespace behavior::detail
