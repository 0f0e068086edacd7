// game_client.cpp — see game_client.h. Plain blocking sockets with poll() for deadlines; with
// TLS the same socket carries a TlsStream's ciphertext (send_bytes / recv_some below).
#include "behavior/game_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "behavior/message.h"
#include <behavior/system.pb.h>

namespace behavior {
namespace {

using Clock = std::chrono::steady_clock;

uint32_t now32() {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
}

Result<int> dial(const std::string& address, Millis timeout, bool udp = false) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return Status::invalid_argument("address must be host:port: " + address);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(address.c_str() + colon + 1)));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &a.sin_addr) != 1) {
    return Status::invalid_argument("not an IPv4 address: " + address);
  }
  int fd = ::socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd < 0) return Status::unavailable(std::strerror(errno));
  if (udp) {  // connected: the kernel passes only the gateway's datagrams
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return Status::unavailable("cannot reach " + address);
    }
    return fd;
  }
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return Status::unavailable("cannot connect to " + address + ": " + why);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Waits for readable data until `deadline`; false on timeout.
bool wait_readable(int fd, Clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0)));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return true;  // let recv report it
  }
}

// Sends `data` on fd, through `tls` when set.
bool send_bytes(int fd, TlsStream* tls, std::string_view data) {
  if (!tls) return send_all(fd, data);
  if (!tls->write(data).ok()) return false;
  std::string wire;
  tls->take_output(&wire);
  return send_all(fd, wire);
}

enum class Got { kData, kTimeout, kClosed, kTlsError };

// Reads until some (plaintext) bytes arrive, appended to *out, or until `deadline`. With TLS
// a read may bring only part of a record (or a handshake message): it reads on.
Got recv_some(int fd, TlsStream* tls, Clock::time_point deadline, std::string* out) {
  const size_t before = out->size();
  char buf[64 * 1024];
  while (out->size() == before) {
    if (!wait_readable(fd, deadline)) return Got::kTimeout;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return Got::kClosed;
    if (!tls) {
      out->append(buf, static_cast<size_t>(n));
      break;
    }
    if (!tls->feed(buf, static_cast<size_t>(n), [out](const char* d, size_t len) { out->append(d, len); }).ok()) {
      return Got::kTlsError;
    }
    if (tls->output_size() > 0 && !send_bytes(fd, tls, "")) return Got::kClosed;  // handshake replies
  }
  return Got::kData;
}

// Runs the client's side of the TLS handshake on fd; plaintext that arrives with it (none
// in our protocols) would be kept in *early.
Status tls_handshake(int fd, TlsStream* tls, Clock::time_point deadline, std::string* early) {
  if (!send_bytes(fd, tls, "")) return Status::unavailable("TLS handshake: send failed");
  char buf[16 * 1024];
  while (!tls->handshake_done()) {
    if (!wait_readable(fd, deadline)) return Status::timeout("TLS handshake: no answer");
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return Status::unavailable("TLS handshake: the server closed the connection");
    Status s = tls->feed(buf, static_cast<size_t>(n), [early](const char* d, size_t len) { early->append(d, len); });
    if (!send_bytes(fd, tls, "") && s.ok()) return Status::unavailable("TLS handshake: send failed");
    if (!s.ok()) return s;
  }
  return {};
}

std::string host_of(const std::string& address) { return address.substr(0, address.rfind(':')); }

}  // namespace

Result<std::string> http_exchange(const std::string& host, int port, const std::string& request, Millis timeout,
                                  const TlsContext* tls) {
  const std::string where = host + ":" + std::to_string(port);
  Result<int> fd = dial(where, timeout);
  if (!fd.ok()) return fd.status();
  const auto deadline = Clock::now() + timeout;
  std::unique_ptr<TlsStream> stream;
  std::string all;
  if (tls) {
    stream = tls->new_stream(host);
    if (Status s = tls_handshake(*fd, stream.get(), deadline, &all); !s.ok()) {
      ::close(*fd);
      return Status::unavailable(where + ": " + s.message());
    }
  }
  if (send_bytes(*fd, stream.get(), request)) {
    while (recv_some(*fd, stream.get(), deadline, &all) == Got::kData) {
    }
  }
  ::close(*fd);
  return all;
}

