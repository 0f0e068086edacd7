// inbox.cpp — see inbox.h. A mutex and a condition variable: plain threads are the slow
// edge of the system (tests, drivers), and this keeps their waiting simple and correct.
#include "behavior/inbox.h"

#include <chrono>

#include "behavior/node.h"
#include "runtime.h"

namespace behavior {

Inbox::Inbox(Node& node) : node_(node), pid_(node.add_endpoint(this)) {}

Inbox::~Inbox() {
  detail::runtime_of(node_).remove_endpoint(pid_);
  for (Message* m : queue_) delete m;
}

void Inbox::deliver(Message* m) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(m);
  }
  cv_.notify_one();
}

MessagePtr Inbox::take(Millis timeout, uint64_t want_request) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    for (auto it = queue_.begin(); it != queue_.end();) {
      Message* m = *it;
      if (m->kind() == Kind::kReply) {
        it = queue_.erase(it);
        if (want_request != 0 && m->request_id() == want_request) return MessagePtr(m);
        delete m;  // the late reply of a call that already timed out
        continue;
      }
      if (want_request == 0) {
        queue_.erase(it);
        return MessagePtr(m);
      }
      ++it;
    }
    // Looked once more after the deadline passed: nothing.
    if (std::chrono::steady_clock::now() >= deadline) return nullptr;
    cv_.wait_until(lock, deadline);
  }
}

MessagePtr Inbox::receive(Millis timeout) { return take(timeout, 0); }

Status Inbox::send(Pid to, uint32_t proto_id, Body body) {
  return detail::runtime_of(node_).send(pid_, to, Kind::kInfo, proto_id, std::move(body));
}

Status Inbox::send(std::string_view name, uint32_t proto_id, Body body) {
  return detail::runtime_of(node_).route_named(name, new Message(Pid(), pid_, Kind::kInfo, proto_id, std::move(body)));
}

Reply Inbox::call(Pid to, uint32_t proto_id, Body body, Millis timeout) {
  return call_to(to, {}, proto_id, std::move(body), timeout);
}

Reply Inbox::call(std::string_view name, uint32_t proto_id, Body body, Millis timeout) {
  return call_to(Pid(), name, proto_id, std::move(body), timeout);
}

Reply Inbox::call_to(Pid to, std::string_view name, uint32_t proto_id, Body body, Millis timeout) {
  uint64_t request_id = detail::runtime_of(node_).next_external_request();
  auto* m = new Message(to, pid_, Kind::kCall, proto_id, std::move(body));
  m->set_request_id(request_id);
  // Failures come back as an error reply, so one wait covers every outcome.
  if (to.valid()) {
    detail::runtime_of(node_).route(m);
  } else {
    detail::runtime_of(node_).route_named(name, m);
  }
  MessagePtr reply = take(timeout, request_id);
  if (!reply) return Reply(Status::timeout("call timed out"));
  return Reply(std::move(reply));
}

}  // namespace behavior
