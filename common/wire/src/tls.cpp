// tls.cpp — see tls.h. OpenSSL reports errors on a per-thread queue: every operation here
// clears it first and turns what it left into one Status message, naming the file or the
// phase (handshake, record) that failed, so an operator reads "cert.pem: no start line"
// rather than an error code.
#include "behavior/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace behavior {
namespace {

// The first reason OpenSSL queued (the root cause), or `fallback`.
std::string openssl_reason(const char* fallback) {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return fallback;
  const char* reason = ERR_reason_error_string(first);
  if (reason) return reason;
  char buf[256];
  ERR_error_string_n(first, buf, sizeof buf);
  return buf;
}

// A file we cannot even open gets errno's words, clearer than OpenSSL's "system lib".
Status check_readable(const std::string& what, const std::string& file) {
  if (file.empty()) return Status::invalid_argument("no " + what + " file given");
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return Status::invalid_argument(what + " file " + file + ": " + std::strerror(errno));
  std::fclose(f);
  return {};
}

std::shared_ptr<SSL_CTX> new_ctx(bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Many idle game connections: give their read/write buffers back between records.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  return std::shared_ptr<SSL_CTX>(ctx, SSL_CTX_free);
}

Result<std::shared_ptr<SSL_CTX>> load_server_ctx(const std::string& cert_file, const std::string& key_file) {
  if (Status s = check_readable("certificate", cert_file); !s.ok()) return s;
  if (Status s = check_readable("key", key_file); !s.ok()) return s;
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx = new_ctx(true);
  if (!ctx) return Status::internal("SSL_CTX_new: " + openssl_reason("out of memory"));
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    return Status::invalid_argument("certificate file " + cert_file + ": " + openssl_reason("not a PEM certificate"));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::string reason = openssl_reason("not a PEM private key");
    if (reason.find("mismatch") != std::string::npos) {  // a key, but another certificate's
      return Status::invalid_argument("key file " + key_file + " does not match certificate file " + cert_file);
    }
    return Status::invalid_argument("key file " + key_file + ": " + reason);
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Status::invalid_argument("key file " + key_file + " does not match certificate file " + cert_file + ": " +
                                    openssl_reason("mismatch"));
  }
  return ctx;
}

std::string random_serial() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[0] &= 0x7f;  // positive
  return std::string(reinterpret_cast<char*>(b), sizeof b);
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// TlsContext

Result<std::shared_ptr<TlsContext>> TlsContext::server(std::string cert_file, std::string key_file) {
  Result<std::shared_ptr<SSL_CTX>> ctx = load_server_ctx(cert_file, key_file);
  if (!ctx.ok()) return ctx.status();
  std::shared_ptr<TlsContext> c(new TlsContext(true, false));
  c->cert_file_ = std::move(cert_file);
  c->key_file_ = std::move(key_file);
  c->ctx_ = std::move(*ctx);
  return c;
}

Result<std::shared_ptr<TlsContext>> TlsContext::client(const std::string& ca_file, bool insecure) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx = new_ctx(false);
  if (!ctx) return Status::internal("SSL_CTX_new: " + openssl_reason("out of memory"));
  if (insecure) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!ca_file.empty()) {
      if (Status s = check_readable("CA", ca_file); !s.ok()) return s;
      if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
        return Status::invalid_argument("CA file " + ca_file + ": " + openssl_reason("no PEM certificate in it"));
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return Status::internal("the system's CA store: " + openssl_reason("cannot load"));
    }
  }
  std::shared_ptr<TlsContext> c(new TlsContext(false, insecure));
  c->cert_file_ = ca_file;
  c->ctx_ = std::move(ctx);
  return c;
}

TlsContext::~TlsContext() = default;

Status TlsContext::reload() {
  if (!server_) return Status::invalid_argument("only a server's TLS context is reloaded");
  Result<std::shared_ptr<SSL_CTX>> ctx = load_server_ctx(cert_file_, key_file_);
  if (!ctx.ok()) return ctx.status();
  std::lock_guard<std::mutex> lock(mu_);
  ctx_ = std::move(*ctx);
  return {};
}

std::unique_ptr<TlsStream> TlsContext::new_stream(const std::string& server_name) const {
  std::shared_ptr<SSL_CTX> ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ctx = ctx_;
  }
  return std::unique_ptr<TlsStream>(new TlsStream(std::move(ctx), server_, server_name, !insecure_));
}

// ---------------------------------------------------------------------------------------
// TlsStream

TlsStream::TlsStream(std::shared_ptr<SSL_CTX> ctx, bool server, const std::string& server_name, bool verify_name)
    : ctx_(std::move(ctx)) {
  ERR_clear_error();
  ssl_ = SSL_new(ctx_.get());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !in_ || !out_) {
    if (in_) BIO_free(in_);
    if (out_) BIO_free(out_);
    in_ = out_ = nullptr;
    error_ = Status::internal("TLS: " + openssl_reason("out of memory"));
    return;
  }
  BIO_set_mem_eof_return(in_, -1);  // an empty input means "wait for more", not end of stream
  SSL_set_bio(ssl_, in_, out_);     // ssl_ owns both now
  if (server) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (!server_name.empty()) {
    if (is_ip_literal(server_name)) {
      if (verify_name) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), server_name.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_, server_name.c_str());
      if (verify_name) SSL_set1_host(ssl_, server_name.c_str());
    }
  }
  advance_handshake();  // the ClientHello
}

