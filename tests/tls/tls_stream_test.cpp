// tls_stream_test.cpp — TlsContext and TlsStream in memory, no sockets: a client and a
// server stream shake hands and exchange data by passing each other's output; garbage,
// plain HTTP and a wrong CA fail with a message that says what happened; bad certificate
// files are refused with the file named; a failed reload keeps the pair in use.
#include <behavior/tls.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace behavior::testing {
namespace {

namespace fs = std::filesystem;

class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tls_stream_test." + std::to_string(::getpid()));
    fs::create_directories(dir_);
    ASSERT_TRUE(write_self_signed_pair(path("cert.pem"), path("key.pem"), {"127.0.0.1", "localhost"}).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write_file(const std::string& name, const std::string& text) { std::ofstream(path(name)) << text; }

  std::shared_ptr<TlsContext> server_ctx() {
    auto ctx = TlsContext::server(path("cert.pem"), path("key.pem"));
    EXPECT_TRUE(ctx.ok()) << ctx.status().to_string();
    return ctx.ok() ? *ctx : nullptr;
  }
  std::shared_ptr<TlsContext> client_ctx() {
    auto ctx = TlsContext::client(path("cert.pem"), false);
    EXPECT_TRUE(ctx.ok()) << ctx.status().to_string();
    return ctx.ok() ? *ctx : nullptr;
  }

  fs::path dir_;
};

// Moves output both ways until neither side has any; what each side decrypts is appended
// to *to_server / *to_client. False as soon as either side fails.
bool pump(TlsStream& client, TlsStream& server, std::string* to_server, std::string* to_client) {
  for (int round = 0; round < 20; ++round) {
    std::string c2s, s2c;
    client.take_output(&c2s);
    server.take_output(&s2c);
    if (c2s.empty() && s2c.empty()) return true;
    if (!server.feed(c2s.data(), c2s.size(), [&](const char* d, size_t n) { to_server->append(d, n); }).ok()) {
      return false;
    }
    if (!client.feed(s2c.data(), s2c.size(), [&](const char* d, size_t n) { to_client->append(d, n); }).ok()) {
      return false;
    }
  }
  return true;
}

TEST_F(TlsStreamTest, HandshakeAndDataBothWays) {
  auto server = server_ctx()->new_stream();
  auto client = client_ctx()->new_stream("127.0.0.1");
  EXPECT_GT(client->output_size(), 0u) << "the ClientHello is ready at once";
  // Written before the handshake: it waits, then leaves first.
  ASSERT_TRUE(client->write("early ").ok());
  std::string at_server, at_client;
  ASSERT_TRUE(pump(*client, *server, &at_server, &at_client)) << server->error().to_string() << client->error().to_string();
  EXPECT_TRUE(client->handshake_done());
  EXPECT_TRUE(server->handshake_done());
  std::string big(100 * 1024, 'x');  // several records
  ASSERT_TRUE(client->write("hello").ok());
  ASSERT_TRUE(server->write(big).ok());
  ASSERT_TRUE(pump(*client, *server, &at_server, &at_client));
  EXPECT_EQ(at_server, "early hello");
  EXPECT_EQ(at_client, big);
}

TEST_F(TlsStreamTest, ByteByByteInputStillDecrypts) {
  auto server = server_ctx()->new_stream();
  auto client = client_ctx()->new_stream("localhost");
  std::string a, b;
  ASSERT_TRUE(pump(*client, *server, &a, &b));
  ASSERT_TRUE(client->write("split me").ok());
  std::string wire;
  client->take_output(&wire);
  std::string plain;
  for (char ch : wire) {
    ASSERT_TRUE(server->feed(&ch, 1, [&](const char* d, size_t n) { plain.append(d, n); }).ok());
  }
  EXPECT_EQ(plain, "split me");
}

TEST_F(TlsStreamTest, PlainHttpIsRefusedWithAClearError) {
  auto server = server_ctx()->new_stream();
  std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  bool got_plain = false;
  Status s = server->feed(req.data(), req.size(), [&](const char*, size_t) { got_plain = true; });
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(got_plain);
  EXPECT_NE(s.message().find("handshake"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("http request"), std::string::npos) << s.message();  // OpenSSL recognizes it
  EXPECT_TRUE(server->failed());
  // Dead for good: more input fails the same way, and nothing is written.
  EXPECT_FALSE(server->feed("x", 1, [&](const char*, size_t) { got_plain = true; }).ok());
  EXPECT_FALSE(server->write("answer").ok());
}

TEST_F(TlsStreamTest, GarbageAfterTheHandshakeIsARecordError) {
  auto server = server_ctx()->new_stream();
  auto client = client_ctx()->new_stream("127.0.0.1");
  std::string a, b;
  ASSERT_TRUE(pump(*client, *server, &a, &b));
  std::string garbage(64, '\x17');  // looks like application data records, bad MACs
  Status s = server->feed(garbage.data(), garbage.size(), [](const char*, size_t) {});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("TLS record error"), std::string::npos) << s.message();
}

TEST_F(TlsStreamTest, AClientThatDoesNotTrustTheCertificateFailsTheHandshake) {
  write_self_signed_pair(path("other.pem"), path("other.key"), {"127.0.0.1"});
  auto other = TlsContext::client(path("other.pem"), false);
  ASSERT_TRUE(other.ok());
  auto server = server_ctx()->new_stream();
  auto client = (*other)->new_stream("127.0.0.1");
  std::string a, b;
  EXPECT_FALSE(pump(*client, *server, &a, &b));
  EXPECT_TRUE(client->failed());
  EXPECT_NE(client->error().message().find("certificate"), std::string::npos) << client->error().message();
}

TEST_F(TlsStreamTest, TheNameIsChecked) {
  auto server = server_ctx()->new_stream();
  auto client = client_ctx()->new_stream("example.org");  // not in the certificate
  std::string a, b;
  EXPECT_FALSE(pump(*client, *server, &a, &b));
  EXPECT_TRUE(client->failed());
  // Insecure mode (local use): no verification at all.
  auto insecure = TlsContext::client("", true);
  ASSERT_TRUE(insecure.ok());
  auto server2 = server_ctx()->new_stream();
  auto client2 = (*insecure)->new_stream("example.org");
  EXPECT_TRUE(pump(*client2, *server2, &a, &b)) << client2->error().to_string();
  EXPECT_TRUE(client2->handshake_done());
}

TEST_F(TlsStreamTest, BadFilesAreRefusedWithTheFileNamed) {
  write_file("junk.pem", "not a certificate\n");
  auto missing = TlsContext::server(path("nope.pem"), path("key.pem"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(path("nope.pem")), std::string::npos) << missing.status().message();
  EXPECT_NE(missing.status().message().find("No such file"), std::string::npos) << missing.status().message();

  auto junk_cert = TlsContext::server(path("junk.pem"), path("key.pem"));
  ASSERT_FALSE(junk_cert.ok());
  EXPECT_NE(junk_cert.status().message().find("certificate file " + path("junk.pem")), std::string::npos)
      << junk_cert.status().message();

  auto junk_key = TlsContext::server(path("cert.pem"), path("junk.pem"));
  ASSERT_FALSE(junk_key.ok());
  EXPECT_NE(junk_key.status().message().find("key file " + path("junk.pem")), std::string::npos)
      << junk_key.status().message();

  ASSERT_TRUE(write_self_signed_pair(path("other.pem"), path("other.key"), {"127.0.0.1"}).ok());
  auto mismatch = TlsContext::server(path("cert.pem"), path("other.key"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("does not match"), std::string::npos) << mismatch.status().message();

  auto bad_ca = TlsContext::client(path("junk.pem"), false);
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_NE(bad_ca.status().message().find(path("junk.pem")), std::string::npos);
}

TEST_F(TlsStreamTest, ReloadTakesNewFilesAndKeepsTheOldPairOnFailure) {
  auto ctx = server_ctx();
  auto old_trust = client_ctx();  // trusts the first certificate only
  // A broken file in place: reload fails, names it, and the context still serves the old pair.
  write_file("cert.pem", "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
  Status s = ctx->reload();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path("cert.pem")), std::string::npos) << s.message();
  std::string a, b;
  {
    auto server = ctx->new_stream();
    auto client = old_trust->new_stream("127.0.0.1");
    EXPECT_TRUE(pump(*client, *server, &a, &b)) << client->error().to_string();
    EXPECT_TRUE(client->handshake_done());
  }
  // A new pair: reload succeeds; new streams present it (the old trust fails, the new one works)
  // while a stream made before the reload keeps working with the old pair.
  auto before = ctx->new_stream();
  ASSERT_TRUE(write_self_signed_pair(path("cert.pem"), path("key.pem"), {"127.0.0.1"}).ok());
  ASSERT_TRUE(ctx->reload().ok());
  {
    auto server = ctx->new_stream();
    auto client = old_trust->new_stream("127.0.0.1");
    EXPECT_FALSE(pump(*client, *server, &a, &b));
  }
  {
    auto server = ctx->new_stream();
    auto client = client_ctx()->new_stream("127.0.0.1");
    EXPECT_TRUE(pump(*client, *server, &a, &b)) << client->error().to_string();
  }
  auto client = old_trust->new_stream("127.0.0.1");
  EXPECT_TRUE(pump(*client, *before, &a, &b)) << client->error().to_string();
  EXPECT_TRUE(before->handshake_done());
}

TEST_F(TlsStreamTest, ShutdownSendsCloseNotify) {
  auto server = server_ctx()->new_stream();
  auto client = client_ctx()->new_stream("127.0.0.1");
  std::string a, b;
  ASSERT_TRUE(pump(*client, *server, &a, &b));
  server->shutdown();
  EXPECT_GT(server->output_size(), 0u);
  std::string wire;
  server->take_output(&wire);
  EXPECT_TRUE(client->feed(wire.data(), wire.size(), [](const char*, size_t) {}).ok());  // a clean end
  EXPECT_FALSE(client->failed());
}

}  // namespace
}  // namespace behavior::testing
