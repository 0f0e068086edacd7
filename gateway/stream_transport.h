// stream_transport.h — the TCP socket under the TCP and WebSocket transports (transport.h).
// StreamTransport reads into its loop's one buffer and writes what its connection gathered
// during a loop callback once, at the callback's end (one system call for many frames); it
// bounds what waits for a client that does not read, and closes politely (what is queued
// first, then shutdown). With start_tls() the bytes pass through a TlsStream: what is read is
// decrypted before on_bytes, what the connection gathered is encrypted at the flush (the
// output bound counts ciphertext). TcpTransport decodes length-prefixed client frames;
// WsTransport speaks WebSocket (upgrade, binary messages, ping, the closing handshake).
#pragma once

#include <behavior/client_frame.h>
#include <behavior/http_request_parser.h>
#include <behavior/tls.h>
#include <behavior/websocket.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway_stats.h"
#include "transport.h"

namespace behavior::gateway {

class StreamTransport : public Transport {
 public:
  // What every stream connection of one loop shares.
  struct Shared {
    uv_loop_t* loop = nullptr;
    GatewayStats* stats = nullptr;
    size_t max_output_bytes = 0;
    size_t max_frame = 0;
    std::function<void()> after_read;  // the end of a read callback (the gateway's flush)
    std::vector<StreamTransport*> dirty;  // connections with output gathered
    char read_buf[64 * 1024];
    // Writes what every connection gathered (the end of each loop callback).
    void flush();
  };

  // Accepts the next connection of `server` and starts reading; false (and the transport
  // frees itself) if the accept failed.
  bool accept(uv_stream_t* server);
  // The client's address as a key (IPv4: the address; IPv6: its /64 prefix, what one
  // subscriber usually holds); 0 when unknown.
  uint64_t peer_key() const;
  // Before accept(): the connection speaks TLS through `tls` (a server stream).
  void start_tls(std::unique_ptr<TlsStream> tls) { tls_ = std::move(tls); }

  // The socket's reads (read_stream.h).
  uv_buf_t read_buffer();
  void on_read(const char* data, ssize_t n);

  void close_after_write(CloseReason why, uint16_t ws_code) final;
  void close(CloseReason why) final;

 protected:
  explicit StreamTransport(Shared& shared) : shared_(shared) {}
  ~StreamTransport() override = default;

  // Bytes read from the client.
  virtual void on_bytes(const char* data, size_t n) = 0;
  // Last output before a polite close (WebSocket: the close frame).
  virtual void before_close(CloseReason, uint16_t /*ws_code*/) {}

  // Output, written at the end of the loop callback.
  void queue(std::string_view bytes);
  std::string* output();  // append in place (no temporary per frame); nullptr once closing
  bool closing() const { return closing_; }

  Shared& shared_;

 private:
  void flush_out();
  bool try_write(std::string* bytes);
  void write_now(std::string bytes, bool tried);
  void fail(CloseReason why, int uv_error);  // the socket failed: close, tell the user
  // TLS: decrypt what was read into on_bytes; false when the session failed (closed).
  bool decrypt(const char* data, size_t n);
  void encrypt_output();  // out_: the plaintext gathered → its ciphertext

  std::unique_ptr<TlsStream> tls_;
  uv_tcp_t tcp_{};
  std::string out_;       // gathered during this callback
  bool dirty_ = false;    // in shared_.dirty
  bool closing_ = false;  // no more output: a polite close started, or closed
  bool closed_ = false;   // the handle is closing; freed by its close callback
  CloseReason why_ = CloseReason::kClientLeft;
  static constexpr size_t kKeptOutput = 4096;  // out_'s buffer kept between flushes
};

class TcpTransport final : public StreamTransport {
 public:
  explicit TcpTransport(Shared& shared) : StreamTransport(shared), decoder_(shared.max_frame) {}
  TransportKind kind() const override { return TransportKind::kTcp; }
  void write_frame(uint32_t proto, std::string_view body, bool unreliable) override;
  void write_auth_ok(const std::string& pid) override;

 private:
  void on_bytes(const char* data, size_t n) override;
  ClientFrameDecoder decoder_;
};

class WsTransport final : public StreamTransport {
 public:
  explicit WsTransport(Shared& shared);
  TransportKind kind() const override { return TransportKind::kWebSocket; }
  void write_frame(uint32_t proto, std::string_view body, bool unreliable) override;
  void write_auth_ok(const std::string& pid) override;

 private:
  void on_bytes(const char* data, size_t n) override;
  void on_upgrade(const char* data, size_t n);
  void before_close(CloseReason why, uint16_t ws_code) override;
  // The protocol ends the connection: the client's close frame, or a protocol error.
  void end(CloseReason why, uint16_t ws_code, const std::string& reason);

  HttpRequestParser upgrade_;
  ws::FrameDecoder frames_;
  bool open_ = false;        // the 101 was sent
  bool close_sent_ = false;  // our close frame is queued: nothing may follow it
  std::string close_reason_;  // a protocol error's text, for our close frame
};

}  // namespace behavior::gateway
