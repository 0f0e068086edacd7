// status.cpp — names for error codes and Status printing.
#include "behavior/status.h"

namespace behavior {

std::string_view code_name(Code c) {
  switch (c) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kTimeout: return "timeout";
    case Code::kMailboxFull: return "mailbox_full";
    case Code::kNoProcess: return "no_process";
    case Code::kCrashed: return "crashed";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kShutdown: return "shutdown";
    case Code::kUnavailable: return "unavailable";
    case Code::kInternal: return "internal";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kFenced: return "fenced";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string s(code_name(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace behavior
