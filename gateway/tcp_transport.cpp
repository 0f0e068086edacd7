// tcp_transport.cpp — client frames over TCP: u32 length | u32 protoID | body, both ways
// (common/include/behavior/client_frame.h).
#include <behavior/message.h>

#include "stream_transport.h"

namespace behavior::gateway {

void TcpTransport::on_bytes(const char* data, size_t n) {
  Status s = decoder_.feed(data, n, [this](uint32_t proto, std::string_view body) {
    user_->on_frame(proto, body);
    return !closing();
  });
  if (!s.ok() && !closing()) user_->on_bad_input(s.message());
}

void TcpTransport::write_frame(uint32_t proto, std::string_view body, bool) {
  // Straight into the connection's output: a temporary string per frame (a malloc, a copy
  // and a free) was a visible share of the gateway's time in the echo profile.
  if (std::string* out = output()) append_client_frame(proto, body, out);
}

void TcpTransport::write_auth_ok(const std::string& pid) { write_frame(proto::kAuth, pid, false); }

}  // namespace behavior::gateway