Result<LoginResult> login(const std::string& host, int port, const std::string& user, const std::string& password,
                          Millis timeout, const TlsContext* tls) {
  // Written with RapidJSON, so quotes, backslashes and control characters in a name or a
  // password are escaped (never a malformed body, never an injected field).
  rapidjson::StringBuffer json;
  rapidjson::Writer<rapidjson::StringBuffer> w(json);
  w.StartObject();
  w.Key("user");
  w.String(user.data(), static_cast<rapidjson::SizeType>(user.size()));
  if (!password.empty()) {
    w.Key("password");
    w.String(password.data(), static_cast<rapidjson::SizeType>(password.size()));
  }
  w.EndObject();
  std::string body(json.GetString(), json.GetSize());
  std::string req = "POST /v1/login HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  Result<std::string> answer = http_exchange(host, port, req, timeout, tls);
  if (!answer.ok()) return answer.status();
  const std::string& all = *answer;
  auto sep = all.find("\r\n\r\n");
  if (all.compare(0, 9, "HTTP/1.1 ") != 0 || sep == std::string::npos) {
    return Status::unavailable("no answer from the name server");
  }
  int status = std::atoi(all.c_str() + 9);
  rapidjson::Document d;
  d.Parse(all.c_str() + sep + 4, all.size() - sep - 4);
  if (d.HasParseError() || !d.IsObject()) return Status::unavailable("the name server's answer is not JSON");
  if (status != 200) {
    std::string message = d.HasMember("message") && d["message"].IsString() ? d["message"].GetString() : "";
    Code code = status == 401 ? Code::kUnauthenticated : status == 400 ? Code::kInvalidArgument : Code::kUnavailable;
    return Status(code, std::to_string(status) + " " + message);
  }
  LoginResult r;
  auto str = [&](const rapidjson::Value& o, const char* k) {
    return o.HasMember(k) && o[k].IsString() ? std::string(o[k].GetString(), o[k].GetStringLength()) : std::string();
  };
  r.user = str(d, "user");
  r.ticket = str(d, "ticket");
  r.node = d.HasMember("node") && d["node"].IsUint() ? static_cast<uint16_t>(d["node"].GetUint()) : 0;
  r.expires_at = d.HasMember("expires_at") && d["expires_at"].IsInt64() ? d["expires_at"].GetInt64() : 0;
  if (d.HasMember("gateway") && d["gateway"].IsObject()) {
    const auto& g = d["gateway"];
    r.gateway_id = g.HasMember("id") && g["id"].IsUint() ? static_cast<uint16_t>(g["id"].GetUint()) : 0;
    r.gateway_tcp = str(g, "tcp");
    r.gateway_udp = str(g, "udp");
    r.gateway_ws = str(g, "ws");
    r.gateway_wss = str(g, "wss");
    r.gateway_tcps = str(g, "tcps");
  }
  if (r.ticket.empty()) return Status::unavailable("the name server's answer has no ticket");
  return r;
}

GameClient::GameClient(int fd, Transport transport)
    : fd_(fd), transport_(transport), tcp_(16u << 20), ws_(false, 16u << 20) {}

GameClient::~GameClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<GameClient>> GameClient::connect(Transport transport, const std::string& address,
                                                        Millis timeout, const TlsContext* tls) {
  if (tls && transport == Transport::kUdp) return Status::invalid_argument("no TLS over UDP");
  Result<int> fd = dial(address, timeout, transport == Transport::kUdp);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<GameClient> c(new GameClient(*fd, transport));
  const auto deadline = Clock::now() + timeout;
  std::string head;
  if (tls) {
    c->tls_ = tls->new_stream(host_of(address));
    if (Status s = tls_handshake(c->fd_, c->tls_.get(), deadline, &head); !s.ok()) {
      return Status(s.code(), "gateway " + address + ": " + s.message());
    }
  }
  if (transport != Transport::kWebSocket) return c;
  // The opening handshake (RFC 6455 §4.1).
  const std::string key = ws::new_client_key();
  std::string req = "GET / HTTP/1.1\r\nHost: " + address +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
                    key + "\r\n\r\n";
  if (!c->send_raw(req).ok()) return Status::unavailable("WebSocket handshake: send failed");
  size_t sep;
  while ((sep = head.find("\r\n\r\n")) == std::string::npos) {
    Got got = recv_some(c->fd_, c->tls_.get(), deadline, &head);
    if (got == Got::kTimeout) return Status::timeout("WebSocket handshake: no answer");
    if (got == Got::kTlsError) return Status::unavailable("WebSocket handshake: " + c->tls_->error().message());
    if (got != Got::kData) return Status::unavailable("WebSocket handshake: closed");
  }
  if (head.compare(0, 12, "HTTP/1.1 101") != 0) {
    return Status::unavailable("WebSocket handshake refused: " + head.substr(0, head.find("\r\n")));
  }
  if (head.find("Sec-WebSocket-Accept: " + ws::accept_key(key) + "\r\n") == std::string::npos) {
    return Status::unavailable("WebSocket handshake: wrong Sec-WebSocket-Accept");
  }
  std::string rest = head.substr(sep + 4);
  if (!rest.empty()) {
    Status s = c->ws_.feed(rest.data(), rest.size(), [&](ws::Opcode op, std::string_view payload) {
      uint32_t proto;
      std::string_view body;
      if (op == ws::Opcode::kBinary && split_client_payload(payload, &proto, &body)) {
        c->ready_.push_back({proto, std::string(body)});
      }
      return true;
    });
    if (!s.ok()) return s;
  }
  return c;
}

