// fuzz_tls.cpp — libFuzzer target for our TLS glue (TlsStream over memory BIOs, tls.cpp), not
// for OpenSSL itself: arbitrary bytes go into a server-side stream, split in two feeds. The
// first byte picks the mode: bytes from the first handshake message on (bit 0 clear), or
// records after a real handshake with an in-memory client (bit 0 set). Checked: no plaintext
// before the handshake is done; a failed stream stays failed and writes nothing more; the
// output never grows without bound.
#include <behavior/tls.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace {

struct Contexts {
  std::shared_ptr<behavior::TlsContext> server, client;
};

const Contexts& contexts() {
  static const Contexts c = [] {
    const std::string dir = "/tmp/fuzz_tls." + std::to_string(::getpid());
    const std::string cert = dir + ".cert.pem", key = dir + ".key.pem";
    if (!behavior::write_self_signed_pair(cert, key, {"127.0.0.1"}).ok()) __builtin_trap();
    auto server = behavior::TlsContext::server(cert, key);
    auto client = behavior::TlsContext::client(cert, false);
    std::remove(cert.c_str());
    std::remove(key.c_str());
    if (!server.ok() || !client.ok()) __builtin_trap();
    return Contexts{*server, *client};
  }();
  return c;
}

// Client and server output back and forth until both are quiet.
void handshake(behavior::TlsStream& client, behavior::TlsStream& server) {
  for (int i = 0; i < 10; ++i) {
    std::string c2s, s2c;
    client.take_output(&c2s);
    server.take_output(&s2c);
    if (c2s.empty() && s2c.empty()) return;
    (void)server.feed(c2s.data(), c2s.size(), [](const char*, size_t) {});
    (void)client.feed(s2c.data(), s2c.size(), [](const char*, size_t) {});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Contexts& ctx = contexts();
  const bool after_handshake = data[0] & 1;
  const char* p = reinterpret_cast<const char*>(data) + 1;
  const size_t n = size - 1;
  const size_t split = n ? (data[0] >> 1) % (n + 1) : 0;

  std::unique_ptr<behavior::TlsStream> server = ctx.server->new_stream();
  if (after_handshake) {
    std::unique_ptr<behavior::TlsStream> client = ctx.client->new_stream("127.0.0.1");
    handshake(*client, *server);
    if (!server->handshake_done()) __builtin_trap();
    std::string drop;
    server->take_output(&drop);
  }
  size_t plain = 0;
  auto on_plain = [&](const char*, size_t len) {
    if (!server->handshake_done()) __builtin_trap();
    plain += len;
  };
  bool ok = server->feed(p, split, on_plain).ok();
  if (ok) ok = server->feed(p + split, n - split, on_plain).ok();
  if (plain > n) __builtin_trap();  // decryption never makes bytes
  if (!ok) {
    if (!server->failed()) __builtin_trap();
    std::string alert;
    server->take_output(&alert);
    if (server->write("x").ok() || server->output_size() != 0) __builtin_trap();
    if (server->feed("\x16", 1, on_plain).ok()) __builtin_trap();
  }
  if (server->output_size() > 64 * 1024) __builtin_trap();  // a handshake's answer, not more
  return 0;
}
