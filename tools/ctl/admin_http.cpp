// admin_http.cpp — see admin_http.h. Plain POSIX sockets with poll() deadlines; the answer
// is read to EOF (Connection: close) and framed by Content-Length when there is one. With
// TLS the socket carries a TlsStream's output, and what is read goes through it.
#include "admin_http.h"

#include <netdb.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace behavior::ctl {
namespace {

using Clock = std::chrono::steady_clock;

int left_ms(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<int64_t>(ms, 0));
}

struct Url {
  bool https = false;
  std::string host;
  int port = 80;
  std::string base;  // path prefix without the trailing '/'
};

Result<Url> parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    u.https = true;
    u.port = 443;
  } else {
    return Status::invalid_argument("the name server URL must start with http:// or https:// (got '" + url + "')");
  }
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    u.base = rest.substr(slash);
    rest.resize(slash);
    while (!u.base.empty() && u.base.back() == '/') u.base.pop_back();
  }
  auto colon = rest.rfind(':');
  if (colon != std::string::npos) {
    char* end = nullptr;
    long port = std::strtol(rest.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535) return Status::invalid_argument("bad port in URL '" + url + "'");
    u.port = static_cast<int>(port);
    rest.resize(colon);
  }
  if (rest.empty()) return Status::invalid_argument("no host in URL '" + url + "'");
  u.host = rest;
  return u;
}

}  // namespace

Result<int> dial_tcp(const std::string& host, int port, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string where = host + ":" + std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0 || !found) {
    return Status::unavailable("cannot resolve " + where + ": " + gai_strerror(rc));
  }
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(found);
    return Status::unavailable(std::string("socket: ") + std::strerror(errno));
  }
  int rc = ::connect(fd, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (rc != 0 && errno != EINPROGRESS) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return Status::unavailable("cannot connect to " + where + ": " + why);
  }
  if (rc != 0) {
    pollfd p{fd, POLLOUT, 0};
    int ready;
    while ((ready = ::poll(&p, 1, left_ms(deadline))) < 0 && errno == EINTR) {
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (ready <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      std::string why = ready == 0 ? "timed out" : std::strerror(err ? err : errno);
      ::close(fd);
      return Status::unavailable("cannot connect to " + where + ": " + why);
    }
  }
  return fd;
}

Result<HttpAnswer> http_request(const std::string& url, const std::string& method, const std::string& path,
                                const std::string& bearer_token, Millis timeout, const TlsContext* tls) {
  Result<Url> u = parse_url(url);
  if (!u.ok()) return u.status();
  std::shared_ptr<TlsContext> system_trust;
  if (u->https && !tls) {
    auto ctx = TlsContext::client("", false);
    if (!ctx.ok()) return ctx.status();
    system_trust = *ctx;
    tls = system_trust.get();
  }
  const auto deadline = Clock::now() + timeout;
  Result<int> fd = dial_tcp(u->host, u->port, timeout);
  if (!fd.ok()) return Status::unavailable("name server: " + fd.status().message());
  std::string req = method + " " + u->base + path + " HTTP/1.1\r\nHost: " + u->host + ":" + std::to_string(u->port) +
                    "\r\nContent-Length: 0\r\nConnection: close\r\n";
  if (!bearer_token.empty()) req += "Authorization: Bearer " + bearer_token + "\r\n";
  req += "\r\n";
  std::unique_ptr<TlsStream> stream;
  std::string out;  // bytes for the socket
  if (u->https) {
    stream = tls->new_stream(u->host);
    (void)stream->write(req);  // leaves once the handshake is done
  } else {
    out = req;
  }
  std::string in;
  Status failure;
  // One loop for both directions: with TLS the handshake goes back and forth before the request.
  while (failure.ok()) {
    if (stream) stream->take_output(&out);
    pollfd p{*fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
    int ready = ::poll(&p, 1, left_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      failure = Status::timeout("the name server did not answer within " + std::to_string(timeout.count()) + " ms");
      break;
    }
    if (p.revents & POLLOUT) {
      ssize_t n = ::send(*fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        failure = Status::unavailable(std::string("sending to the name server: ") + std::strerror(errno));
        break;
      }
      out.erase(0, static_cast<size_t>(n));
    }
    if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[4096];
    ssize_t n = ::recv(*fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // EOF (or reset): what came is the answer
    if (!stream) {
      in.append(buf, static_cast<size_t>(n));
    } else if (Status s = stream->feed(buf, static_cast<size_t>(n), [&in](const char* d, size_t len) { in.append(d, len); });
               !s.ok()) {
      failure = Status::unavailable("the name server at " + url + ": " + s.message());
    }
  }
  ::close(*fd);
  if (!failure.ok()) return failure;
  const auto head_end = in.find("\r\n\r\n");
  if (!in.starts_with("HTTP/1.") || in.size() < 12 || head_end == std::string::npos) {
    return Status::unavailable("the name server at " + url + " did not answer HTTP");
  }
  HttpAnswer a;
  a.status = std::atoi(in.c_str() + 9);
  a.body = in.substr(head_end + 4);
  return a;
}

Status set_drain(const std::string& url, uint16_t node, bool on, const std::string& admin_token, Millis timeout,
                 const TlsContext* tls) {
  Result<HttpAnswer> a = http_request(url, on ? "POST" : "DELETE", "/v1/nodes/" + std::to_string(node) + "/drain",
                                      admin_token, timeout, tls);
  if (!a.ok()) return a.status();
  if (a->status == 200) return {};
  std::string message;
  rapidjson::Document d;
  d.Parse(a->body.c_str(), a->body.size());
  if (!d.HasParseError() && d.IsObject() && d.HasMember("message") && d["message"].IsString()) {
    message = d["message"].GetString();
  } else {
    message = a->body.substr(0, 200);
  }
  const std::string text = "the name server answered " + std::to_string(a->status) + ": " + message;
  if (a->status == 401 || a->status == 403) {
    return Status::unauthenticated(text + (admin_token.empty() ? " (set BEHAVIOR_ADMIN_TOKEN or --admin-token)" : ""));
  }
  if (a->status == 404) return Status::not_found(text);
  return Status::unavailable(text);
}

}  // namespace behavior::ctl
