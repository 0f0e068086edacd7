// tls.h — TLS for our sockets, on OpenSSL, without letting OpenSSL near a socket. Every
// server here already owns its libuv reads and writes (bounds, batching, timeouts), so TLS
// is a pure transformation between two byte streams: TlsStream is an SSL object over two
// memory BIOs. Ciphertext read from the socket goes into feed(), plaintext comes out of the
// callback; plaintext to send goes into write(), and take_output() hands the ciphertext to
// write on the socket. TlsContext holds the certificate and key (server) or the trust
// anchors (client); a server's context can be reloaded (SIGHUP) while connections use it:
// each new stream takes the context current at its creation, old streams keep theirs.
// TLS 1.2 and later only.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "behavior/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace behavior {

class TlsStream;

class TlsContext {
 public:
  // A server's context: the PEM certificate chain (the leaf first) and the PEM private key.
  // An error names the file that could not be used and why.
  static Result<std::shared_ptr<TlsContext>> server(std::string cert_file, std::string key_file);
  // A client's context. ca_file: PEM trust anchors (empty: the system's store). insecure:
  // no verification at all (a self-signed pair on one's own machine; never in production).
  static Result<std::shared_ptr<TlsContext>> client(const std::string& ca_file, bool insecure);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Server: reads the certificate and key files again. On any error the current pair stays
  // in use and the Status names the file. Any thread.
  Status reload();

  // A stream for one connection. Client: server_name is checked against the certificate
  // (unless insecure) and sent as SNI; the ClientHello is ready in take_output() at once.
  std::unique_ptr<TlsStream> new_stream(const std::string& server_name = "") const;

  bool is_server() const { return server_; }
  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }

 private:
  TlsContext(bool server, bool insecure) : server_(server), insecure_(insecure) {}

  bool server_;
  bool insecure_;
  std::string cert_file_, key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_;  // swapped by reload(); streams hold their own reference
};

class TlsStream {
 public:
  using OnPlain = std::function<void(const char* data, size_t n)>;

  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Ciphertext from the peer. Decrypted application data goes to on_plain (possibly in
  // several pieces). An error (not TLS, a failed handshake, a bad record) ends the stream:
  // every later call fails too; take_output() may still hold an alert for the peer.
  Status feed(const char* data, size_t n, const OnPlain& on_plain);
  // Plaintext to send. Before the handshake is done it waits, then leaves in order.
  Status write(std::string_view plain);
  // Appends the ciphertext waiting for the socket to *out.
  void take_output(std::string* out);
  size_t output_size() const;
  // Queues a close_notify alert (a polite end; take_output() then holds it).
  void shutdown();

  bool handshake_done() const { return handshake_done_; }
  bool failed() const { return !error_.ok(); }
  const Status& error() const { return error_; }

 private:
  friend class TlsContext;
  TlsStream(std::shared_ptr<SSL_CTX> ctx, bool server, const std::string& server_name, bool verify_name);
  Status advance_handshake();
  Status flush_pending();
  Status fail(const std::string& what, int ssl_result);

  std::shared_ptr<SSL_CTX> ctx_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // ciphertext from the peer (owned by ssl_)
  BIO* out_ = nullptr;  // ciphertext for the peer (owned by ssl_)
  bool handshake_done_ = false;
  std::string pending_;  // plaintext written before the handshake finished
  Status error_;
};

// Writes a fresh self-signed certificate (EC P-256, valid `days`) and its key as PEM files,
// with each of `hosts` as a subject alternative name (IP addresses as IP entries): a pair
// for local use (tools/launch --tls, tests), where the certificate is also the client's CA
// file. The key file is written with mode 0600.
Status write_self_signed_pair(const std::string& cert_file, const std::string& key_file,
                              const std::vector<std::string>& hosts, int days = 30);

}  // namespace behavior