TlsStream::~TlsStream() {
  if (ssl_) SSL_free(ssl_);
}

Status TlsStream::fail(const std::string& what, int ssl_result) {
  int code = SSL_get_error(ssl_, ssl_result);
  std::string reason;
  if (code == SSL_ERROR_SSL) {
    reason = openssl_reason("protocol error");
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) reason += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
  } else if (code == SSL_ERROR_ZERO_RETURN) {
    reason = "the peer closed the TLS session";
  } else {
    reason = openssl_reason("unexpected end of the TLS stream");
  }
  error_ = Status::unavailable(what + ": " + reason);
  return error_;
}

Status TlsStream::advance_handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    return flush_pending();
  }
  int code = SSL_get_error(ssl_, r);
  if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return {};
  return fail("TLS handshake failed", r);
}

Status TlsStream::flush_pending() {
  if (pending_.empty()) return {};
  std::string plain;
  plain.swap(pending_);
  return write(plain);
}

Status TlsStream::feed(const char* data, size_t n, const OnPlain& on_plain) {
  if (!error_.ok()) return error_;
  if (n > 0 && BIO_write(in_, data, static_cast<int>(n)) != static_cast<int>(n)) {
    error_ = Status::internal("TLS: cannot buffer input");
    return error_;
  }
  if (!handshake_done_) {
    if (Status s = advance_handshake(); !s.ok() || !handshake_done_) return s;
  }
  char plain[16 * 1024];
  for (;;) {
    ERR_clear_error();
    int r = SSL_read(ssl_, plain, sizeof plain);
    if (r > 0) {
      on_plain(plain, static_cast<size_t>(r));
      if (!error_.ok()) return error_;
      continue;
    }
    int code = SSL_get_error(ssl_, r);
    if (code == SSL_ERROR_WANT_READ) return {};
    if (code == SSL_ERROR_ZERO_RETURN) return {};  // close_notify: the socket's end follows
    return fail("TLS record error", r);
  }
}

Status TlsStream::write(std::string_view plain) {
  if (!error_.ok()) return error_;
  if (plain.empty()) return {};
  if (!handshake_done_) {
    pending_.append(plain);
    return {};
  }
  while (!plain.empty()) {
    ERR_clear_error();
    int r = SSL_write(ssl_, plain.data(), static_cast<int>(std::min<size_t>(plain.size(), 1u << 30)));
    if (r <= 0) return fail("TLS write failed", r);
    plain.remove_prefix(static_cast<size_t>(r));
  }
  return {};
}

size_t TlsStream::output_size() const { return out_ ? BIO_ctrl_pending(out_) : 0; }

void TlsStream::take_output(std::string* out) {
  size_t n = output_size();
  if (n == 0) return;
  size_t at = out->size();
  out->resize(at + n);
  int r = BIO_read(out_, out->data() + at, static_cast<int>(n));
  out->resize(at + static_cast<size_t>(r > 0 ? r : 0));
}

void TlsStream::shutdown() {
  if (!ssl_ || !handshake_done_ || !error_.ok()) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

// ---------------------------------------------------------------------------------------
// A self-signed pair

namespace {

Status write_pem(const std::string& file, int mode, const std::function<int(BIO*)>& put) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return Status::invalid_argument(file + ": " + std::strerror(errno));
  BIO* mem = BIO_new(BIO_s_mem());
  bool ok = mem && put(mem) == 1;
  char* data = nullptr;
  long n = ok ? BIO_get_mem_data(mem, &data) : 0;
  ok = ok && ::write(fd, data, static_cast<size_t>(n)) == n;
  if (mem) BIO_free(mem);
  ::close(fd);
  if (!ok) return Status::internal(file + ": cannot write: " + openssl_reason("write failed"));
  return {};
}

}  // namespace

Status write_self_signed_pair(const std::string& cert_file, const std::string& key_file,
                              const std::vector<std::string>& hosts, int days) {
  ERR_clear_error();
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) return Status::internal("self-signed pair: " + openssl_reason("key generation failed"));
  X509_set_version(cert.get(), 2);  // v3, for the extensions
  std::string serial = random_serial();
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()), static_cast<int>(serial.size()), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), long{days} * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string cn = hosts.empty() ? std::string("localhost") : hosts.front();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san;
  for (const std::string& h : hosts) san += (san.empty() ? "" : ",") + std::string(is_ip_literal(h) ? "IP:" : "DNS:") + h;
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair<int, std::string>{NID_subject_alt_name, san},
                            {NID_basic_constraints, "critical,CA:TRUE"},
                            {NID_key_usage, "critical,digitalSignature,keyCertSign"}}) {
    if (value.empty()) continue;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    if (!ext) return Status::invalid_argument("self-signed pair: bad host list '" + san + "'");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Status::internal("self-signed pair: " + openssl_reason("signing failed"));
  }
  if (Status s = write_pem(key_file, 0600, [&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
      });
      !s.ok()) {
    return s;
  }
  return write_pem(cert_file, 0644, [&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
}

}  // namespace behavior
