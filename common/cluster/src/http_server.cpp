// http_server.cpp — see http_server.h. One Conn per socket: its HttpRequestParser turns
// what arrives into requests; each gets a sequence number and runs its handler; answers are
// written in sequence order however they complete (pipelining); the connection closes
// after a response when keep-alive is off, or after a parse error.
#include "behavior/http_server.h"

#include "behavior/http_request_parser.h"
#include "behavior/read_stream.h"
#include "behavior/crypto.h"
#include "behavior/tls.h"

#include <memory>

#include "behavior/tcp_listener.h"

namespace behavior {
namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

}  // namespace

struct HttpServer::Conn {
  explicit Conn(HttpServer* s) : server(s), parser(s->limits()) {}
  HttpServer* server;
  HttpRequestParser parser;
  std::unique_ptr<TlsStream> tls;  // HTTPS: the connection's TLS session
  std::string peer_ip;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  bool closing = false;
  int open_handles = 2;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);  // false once closed
  uint64_t next_seq = 0;  // the next request's number
  uint64_t next_out = 0;  // the next response to write
  struct Answer {
    HttpResponse response;
    bool keep_alive;
  };
  std::map<uint64_t, Answer> done;  // answered, waiting for earlier ones
  size_t writes = 0;                // answers handed to uv_write and not yet completed
  bool reading = false;             // off while too much output waits for the client
  bool counted = false;             // in per_address_
  bool started = false;             // the client sent its first bytes
  char buf[16 * 1024];
  uv_buf_t read_buffer() { return uv_buf_init(buf, sizeof buf); }  // read_stream.h
  void on_read(const char*, ssize_t n) { server->on_read(this, n); }
};

namespace {

struct WriteReq {
  uv_write_t req;
  std::string data;
  bool close_after;
  bool answer = true;  // false: TLS handshake bytes, not an answer (not in Conn::writes)
};

std::string error_json(int status, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
  }
  return "{\"code\":" + std::to_string(status) + ",\"message\":\"" + escaped + "\"}";
}

}  // namespace

HttpServer::HttpServer(uv_loop_t* loop, HttpLimits limits) : loop_(loop), limits_(limits) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(std::string method, std::string path, Handler handler) {
  route_async(std::move(method), std::move(path),
              [handler = std::move(handler)](const HttpRequest& req, Respond respond) { respond(handler(req)); });
}

void HttpServer::route_async(std::string method, std::string path, AsyncHandler handler) {
  routes_[{std::move(method), std::move(path)}] = std::move(handler);
}

Status HttpServer::listen(const std::string& host, int port) {
  listener_ = std::make_unique<TcpListener>(loop_, [this](uv_stream_t* server) {
    listener_stream_ = server;
    on_connection();
  });
  Status s = listener_->listen(host, port, 1024);
  port_ = listener_->port();
  return s;
}

