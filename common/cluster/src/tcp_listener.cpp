// tcp_listener.cpp — see tcp_listener.h.
#include "behavior/tcp_listener.h"

namespace behavior {

Status TcpListener::listen(const std::string& host, int port, int backlog) {
  sockaddr_in addr{};
  if (uv_ip4_addr(host.c_str(), port, &addr) != 0) return Status::invalid_argument("bad host " + host);
  server_ = new uv_tcp_t();
  uv_tcp_init(loop_, server_);
  server_->data = this;
  int r = uv_tcp_bind(server_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (r == 0) {
    r = uv_listen(reinterpret_cast<uv_stream_t*>(server_), backlog, [](uv_stream_t* s, int status) {
      if (status == 0) static_cast<TcpListener*>(s->data)->on_connection_(s);
    });
  }
  if (r != 0) {
    close();
    return Status::unavailable("cannot listen on " + host + ":" + std::to_string(port) + ": " + uv_strerror(r));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(server_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return {};
}

void TcpListener::close() {
  if (!server_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(server_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  server_ = nullptr;
}

}  // namespace behavior