void GameClient::close() {
  if (fd_ < 0) return;
  if (!closed_) {
    if (transport_ == Transport::kUdp && kcp_) {
      kcp_->flush(now32());
      (void)send_raw(udp_control(kUdpBye, conv_, ""));
    } else if (transport_ == Transport::kWebSocket) {
      std::string close;
      ws::append_close(ws::kCloseNormal, "", true, &close);
      (void)send_raw(close);
    } else if (transport_ == Transport::kTcp) {
      if (tls_) {
        tls_->shutdown();
        (void)send_raw("");
      }
      ::shutdown(fd_, SHUT_WR);
    }
  }
  ::close(fd_);
  fd_ = -1;
  closed_ = true;
}

Status GameClient::send_raw(std::string_view bytes) {
  return send_bytes(fd_, tls_.get(), bytes) ? Status() : Status::unavailable("send failed: the connection is closed");
}

Status GameClient::send(uint32_t proto_id, std::string_view body) {
  std::string frame;
  append_client_frame(proto_id, body, &frame);
  if (transport_ == Transport::kTcp) return send_raw(frame);
  if (transport_ == Transport::kUdp) {
    if (!kcp_) return Status::invalid_argument("authenticate first");
    if (closed_) return Status::unavailable("closed by the gateway");
    if (Status s = kcp_->send(std::string_view(frame).substr(4)); !s.ok()) return s;
    kcp_->flush(now32());
    return {};
  }
  std::string out;
  ws::append_frame(ws::Opcode::kBinary, std::string_view(frame).substr(4), true, &out);
  return send_raw(out);
}

Status GameClient::send_unreliable(uint32_t proto_id, std::string_view body) {
  if (transport_ != Transport::kUdp) return send(proto_id, body);
  if (!kcp_) return Status::invalid_argument("authenticate first");
  std::string frame;
  append_client_frame(proto_id, body, &frame);
  return send_raw(udp_control(kUdpData, conv_, std::string_view(frame).substr(4)));
}

// UDP: waits for datagrams (or the next KCP update), feeds them to the session.
Status GameClient::fill_udp(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (ready_.empty() && !closed_) {
    const uint32_t now = now32();
    kcp_->update(now);
    if (kcp_->dead() || (kcp_->waiting_to_send() > 0 && Clock::now() - heard_at_ > Millis(kUdpSilenceMs))) {
      closed_ = true;  // the gateway is gone (see heard_at_)
      return Status::unavailable("closed: the gateway stopped answering over UDP");
    }
    auto until_update = Millis(static_cast<int32_t>(kcp_->next_update(now) - now));
    auto wait = std::min(std::chrono::duration_cast<Millis>(deadline - Clock::now()), std::max(until_update, Millis(1)));
    if (wait.count() < 0) wait = Millis(0);
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (r > 0) {
      char buf[64 * 1024];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        heard_at_ = Clock::now();
        std::string_view d(buf, static_cast<size_t>(n));
        uint32_t conv = 0;
        uint8_t type;
        std::string_view rest;
        if (Kcp::peek_conv(d, &conv) && conv == 0) {
          if (parse_udp_control(d, true, &type, &conv, &rest) && conv == conv_) {
            uint32_t proto;
            std::string_view body;
            if (type == kUdpData && split_client_payload(rest, &proto, &body)) ready_.push_back({proto, std::string(body)});
            if (type == kUdpBye) closed_ = true;
          }
        } else if (kcp_->input(d, now32()).ok()) {
          std::string message;
          while (kcp_->receive(&message)) {
            uint32_t proto;
            std::string_view body;
            if (split_client_payload(message, &proto, &body)) ready_.push_back({proto, std::string(body)});
          }
          kcp_->flush(now32());  // acknowledge at once
        }
      }
    }
    if (Clock::now() >= deadline) break;
  }
  if (!ready_.empty()) return {};
  if (closed_) return Status::unavailable("closed by the gateway");
  return Status::timeout("no frame within " + std::to_string(timeout.count()) + " ms");
}