void HttpServer::on_connection() {
  auto* c = new Conn(this);
  uv_tcp_init(loop_, &c->tcp);
  uv_timer_init(loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  conns_.insert(c);
  if (uv_accept(listener_stream_, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close(c);
    return;
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    char ip[64] = "";
    uv_ip_name(reinterpret_cast<sockaddr*>(&ss), ip, sizeof ip);
    c->peer_ip = ip;
  }
  if (!admit(c)) {
    close(c);
    return;
  }
  // The timer cuts a connection that does not start a request soon (over TLS: that does not
  // finish its handshake soon, then start a request), and later one idle (or trickling a
  // request in: slowloris) for idle_timeout_ms; never one whose requests are still being
  // answered (a login waiting for the password pool is not idle).
  uv_timer_start(&c->timer, &HttpServer::on_timer, limits_.first_request_timeout_ms,
                 limits_.idle_timeout_ms);  // uv_timer_again: idle_timeout_ms
  if (tls_) start_tls(c);
  start_reading(c);
}

void HttpServer::on_timer(uv_timer_t* t) {
  auto* conn = static_cast<Conn*>(t->data);
  if (conn->next_seq != conn->next_out) return;
  ++conn->server->stats_.timed_out;
  conn->server->close(conn);
}

// The connection limits: all connections, those of one address, and a reserve that keeps the
// last free slots for addresses that hold none (one address cannot take every slot).
bool HttpServer::admit(Conn* c) {
  if (conns_.size() > limits_.max_connections) {
    ++stats_.refused_full;
    return false;
  }
  size_t& mine = per_address_[c->peer_ip];
  const size_t free_slots = limits_.max_connections + 1 - conns_.size();
  if (mine >= limits_.max_per_address || (mine > 0 && free_slots <= limits_.reserved_connections)) {
    if (mine == 0) per_address_.erase(c->peer_ip);
    ++stats_.refused_per_address;
    return false;
  }
  ++mine;
  c->counted = true;
  return true;
}

void HttpServer::start_reading(Conn* c) {
  c->reading = true;
  read_stream<Conn>(reinterpret_cast<uv_stream_t*>(&c->tcp));
}

void HttpServer::on_read(Conn* c, ssize_t n) {
  if (n < 0) {
    close(c);
    return;
  }
  if (c->closing || c->parser.stopped()) return;
  std::string plain;
  if (c->tls && !decrypt(c, static_cast<size_t>(n), &plain)) return;
  const char* data = c->tls ? plain.data() : c->buf;
  const size_t size = c->tls ? plain.size() : static_cast<size_t>(n);
  if (!c->started && size > 0) {  // the first request began: from now on the idle timeout holds
    c->started = true;
    uv_timer_again(&c->timer);
  }
  auto error = c->parser.feed(data, size, [&](HttpRequest&& req, bool keep_alive) {
    req.peer_ip = c->peer_ip;
    dispatch(c, std::move(req), keep_alive);
    return keep_alive && !c->closing;  // a request that closes the connection ends the parsing
  });
  if (error && !c->closing) {
    HttpResponse r;
    r.status = error->status;
    r.content_type = "application/json";
    r.body = error_json(error->status, error->message);
    answer(c, c->next_seq++, std::move(r), false);
  }
  // A client that sends requests and does not read the answers: read no more of its requests
  // until it has taken what is queued (on_written starts reading again).
  if (!c->closing && c->reading && !c->parser.stopped() &&
      uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c->tcp)) > limits_.pause_output_bytes) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    c->reading = false;
  }
}

// A write completed: the client is reading (not idle), and once its queue has drained we
// read its requests again.
void HttpServer::on_written(Conn* c) {
  --c->writes;
  if (c->closing) return;
  uv_timer_again(&c->timer);
  if (!c->reading && !c->parser.stopped() &&
      uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c->tcp)) <= limits_.pause_output_bytes / 2) {
    start_reading(c);
  }
}

// Exact routes first, then prefix routes ("/v1/nodes/*"); *status is 404 or 405 when none.
const HttpServer::AsyncHandler* HttpServer::find(const HttpRequest& req, int* status) const {
  for (const char* method : {req.method.c_str(), "*"}) {
    auto it = routes_.find({method, req.path});
    if (it != routes_.end()) return &it->second;
  }
  bool path_known = false;
  for (auto& [key, h] : routes_) {
    const std::string& path = key.second;
    bool match = path == req.path || (!path.empty() && path.back() == '*' &&
                                      req.path.compare(0, path.size() - 1, path, 0, path.size() - 1) == 0);
    if (!match) continue;
    if (key.first == req.method || key.first == "*") return &h;
    path_known = true;
  }
  *status = path_known ? 405 : 404;
  return nullptr;
}

void HttpServer::dispatch(Conn* c, HttpRequest&& req, bool keep_alive) {
  if (c->closing) return;
  if (c->next_seq - c->next_out >= kMaxPipelined) {
    close(c);  // a client that pipelines without reading answers
    return;
  }
  const uint64_t seq = c->next_seq++;
  if (keep_alive) uv_timer_again(&c->timer);
  int status = 404;
  const AsyncHandler* handler = find(req, &status);
  if (!handler) {
    answer(c, seq, HttpResponse{status, "application/json", error_json(status, reason_phrase(status)), {}}, keep_alive);
    return;
  }
  auto once = std::make_shared<bool>(false);
  Respond respond = [this, c, alive = c->alive, seq, keep_alive, once](HttpResponse r) {
    if (*once || !*alive) return;
    *once = true;
    answer(c, seq, std::move(r), keep_alive);
  };
  try {
    (*handler)(req, respond);
  } catch (const std::exception&) {
    respond(HttpResponse{500, "application/json", error_json(500, "internal error"), {}});
  }
}

void HttpServer::answer(Conn* c, uint64_t seq, HttpResponse r, bool keep_alive) {
  c->done.emplace(seq, Conn::Answer{std::move(r), keep_alive});
  for (auto it = c->done.find(c->next_out); it != c->done.end() && !c->closing; it = c->done.find(c->next_out)) {
    respond(c, it->second.response, it->second.keep_alive);
    c->done.erase(it);
    ++c->next_out;
  }
}

