// reply.h — the outcome of a call: the reply message, or a Status saying why there is none
// (timeout, no such process, callee crashed, mailbox full, ...).
#pragma once

#include <stdexcept>

#include "behavior/message.h"

namespace behavior {

// Thrown by Reply::as<T>() on a failed call; escaping a handler it ends the caller, as an
// unanswered gen_server:call does in Erlang. Check ok() first to handle the error instead.
class CallFailed : public std::runtime_error {
 public:
  explicit CallFailed(Status s) : std::runtime_error(s.to_string()), status_(std::move(s)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

class Reply {
 public:
  Reply() : status_(Status::internal("no reply yet")) {}
  explicit Reply(Status s) : status_(std::move(s)) {}
  explicit Reply(MessagePtr m) : msg_(std::move(m)) {
    if (msg_->code() != Code::kOk) status_ = Status(msg_->code(), std::string(msg_->body().raw()));
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  uint32_t proto_id() const { return msg_ ? msg_->proto_id() : 0; }
  // The reply message; only when ok().
  Message& message() {
    if (!ok()) throw CallFailed(status_);
    return *msg_;
  }
  template <class T>
  decltype(auto) as() {
    return message().template as<T>();
  }

 private:
  Status status_;
  MessagePtr msg_;
};

}  // namespace behavior
