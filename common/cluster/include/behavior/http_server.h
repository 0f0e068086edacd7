// http_server.h — a small HTTP/1.1 server on a libuv loop (http-parser underneath): routes by
// method and path, keep-alive and pipelining, hard limits on header and body size, and an
// idle timeout per connection (slowloris). Malformed requests get 400 and a close; other
// connections never notice. Connections are bounded in all and per address (with slots kept
// for other addresses), and one that does not start a request soon is cut. Answers a client does not read are bounded (HttpLimits: the
// server stops reading its requests, then cuts it). Handlers answer at once or later (after a Redis reply, say);
// pipelined responses still leave in request order. Used for /metrics on every server, and
// by the name server. With use_tls() it serves HTTPS: reads are decrypted before parsing,
// answers encrypted before writing (the output bounds count ciphertext), and a connection
// that does not finish its TLS handshake within HttpLimits::tls_handshake_timeout_ms is cut.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "behavior/http_types.h"
#include "behavior/status.h"

namespace behavior {

class TcpListener;
class TlsContext;

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Call exactly once, on the loop thread, whenever the answer is ready. Safe to call after
  // the client went away (the response is dropped).
  using Respond = std::function<void(HttpResponse)>;
  using AsyncHandler = std::function<void(const HttpRequest&, Respond)>;
  static constexpr size_t kMaxPipelined = 32;  // requests waiting for answers per connection

  HttpServer(uv_loop_t* loop, HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Exact path match, or a prefix match when path ends in "*" ("/v1/nodes/*"); "*" as
  // method matches any.
  void route(std::string method, std::string path, Handler handler);
  void route_async(std::string method, std::string path, AsyncHandler handler);
  // Loop thread. port 0 picks a free one (see port()).
  Status listen(const std::string& host, int port);
  int port() const { return port_; }
  // HTTPS from now on: each connection accepted later speaks TLS with the context current at
  // its accept (TlsContext::reload() swaps the pair for new connections). Loop thread.
  void use_tls(std::shared_ptr<TlsContext> tls) { tls_ = std::move(tls); }
  bool tls() const { return tls_ != nullptr; }
  const HttpLimits& limits() const { return limits_; }
  // Connections refused or cut by the limits (for a server's /metrics).
  struct Stats {
    uint64_t refused_full = 0;         // max_connections reached
    uint64_t refused_per_address = 0;  // max_per_address, or the reserve for other addresses
    uint64_t timed_out = 0;            // no request started in time, or idle
  };
  const Stats& stats() const { return stats_; }
  size_t connections() const { return conns_.size(); }
  void stop();

  struct Conn;  // one client connection (http_server.cpp)
  void dispatch(Conn* c, HttpRequest&& req, bool keep_alive);

 private:
  const AsyncHandler* find(const HttpRequest& req, int* status) const;
  void answer(Conn* c, uint64_t seq, HttpResponse r, bool keep_alive);
  void on_connection();
  bool admit(Conn* c);
  static void on_timer(uv_timer_t* t);  // a connection's deadline: first request, handshake, idle
  void start_reading(Conn* c);
  void on_read(Conn* c, ssize_t n);
  void on_written(Conn* c);
  void respond(Conn* c, const HttpResponse& r, bool keep_alive);
  void close(Conn* c);
  // TLS (http_server.cpp, its own section): the read and write paths' hooks.
  void start_tls(Conn* c);
  bool decrypt(Conn* c, size_t n, std::string* plain);
  void encrypt(Conn* c, std::string* bytes, bool close_after);
  void write_tls_output(Conn* c, bool close_after);

  uv_loop_t* loop_;
  HttpLimits limits_;
  std::unique_ptr<TcpListener> listener_;
  uv_stream_t* listener_stream_ = nullptr;
  int port_ = 0;
  std::map<std::pair<std::string, std::string>, AsyncHandler> routes_;
  std::set<Conn*> conns_;
  std::unordered_map<std::string, size_t> per_address_;  // connections by peer address
  Stats stats_;
  std::shared_ptr<TlsContext> tls_;
};

// Whether `req` may use an admin request (the name server's drain, a node's reload): with an
// admin token, it must carry `Authorization: Bearer <token>` (compared in constant time);
// without one, it must come from a loopback address. 0 when allowed, else the HTTP status to
// answer: 401 (no or a wrong token) or 403 (not from loopback).
int admin_refusal(const HttpRequest& req, const std::string& admin_token);

}  // namespace behavior
