// tcp_listener.h — a listening TCP socket on a libuv loop, shared by the s2s port and the
// HTTP servers: binds host:port (0 = a free port), reports the port it got, hands each
// pending connection to a callback (which uv_accept()s it), and closes cleanly.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "behavior/status.h"

namespace behavior {

class TcpListener {
 public:
  using OnConnection = std::function<void(uv_stream_t* server)>;
  TcpListener(uv_loop_t* loop, OnConnection on_connection)
      : loop_(loop), on_connection_(std::move(on_connection)) {}
  ~TcpListener() { close(); }
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  Status listen(const std::string& host, int port, int backlog);
  int port() const { return port_; }
  void close();

 private:
  uv_loop_t* loop_;
  OnConnection on_connection_;
  uv_tcp_t* server_ = nullptr;  // freed by its close callback
  int port_ = 0;
};

}  // namespace behavior
