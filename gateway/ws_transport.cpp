// ws_transport.cpp — client frames over WebSocket (RFC 6455): the HTTP upgrade, then one
// binary message per frame (u32 protoID | body, no length prefix), pings answered here, and
// the closing handshake: the side that ends the connection sends a close frame with a code
// and a reason, last.
#include <behavior/message.h>

#include "stream_transport.h"

namespace behavior::gateway {

WsTransport::WsTransport(Shared& shared)
    : StreamTransport(shared), upgrade_(HttpLimits{}), frames_(true, shared.max_frame) {}

void WsTransport::on_bytes(const char* data, size_t n) {
  if (!open_) {
    on_upgrade(data, n);
    return;
  }
  Status s = frames_.feed(data, n, [this](ws::Opcode op, std::string_view payload) {
    switch (op) {
      case ws::Opcode::kBinary: {
        uint32_t proto;
        std::string_view body;
        if (!split_client_payload(payload, &proto, &body)) {
          end(CloseReason::kBadFrame, ws::kClosePolicy, "a message is u32 protoID | body");
          break;
        }
        user_->on_frame(proto, body);
        break;
      }
      case ws::Opcode::kText:
        end(CloseReason::kBadFrame, ws::kCloseUnsupportedData, "binary frames only");
        break;
      case ws::Opcode::kPing: {  // rate-limited like frames: a ping flood gets no pong flood
        if (!user_->allow_control()) break;
        if (std::string* out = output()) ws::append_frame(ws::Opcode::kPong, payload, false, out);
        break;
      }
      case ws::Opcode::kClose:
        end(CloseReason::kClientLeft, ws::kCloseNormal, "");
        break;
      default:
        break;  // pong
    }
    return !closing();
  });
  if (!s.ok() && !closing()) end(CloseReason::kBadFrame, frames_.close_code(), s.message());
}

void WsTransport::on_upgrade(const char* data, size_t n) {
  auto error = upgrade_.feed(data, n, [this](HttpRequest&& req, bool) {
    Result<std::string> r = ws::upgrade_response(req);
    if (!r.ok()) {  // an HTTP answer, and no frames: the connection never was a WebSocket
      queue(ws::refusal_response(req, r.status()));
      user_->on_end(CloseReason::kBadFrame, ws::kCloseNormal, r.status().message());
    } else {
      queue(*r);
      open_ = true;
    }
    return false;  // nothing after the upgrade request is HTTP
  });
  if (error && !closing()) {
    queue("HTTP/1.1 " + std::to_string(error->status) + " Bad Request\r\nConnection: close\r\n\r\n");
    user_->on_end(CloseReason::kBadFrame, ws::kCloseNormal, "bad upgrade request");
  }
  // Frames the client sent right behind its upgrade, in the same packet, are frames.
  if (open_ && !closing() && upgrade_.consumed() < n) on_bytes(data + upgrade_.consumed(), n - upgrade_.consumed());
}

// The client's close frame is answered at once. A protocol error goes up to the session,
// which sends the error frame that says what was wrong; the close frame with ws_code and the
// same text follows it (before_close).
void WsTransport::end(CloseReason why, uint16_t ws_code, const std::string& reason) {
  if (why == CloseReason::kClientLeft) {
    if (std::string* out = output()) ws::append_close(ws_code, reason, false, out);
    close_sent_ = true;
  } else {
    close_reason_ = reason;
  }
  user_->on_end(why, ws_code, reason);
}

void WsTransport::write_frame(uint32_t proto, std::string_view body, bool) {
  std::string* out = output();
  if (!out || !open_ || close_sent_) return;  // no frames before the upgrade or after our close
  std::string payload;
  append_client_frame(proto, body, &payload);
  ws::append_frame(ws::Opcode::kBinary, std::string_view(payload).substr(4), false, out);
}

void WsTransport::write_auth_ok(const std::string& pid) { write_frame(proto::kAuth, pid, false); }

// The server that ends the connection starts the closing handshake (RFC 6455 7.1.2): its
// close frame goes last, after the error frame that explains it.
void WsTransport::before_close(CloseReason why, uint16_t ws_code) {
  if (!open_ || close_sent_) return;
  if (std::string* out = output()) {
    ws::append_close(ws_code, close_reason_.empty() ? std::string(describe(why)) : close_reason_, false, out);
  }
  close_sent_ = true;
}

}  // namespace behavior::gateway
