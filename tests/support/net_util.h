// net_util.h — small blocking socket helpers for tests: free ports, raw TCP to a server,
// and a plain HTTP GET.
#pragma once

#include <string>

namespace behavior::testing {

// A free TCP port on 127.0.0.1 (bound, read, released).
int free_port();
// A connected blocking socket to 127.0.0.1:port (receive timeout 5 s), or -1; `from` binds
// the client's end to another loopback address ("127.0.0.2") to play another client.
int tcp_connect(int port, const std::string& from = "");
bool send_all(int fd, const std::string& data);
// Reads exactly n bytes (false on EOF, error or timeout).
bool recv_exact(int fd, size_t n, std::string* out);
// True when the peer closed the connection (EOF or reset) within the receive timeout.
bool closed_by_peer(int fd);
// GET http://127.0.0.1:port/path; returns the body ("" on failure).
std::string http_get(int port, const std::string& path);

struct HttpReply {
  int status = 0;  // 0: no (complete) response
  std::string headers;
  std::string body;
};

// One keep-alive HTTP/1.1 connection to 127.0.0.1:port, one request at a time (or raw bytes
// through fd() followed by read_reply(), for pipelining and malformed input).
class HttpClient {
 public:
  explicit HttpClient(int port, const std::string& from = "") : fd_(tcp_connect(port, from)) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  HttpReply request(const std::string& method, const std::string& path, const std::string& body = "",
                    const std::string& extra_headers = "");
  // Reads one response (Content-Length framed).
  HttpReply read_reply();

 private:
  int fd_;
  std::string buf_;
};

}  // namespace behavior::testing
