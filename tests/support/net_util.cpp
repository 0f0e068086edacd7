// net_util.cpp — see net_util.h.
#include "net_util.h"

#include "local_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

namespace behavior::testing {

int free_port() { return tools::LocalCluster::free_port(); }

int tcp_connect(int port, const std::string& from) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (!from.empty()) {  // another loopback source address (127.0.0.0/8): another client
    sockaddr_in src{};
    src.sin_family = AF_INET;
    if (::inet_pton(AF_INET, from.c_str(), &src.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool recv_exact(int fd, size_t n, std::string* out) {
  out->clear();
  char buf[4096];
  while (out->size() < n) {
    ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out->size()), 0);
    if (r <= 0) return false;
    out->append(buf, static_cast<size_t>(r));
  }
  return true;
}

bool closed_by_peer(int fd) {
  char buf[256];
  while (true) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r == 0) return true;
    if (r < 0) return errno == ECONNRESET;
  }
}

std::string http_get(int port, const std::string& path) {
  int fd = tcp_connect(port);
  if (fd < 0) return "";
  send_all(fd, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  std::string all;
  char buf[4096];
  ssize_t r;
  while ((r = ::recv(fd, buf, sizeof buf, 0)) > 0) all.append(buf, static_cast<size_t>(r));
  ::close(fd);
  auto sep = all.find("\r\n\r\n");
  return sep == std::string::npos ? "" : all.substr(sep + 4);
}

HttpClient::~HttpClient() {
  if (fd_ >= 0) ::close(fd_);
}

HttpReply HttpClient::request(const std::string& method, const std::string& path, const std::string& body,
                              const std::string& extra_headers) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
  if (!body.empty() || method == "POST") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  if (fd_ < 0 || !send_all(fd_, req)) return {};
  return read_reply();
}

HttpReply HttpClient::read_reply() {
  HttpReply out;
  char chunk[16384];
  auto fill = [&]() {
    ssize_t r = ::recv(fd_, chunk, sizeof chunk, 0);
    if (r <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(r));
    return true;
  };
  size_t sep;
  while ((sep = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (fd_ < 0 || !fill()) return out;
  }
  std::string head = buf_.substr(0, sep);
  size_t length = 0;
  std::string lower;
  for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto cl = lower.find("content-length:"); cl != std::string::npos) {
    length = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
  }
  while (buf_.size() < sep + 4 + length) {
    if (!fill()) return out;
  }
  out.status = std::atoi(head.c_str() + head.find(' ') + 1);
  out.headers = head;
  out.body = buf_.substr(sep + 4, length);
  buf_.erase(0, sep + 4 + length);
  return out;
}

}  // namespace behavior::testing