void HttpServer::respond(Conn* c, const HttpResponse& r, bool keep_alive) {
  auto* w = new WriteReq();
  w->close_after = !keep_alive;
  w->data = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
  w->data += "Content-Type: " + r.content_type + "\r\n";
  w->data += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  for (auto& [k, v] : r.headers) w->data += k + ": " + v + "\r\n";
  w->data += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  w->data += r.body;
  if (c->tls) encrypt(c, &w->data, !keep_alive);
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
  int rc = uv_write(&w->req, stream, &buf, 1, [](uv_write_t* req, int) {
    auto* wr = static_cast<WriteReq*>(req->data);
    auto* conn = static_cast<Conn*>(req->handle->data);
    if (wr->answer) conn->server->on_written(conn);
    if (wr->close_after) conn->server->close(conn);
    delete wr;
  });
  if (rc != 0) {
    delete w;
    close(c);
    return;
  }
  ++c->writes;
  // Answers piling up for a client that does not read them (requests pipelined in one read
  // add answers before reading can pause): cut it. One answer alone may be larger.
  if (c->writes > 1 && uv_stream_get_write_queue_size(stream) > limits_.max_output_bytes) {
    close(c);
    return;
  }
  if (!keep_alive) {
    uv_read_stop(stream);
    c->reading = false;
  }
}

void HttpServer::close(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  *c->alive = false;
  conns_.erase(c);
  if (c->counted) {
    auto it = per_address_.find(c->peer_ip);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }
  auto done = [](uv_handle_t* h) {
    auto* conn = static_cast<Conn*>(h->data);
    if (--conn->open_handles == 0) delete conn;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), done);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), done);
}

// ---------------------------------------------------------------------------------------
// TLS: the connection's bytes pass through its TlsStream on the way in (decrypt) and out
// (encrypt); the handshake's own output leaves through write_tls_output. Until the handshake
// is done the connection's timer runs the handshake timeout; then the idle timeout.

void HttpServer::start_tls(Conn* c) {
  c->tls = tls_->new_stream();
  uv_timer_start(&c->timer, &HttpServer::on_timer, limits_.tls_handshake_timeout_ms, limits_.idle_timeout_ms);
}

// The plaintext in the n bytes just read, into *plain; false when the TLS session failed
// (the connection is closing: its alert, if any, goes first).
bool HttpServer::decrypt(Conn* c, size_t n, std::string* plain) {
  const bool was_done = c->tls->handshake_done();
  Status s = c->tls->feed(c->buf, n, [plain](const char* d, size_t len) { plain->append(d, len); });
  if (!s.ok()) {
    write_tls_output(c, true);
    return false;
  }
  if (!was_done && c->tls->handshake_done()) {  // now the first request's deadline
    uv_timer_start(&c->timer, &HttpServer::on_timer, limits_.first_request_timeout_ms, limits_.idle_timeout_ms);
  }
  write_tls_output(c, false);
  return true;
}

// Replaces the plaintext *bytes with its ciphertext (with close_notify after it when the
// connection closes after this answer).
void HttpServer::encrypt(Conn* c, std::string* bytes, bool close_after) {
  Status s = c->tls->write(*bytes);
  if (close_after) c->tls->shutdown();
  bytes->clear();
  if (s.ok()) c->tls->take_output(bytes);
}

void HttpServer::write_tls_output(Conn* c, bool close_after) {
  if (c->tls->output_size() == 0) {
    if (close_after) close(c);
    return;
  }
  auto* w = new WriteReq();
  w->close_after = close_after;
  w->answer = false;
  c->tls->take_output(&w->data);
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, [](uv_write_t* req, int) {
    auto* wr = static_cast<WriteReq*>(req->data);
    if (wr->close_after) {
      auto* conn = static_cast<Conn*>(req->handle->data);
      conn->server->close(conn);
    }
    delete wr;
  });
  if (rc != 0) {
    delete w;
    close(c);
    return;
  }
  if (close_after) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    c->reading = false;
  }
}

void HttpServer::stop() {
  std::vector<Conn*> all(conns_.begin(), conns_.end());
  for (Conn* c : all) close(c);
  if (listener_) listener_->close();
}

int admin_refusal(const HttpRequest& req, const std::string& admin_token) {
  if (!admin_token.empty()) {
    auto auth = req.headers.find("authorization");
    return auth != req.headers.end() && constant_time_equal(auth->second, "Bearer " + admin_token) ? 0 : 401;
  }
  return req.peer_ip.rfind("127.", 0) == 0 ? 0 : 403;
}

}  // namespace behavior
