// stream_transport.cpp — see stream_transport.h: the socket, batched output and the polite
// close shared by the TCP and WebSocket transports.
#include "stream_transport.h"

#include <cstring>

#include <behavior/read_stream.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace behavior::gateway {
namespace {

struct WriteReq {
  uv_write_t req;
  std::string data;
  GatewayStats* stats;
};

}  // namespace

void StreamTransport::Shared::flush() {
  // A write may close a connection, which takes it out of `dirty`: work on a copy. A closed
  // one stays valid until its close callback, after this callback.
  std::vector<StreamTransport*> batch;
  batch.swap(dirty);
  for (StreamTransport* t : batch) t->dirty_ = false;
  for (StreamTransport* t : batch) {
    if (!t->closing_) t->flush_out();
  }
  if (dirty.empty()) {  // keep the buffer for the next callback
    batch.clear();
    dirty.swap(batch);
  }
}

bool StreamTransport::accept(uv_stream_t* server) {
  uv_tcp_init(shared_.loop, &tcp_);
  tcp_.data = this;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) {
    closing_ = closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) { delete static_cast<StreamTransport*>(h->data); });
    return false;
  }
  uv_tcp_nodelay(&tcp_, 1);
  read_stream<StreamTransport>(reinterpret_cast<uv_stream_t*>(&tcp_));
  return true;
}

uint64_t StreamTransport::peer_key() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) {
    return (uint64_t{1} << 32) | reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr;
  }
  uint64_t prefix = 0;
  std::memcpy(&prefix, reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr.s6_addr, sizeof prefix);
  return prefix | 1;  // never 0
}

uv_buf_t StreamTransport::read_buffer() {
  return uv_buf_init(shared_.read_buf, sizeof shared_.read_buf);  // one buffer per loop
}

void StreamTransport::on_read(const char* data, ssize_t n) {
  if (n < 0) {
    fail(n == UV_EOF ? CloseReason::kClientLeft : CloseReason::kNetworkError, static_cast<int>(n));
    return;
  }
  if (closing_) return;
  shared_.stats->bytes_in += static_cast<uint64_t>(n);
  if (tls_) {
    if (!decrypt(data, static_cast<size_t>(n))) return;
  } else {
    on_bytes(data, static_cast<size_t>(n));
  }
  if (shared_.after_read) shared_.after_read();
}

void StreamTransport::queue(std::string_view bytes) {
  if (std::string* out = output(); out && !bytes.empty()) out->append(bytes);
}

std::string* StreamTransport::output() {
  if (closing_) return nullptr;
  if (!dirty_) {
    dirty_ = true;
    shared_.dirty.push_back(this);
  }
  return &out_;
}

void StreamTransport::flush_out() {
  if (tls_) encrypt_output();
  if (out_.empty()) return;
  // Mostly the socket takes it all: then the buffer stays for the next callback's frames
  // (up to kKeptOutput bytes, so a quiet connection holds little). Moving it out every time
  // made the next frames regrow it, and growth past 1 KB makes glibc consolidate its fast
  // bins (malloc_consolidate, then slower mallocs for every message body): a fifth of the
  // gateway's echo profile went to malloc.
  if (try_write(&out_)) {
    if (out_.capacity() > kKeptOutput) std::string().swap(out_);
    out_.clear();
    return;
  }
  if (closing_) return;  // the write failed and closed it
  std::string out = std::move(out_);
  out_.clear();
  write_now(std::move(out), true);
}

// Writes what the socket takes now, if nothing is queued before it; true if it took
// everything, else `bytes` keeps the rest (a hard error fails the transport: check closing_).
bool StreamTransport::try_write(std::string* bytes) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (uv_stream_get_write_queue_size(stream) != 0) return false;
  uv_buf_t b = uv_buf_init(bytes->data(), static_cast<unsigned>(bytes->size()));
  int n = uv_try_write(stream, &b, 1);
  if (n == static_cast<int>(bytes->size())) {
    shared_.stats->bytes_out += bytes->size();
    return true;
  }
  if (n < 0 && n != UV_EAGAIN) {
    fail(CloseReason::kNetworkError, n);
    return false;
  }
  if (n > 0) {
    shared_.stats->bytes_out += static_cast<uint64_t>(n);
    bytes->erase(0, static_cast<size_t>(n));
  }
  return false;
}

