// status.h — the error type every fallible call returns, in LevelDB's style: ok, or a code
// plus a human-readable message. Result<T> carries either a value or a non-ok Status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace behavior {

enum class Code : uint8_t {
  kOk = 0,
  kNotFound,         // no process registered under that name
  kAlreadyExists,    // the name is taken
  kTimeout,          // a call got no reply in time
  kMailboxFull,      // the receiver's bounded mailbox refused the message
  kNoProcess,        // the pid does not (or no longer) exist
  kCrashed,          // the callee exited while handling the call
  kInvalidArgument,  // bad input from the caller
  kShutdown,         // the node is stopping
  kUnavailable,      // the target is unreachable (remote node unknown or down)
  kInternal,
  kUnauthenticated,  // a missing, bad, expired or reused credential (login, ticket)
  kFenced,           // a newer activation of this process owns its name and state
};

std::string_view code_name(Code c);

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  static Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status already_exists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
  static Status mailbox_full(std::string m) { return {Code::kMailboxFull, std::move(m)}; }
  static Status no_process(std::string m) { return {Code::kNoProcess, std::move(m)}; }
  static Status crashed(std::string m) { return {Code::kCrashed, std::move(m)}; }
  static Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status shutdown(std::string m) { return {Code::kShutdown, std::move(m)}; }
  static Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
  static Status fenced(std::string m) { return {Code::kFenced, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or "<code name>: <message>".
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace behavior
