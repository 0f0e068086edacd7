// client_writer.cpp — attach and detach of a process's client connection (see
// client_writer.h).
#include "client_writer.h"

#include "runtime.h"
#include "shard.h"

namespace behavior::detail {

void ClientWriter::change(Actor* a, MessagePtr m) {
  const Pid conn = m->from();
  const bool attach = m->proto_id() == proto::kAttach;
  m.reset();
  if (attach) {
    const Pid old = a->writer_;
    a->writer_ = conn;
    if (old.valid() && old != conn) {
      shard_.runtime().send(a->pid_, old, Kind::kInfo, proto::kKick, Body::bytes("logged in elsewhere"));
    }
  } else if (a->writer_ == conn) {
    a->writer_ = Pid();
  } else {
    return;  // a connection that was already replaced
  }
  try {
    if (attach) {
      a->router_->on_client_attached(conn);
    } else {
      a->router_->on_client_detached(conn);
    }
  } catch (...) {
    shard_.crash(a, std::current_exception());
  }
}

}  // namespace behavior::detail
