// inbox.h — a mailbox for a plain thread (main, a test, a benchmark driver): it has a pid,
// so processes can send and reply to it, and it can make blocking calls. CAF's
// scoped_actor plays the same role.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

#include "behavior/endpoint.h"
#include "behavior/message.h"
#include "behavior/options.h"
#include "behavior/reply.h"

namespace behavior {

class Node;

class Inbox final : public Endpoint {
 public:
  explicit Inbox(Node& node);
  ~Inbox();
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  Pid pid() const { return pid_; }
  // The next message, or nullptr after `timeout`. Replies to calls are taken only by call().
  MessagePtr receive(Millis timeout);

  Status send(Pid to, uint32_t proto_id, Body body = {});
  Status send(std::string_view name, uint32_t proto_id, Body body = {});
  // Blocks this thread until the reply, an error, or the timeout.
  Reply call(Pid to, uint32_t proto_id, Body body = {}, Millis timeout = kDefaultCallTimeout);
  Reply call(std::string_view name, uint32_t proto_id, Body body = {},
             Millis timeout = kDefaultCallTimeout);

  // Runtime side: any thread may deliver.
  void deliver(Message* m) override;

 private:
  MessagePtr take(Millis timeout, uint64_t want_request);
  Reply call_to(Pid to, std::string_view name, uint32_t proto_id, Body body, Millis timeout);

  Node& node_;
  Pid pid_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message*> queue_;
};

}  // namespace behavior
