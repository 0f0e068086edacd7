// message.cpp — printing of pids and message kinds.
#include "behavior/message.h"

namespace behavior {

std::string Pid::to_string() const {
  return "<" + std::to_string(node()) + "." + std::to_string(shard()) + "." +
         std::to_string(serial()) + ">";
}

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::kInfo: return "info";
    case Kind::kCall: return "call";
    case Kind::kReply: return "reply";
    case Kind::kStop: return "stop";
    case Kind::kExit: return "exit";
    case Kind::kDown: return "down";
    case Kind::kClient: return "client";
    case Kind::kLink: return "link";
    case Kind::kUnlink: return "unlink";
    case Kind::kMonitor: return "monitor";
    case Kind::kDemonitor: return "demonitor";
    case Kind::kRelease: return "release";
    case Kind::kPlace: return "place";
  }
  return "unknown";
}

}  // namespace behavior
