// http_types.h — what the HTTP server and its parser exchange: a request, a response, and
// the hard limits every connection is held to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace behavior {

struct HttpRequest {
  std::string method;
  std::string path;   // without the query string
  std::string query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string peer_ip;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

struct HttpLimits {
  size_t max_header_bytes = 8 * 1024;
  size_t max_body_bytes = 64 * 1024;
  uint64_t idle_timeout_ms = 10000;
  // A new connection must start its first request this soon (a connection that only holds a
  // slot is cut sooner than an idle keep-alive one).
  uint64_t first_request_timeout_ms = 3000;
  size_t max_connections = 10000;
  // Connections one address may hold, and slots kept for other addresses: once fewer than
  // reserved_connections are free, an address that already holds one gets no more.
  size_t max_per_address = 256;
  size_t reserved_connections = 256;
  // Answers queued for a client that does not read them. Past pause_output_bytes the server
  // stops reading that connection's requests until the queue drains; past max_output_bytes
  // (requests pipelined in one read can still add answers) the connection is cut. One
  // answer alone may be larger: it is written as fast as the client takes it.
  size_t pause_output_bytes = 64 * 1024;
  size_t max_output_bytes = 1024 * 1024;
  // HTTPS: a connection must finish its TLS handshake this soon after it was accepted.
  uint64_t tls_handshake_timeout_ms = 5000;
};

}  // namespace behavior