Result<std::string> GameClient::auth_udp(const std::string& ticket, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string hello = udp_control(kUdpAuth, 0, ticket);
  while (Clock::now() < deadline) {
    if (Status s = send_raw(hello); !s.ok()) return s;  // resent until answered: datagrams get lost
    const auto resend = std::min(deadline, Clock::now() + Millis(200));
    while (wait_readable(fd_, resend)) {
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      std::string_view d(buf, static_cast<size_t>(n));
      uint8_t type;
      uint32_t conv;
      std::string_view rest;
      if (d.size() >= 5 && static_cast<uint8_t>(d[4]) == kUdpError && parse_udp_control(d, false, &type, &conv, &rest)) {
        pb::ErrorFrame e;
        e.ParseFromArray(rest.data(), static_cast<int>(rest.size()));
        return Status(Code::kUnauthenticated, std::to_string(e.code()) + " " + e.message());
      }
      if (parse_udp_control(d, true, &type, &conv, &rest) && type == kUdpAuth && conv != 0) {
        conv_ = conv;
        kcp_ = std::make_unique<Kcp>(conv, [this](std::string_view datagram) { send_raw(datagram); });
        heard_at_ = Clock::now();
        kcp_->set_nodelay(true, 10, 2, true);
        kcp_->set_windows(256, 256);
        (void)kcp_->set_mtu(1200);
        return std::string(rest);
      }
    }
  }
  return Status::timeout("no answer to AUTH over UDP");
}

Status GameClient::fill(Millis timeout) {
  if (closed_) return Status::unavailable("closed by the gateway");
  if (transport_ == Transport::kUdp) {
    if (!kcp_) return Status::invalid_argument("authenticate first");
    return fill_udp(timeout);
  }
  std::string data;
  switch (recv_some(fd_, tls_.get(), Clock::now() + timeout, &data)) {
    case Got::kData: break;
    case Got::kTimeout: return Status::timeout("no frame within " + std::to_string(timeout.count()) + " ms");
    case Got::kClosed:
      closed_ = true;
      return Status::unavailable("closed by the gateway");
    case Got::kTlsError:
      closed_ = true;
      return Status::unavailable("closed: " + tls_->error().message());
  }
  const char* buf = data.data();
  const size_t n = data.size();
  if (transport_ == Transport::kTcp) {
    return tcp_.feed(buf, static_cast<size_t>(n), [this](uint32_t proto, std::string_view body) {
      ready_.push_back({proto, std::string(body)});
      return true;
    });
  }
  return ws_.feed(buf, static_cast<size_t>(n), [this](ws::Opcode op, std::string_view payload) {
    uint32_t proto;
    std::string_view body;
    if (op == ws::Opcode::kBinary && split_client_payload(payload, &proto, &body)) {
      ready_.push_back({proto, std::string(body)});
    } else if (op == ws::Opcode::kPing) {
      std::string pong;
      ws::append_frame(ws::Opcode::kPong, payload, true, &pong);
      send_raw(pong);
    } else if (op == ws::Opcode::kClose) {
      close_code_ = payload.size() >= 2 ? static_cast<uint16_t>((uint8_t(payload[0]) << 8) | uint8_t(payload[1])) : 1005;
      closed_ = true;
    }
    return true;
  });
}

Result<ClientFrame> GameClient::receive(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (ready_.empty()) {
    if (fd_ < 0) return Status::unavailable("closed");
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() < 0) left = Millis(0);
    Status s = fill(left);
    if (!s.ok() && ready_.empty()) return s;
  }
  ClientFrame f = std::move(ready_.front());
  ready_.pop_front();
  if (f.proto_id == kReconnectFrame) {
    reconnect_requested_ = true;
    reconnect_reason_ = f.body;
  }
  return f;
}

static_assert(GameClient::kReconnectFrame == proto::kReconnect);

Result<std::string> GameClient::auth(const std::string& ticket, Millis timeout) {
  if (transport_ == Transport::kUdp) return auth_udp(ticket, timeout);
  if (Status s = send(proto::kAuth, ticket); !s.ok()) return s;
  Result<ClientFrame> f = receive(timeout);
  if (!f.ok()) return f.status();
  if (f->proto_id == proto::kAuth) return f->body;
  if (f->proto_id == proto::kError) {
    pb::ErrorFrame e;
    e.ParseFromString(f->body);
    return Status(Code::kUnauthenticated, std::to_string(e.code()) + " " + e.message());
  }
  return Status::invalid_argument("unexpected frame " + std::to_string(f->proto_id) + " instead of AUTH");
}

}  // namespace behavior