// `tried`: try_write already ran on these bytes.
void StreamTransport::write_now(std::string bytes, bool tried) {
  if (closed_ || bytes.empty()) return;
  if (!tried && try_write(&bytes)) return;
  if (closed_) return;  // the write failed and closed it
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (uv_stream_get_write_queue_size(stream) + bytes.size() > shared_.max_output_bytes) {
    fail(CloseReason::kSlowReader, 0);
    return;
  }
  auto* w = new WriteReq();
  w->data = std::move(bytes);
  w->stats = shared_.stats;
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, stream, &b, 1, [](uv_write_t* req, int) {
    auto* wr = static_cast<WriteReq*>(req->data);
    wr->stats->bytes_out += wr->data.size();
    delete wr;
  });
  if (rc != 0) {
    delete w;
    fail(CloseReason::kNetworkError, rc);
  }
}

void StreamTransport::close_after_write(CloseReason why, uint16_t ws_code) {
  if (closing_) return;
  before_close(why, ws_code);
  if (tls_) {
    tls_->shutdown();  // close_notify after the last bytes
    encrypt_output();
  }
  if (!out_.empty()) write_now(std::move(out_), false);
  out_.clear();
  if (closed_) return;  // the write failed and closed it (the user was told)
  closing_ = true;
  why_ = why;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  uv_read_stop(stream);
  auto* req = new uv_shutdown_t();
  req->data = this;
  if (uv_shutdown(req, stream, [](uv_shutdown_t* r, int) {
        auto* t = static_cast<StreamTransport*>(r->data);
        delete r;
        t->fail(t->why_, 0);  // done (or cancelled by a close(): then nothing happens)
      }) != 0) {
    delete req;
    fail(why, 0);
  }
}

void StreamTransport::close(CloseReason) {
  if (closed_) return;
  closing_ = closed_ = true;
  user_ = nullptr;
  if (dirty_) {
    std::erase(shared_.dirty, this);
    dirty_ = false;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) { delete static_cast<StreamTransport*>(h->data); });
}

void StreamTransport::fail(CloseReason why, int uv_error) {
  if (closed_) return;
  if (uv_error != 0) spdlog::debug("gateway: a client connection failed: {}", uv_strerror(uv_error));
  TransportUser* user = user_;
  close(why);
  if (user) user->on_closed(why);
}

// ---------------------------------------------------------------------------------------
// TLS. The handshake has no timer of its own: a client must send AUTH within the auth
// timeout of its accept, and it cannot without finishing the handshake first.

bool StreamTransport::decrypt(const char* data, size_t n) {
  std::string plain;
  Status s = tls_->feed(data, n, [&plain](const char* d, size_t len) { plain.append(d, len); });
  if (!s.ok()) {
    spdlog::debug("gateway: a client's TLS failed: {}", s.message());
    std::string alert;
    tls_->take_output(&alert);
    if (!alert.empty()) {
      auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
      uv_buf_t b = uv_buf_init(alert.data(), static_cast<unsigned>(alert.size()));
      uv_try_write(stream, &b, 1);  // best effort: the connection closes now
    }
    fail(CloseReason::kBadFrame, 0);
    return false;
  }
  if (!plain.empty()) on_bytes(plain.data(), plain.size());
  if (!closing_ && tls_->output_size() > 0) output();  // handshake bytes: flush at the callback's end
  return true;
}

void StreamTransport::encrypt_output() {
  if (!out_.empty()) {
    Status s = tls_->write(out_);
    out_.clear();
    if (!s.ok()) return;
  }
  tls_->take_output(&out_);
}

}  // namespace behavior::gateway
