// tls_cluster_test.cpp — TLS on the real binaries, on 127.0.0.1, against real clients: a
// LocalCluster with `tls` (a self-signed pair in its folder; the name server on HTTPS, the
// gateway's WebSocket port on wss) answered by curl and openssl s_client, by the client
// library over https and wss, and by ctl; plain HTTP to the TLS port and a client that never
// shakes hands are cut; SIGHUP reloads the pair (and keeps it when the new files are bad);
// `launch --tls` runs bots over https, wss and TCP under TLS with zero loss.
#include <behavior/game_client.h>
#include <behavior/message.h>
#include <behavior/tls.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "attack_util.h"
#include "child_process.h"
#include "local_cluster_test.h"
#include "net_util.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

struct Command {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

// Runs a shell command line (our arguments are fixed, no user input), output captured.
Command run(const std::string& line) {
  Command c;
  std::FILE* p = ::popen((line + " 2>&1").c_str(), "r");
  if (!p) return c;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) c.out.append(buf, n);
  int status = ::pclose(p);
  c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return c;
}

class TlsCluster : public ::testing::Test {
 protected:
  void start(std::vector<std::string> name_server_args = {}, std::vector<std::string> gateway_args = {}) {
    tools::LocalClusterOptions o = LocalClusterTest::options(1, 1);
    o.tls = true;
    o.name_server_args = std::move(name_server_args);
    o.gateway_args = std::move(gateway_args);
    cluster_ = std::make_unique<tools::LocalCluster>(o);
    Status s = cluster_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
    auto trust = TlsContext::client(cluster_->tls_cert(), false);
    ASSERT_TRUE(trust.ok()) << trust.status().to_string();
    trust_ = *trust;
  }
  void TearDown() override {
    if (cluster_) {
      EXPECT_TRUE(cluster_->stop()) << "a service did not stop cleanly; logs in " << cluster_->log_dir();
    }
  }
  int port() const { return cluster_->name_server_port(); }
  std::string url(const std::string& path) const { return cluster_->name_server_url() + path; }
  std::string curl(const std::string& args) const {
    return "curl -sS --max-time 10 --cacert " + cluster_->tls_cert() + " " + args;
  }

  std::unique_ptr<tools::LocalCluster> cluster_;
  std::shared_ptr<TlsContext> trust_;
};

TEST_F(TlsCluster, CurlLogsInOverHttpsAndTheAnswerOffersWss) {
  start();
  Command login = run(curl("-H 'Content-Type: application/json' -d '{\"user\":\"alice\"}' " + url("/v1/login")));
  ASSERT_EQ(login.exit_code, 0) << login.out;
  EXPECT_NE(login.out.find("\"ticket\":\""), std::string::npos) << login.out;
  // The gateway speaks wss only: it is offered as "wss", and "ws" is empty.
  const int ws = cluster_->gateway_ports(1).ws;
  EXPECT_NE(login.out.find("\"wss\":\"127.0.0.1:" + std::to_string(ws) + "\""), std::string::npos) << login.out;
  EXPECT_NE(login.out.find("\"ws\":\"\""), std::string::npos) << login.out;
  // launch --tls gives the gateway --tls-tcp too: TCP is offered as "tcps" only.
  const int tcp = cluster_->gateway_ports(1).tcp;
  EXPECT_NE(login.out.find("\"tcps\":\"127.0.0.1:" + std::to_string(tcp) + "\""), std::string::npos) << login.out;
  EXPECT_NE(login.out.find("\"tcp\":\"\""), std::string::npos) << login.out;
  // The play page and the dashboard over https.
  Command play = run(curl(url("/play")));
  ASSERT_EQ(play.exit_code, 0) << play.out;
  EXPECT_NE(play.out.find("wss://"), std::string::npos);
  Command dashboard = run(curl("-o /dev/null -w '%{http_code}' " + url("/")));
  EXPECT_EQ(dashboard.out, "200") << dashboard.out;
  // Without the CA, curl refuses the self-signed certificate (exit 60: peer certificate).
  Command untrusted = run("curl -sS --max-time 10 " + url("/v1/cluster"));
  EXPECT_EQ(untrusted.exit_code, 60) << untrusted.out;
}

TEST_F(TlsCluster, OpensslSClientHandshakesWithTls12And13) {
  start();
  for (const char* version : {"-tls1_3", "-tls1_2"}) {
    Command c = run("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(port()) + " " + version +
                    " -CAfile " + cluster_->tls_cert() + " -verify_return_error -brief");
    EXPECT_EQ(c.exit_code, 0) << version << ": " << c.out;
    EXPECT_NE(c.out.find("Verification: OK"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find(std::string("Protocol version: TLSv1.") + (version[6] == '3' ? "3" : "2")), std::string::npos)
        << c.out;
  }
  // Older protocols are refused.
  Command old = run("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(port()) + " -tls1_1 -brief");
  EXPECT_NE(old.exit_code, 0) << old.out;
}

TEST_F(TlsCluster, PlainHttpToTheTlsPortGetsNoHttpAndAClose) {
  start();
  {
    HttpClient plain(port());
    ASSERT_TRUE(plain.connected());
    HttpReply r = plain.request("GET", "/v1/cluster");
    EXPECT_EQ(r.status, 0) << "an HTTP answer came in clear: " << r.headers << r.body;
    EXPECT_TRUE(closed_by_peer(plain.fd()));
  }
  // The server goes on serving TLS clients.
  Command c = run(curl(url("/v1/cluster")));
  EXPECT_EQ(c.exit_code, 0) << c.out;
  EXPECT_NE(c.out.find("\"nodes\""), std::string::npos) << c.out;
}

// The idle timeout (10 s by default) is longer than closed_by_peer waits (5 s): a cut within
// that wait is the handshake timeout's.
TEST_F(TlsCluster, AClientThatNeverFinishesTheHandshakeIsCut) {
  start({"--http-tls-handshake-ms", "300"});
  int silent = tcp_connect(port());
  ASSERT_GE(silent, 0);
  EXPECT_TRUE(closed_by_peer(silent)) << "a silent client outlived the handshake timeout";
  ::close(silent);
  // Half a ClientHello, then nothing.
  int partial = tcp_connect(port());
  ASSERT_GE(partial, 0);
  ASSERT_TRUE(send_all(partial, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  EXPECT_TRUE(closed_by_peer(partial));
  ::close(partial);
}

// A TLS connection is a connection like any other for the per-address limits: counted
// before its handshake starts, so a flood of handshakes from one address is held to its
// share and another address is served.
TEST_F(TlsCluster, TlsConnectionsCountTowardThePerAddressLimit) {
  start({"--http-max-per-address", "10", "--http-tls-handshake-ms", "60000", "--http-first-request-ms", "60000"});
  std::vector<int> flood = open_idle(port(), "127.0.0.3", 40);
  ASSERT_TRUE(wait_until([&] { return still_open(flood) <= 10; }, Millis(5000))) << still_open(flood);
  EXPECT_EQ(still_open(flood), 10);
  close_all(flood);
  // Another address still gets its connections.
  std::vector<int> other = open_idle(port(), "127.0.0.2", 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(still_open(other), 5);
  close_all(other);
}

// The output bounds hold on ciphertext: a TLS client that pipelines requests for the
// dashboard (~40 KB answers) and never reads does not grow the name server's memory; the
// server stops reading it (or cuts it), and serves others meanwhile and after.
TEST_F(TlsCluster, AClientThatNeverReadsItsHttpsAnswersIsBounded) {
  start();
  const pid_t server = cluster_->pid("name_server");
  const double before = rss_mib(server);
  int fd = tcp_connect(port());
  ASSERT_GE(fd, 0);
  std::unique_ptr<TlsStream> tls = trust_->new_stream("127.0.0.1");
  while (!tls->handshake_done()) {  // blocking, the socket's 5 s receive timeout
    std::string out;
    tls->take_output(&out);
    ASSERT_TRUE(out.empty() || send_all(fd, out));
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "no handshake";
    ASSERT_TRUE(tls->feed(buf, static_cast<size_t>(n), [](const char*, size_t) {}).ok()) << tls->error().to_string();
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string plain;
  while (plain.size() < 64 * 1024) plain += "GET / HTTP/1.1\r\nHost: attacker\r\n\r\n";
  std::string wire;
  uint64_t sent = 0;
  bool cut = false;
  double peak = before;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (std::chrono::steady_clock::now() < end && !cut) {
    if (wire.empty()) {
      ASSERT_TRUE(tls->write(plain).ok());
      tls->take_output(&wire);
    }
    ssize_t n = ::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
      wire.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      cut = true;  // EPIPE / ECONNRESET
    } else {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 20);
    }
    peak = std::max(peak, rss_mib(server));
  }
  ::close(fd);
  std::printf("[ measured ] https pipelining without reading: RSS %.1f MiB before, peak %.1f MiB, %.1f MiB of "
              "ciphertext taken%s\n",
              before, peak, sent / 1048576.0, cut ? ", then cut" : "");
  EXPECT_LT(peak - before, 48.0) << "output queued for a TLS client that never reads";
  EXPECT_LT(sent, 64u * 1024 * 1024) << "the server kept reading requests it could not answer";
  Command after = run(curl(url("/v1/cluster")));
  EXPECT_EQ(after.exit_code, 0) << after.out;
}

// The gateway's bound on what waits for a client (--max-output-bytes) counts ciphertext too:
// a wss client that sends echo requests and never reads is cut as a slow reader.
TEST_F(TlsCluster, AWssClientThatNeverReadsIsCutAsASlowReader) {
  start({}, {"--max-output-bytes", "65536", "--frame-rate", "0"});
  Result<LoginResult> login = behavior::login("127.0.0.1", port(), "slow", "", Millis(5000), trust_.get());
  ASSERT_TRUE(login.ok()) << login.status().to_string();
  auto client = GameClient::connect(GameClient::Transport::kWebSocket, login->gateway_wss, Millis(5000), trust_.get());
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  ASSERT_TRUE((*client)->auth(login->ticket).ok());
  const std::string body(8 * 1024, 'e');
  bool send_failed = false;
  for (int i = 0; i < 4000 && !send_failed; ++i) {  // 32 MiB of echoes, none read
    send_failed = !(*client)->send(1, body).ok();    // 1: the demo game's kEcho
    if (i % 64 == 0 && cluster_->log_text("gateway-1").find("slow reader") != std::string::npos) break;
  }
  EXPECT_TRUE(wait_until([&] {
    return cluster_->log_text("gateway-1").find("slow reader: output queue full") != std::string::npos;
  })) << "the gateway did not cut the wss client that never reads";
  // What the client finds when it reads at last: some echoes, then the end.
  Status end;
  for (int i = 0; i < 10000 && end.ok(); ++i) {
    Result<ClientFrame> f = (*client)->receive(Millis(5000));
    if (!f.ok()) end = f.status();
  }
  EXPECT_EQ(end.code(), Code::kUnavailable) << end.to_string();
}

TEST_F(TlsCluster, TheClientLibraryLogsInOverHttpsAndPlaysOverWss) {
  start();
  Result<LoginResult> login = behavior::login("127.0.0.1", port(), "bob", "", Millis(5000), trust_.get());
  ASSERT_TRUE(login.ok()) << login.status().to_string();
  ASSERT_FALSE(login->gateway_wss.empty());
  EXPECT_TRUE(login->gateway_ws.empty());
  auto client = GameClient::connect(GameClient::Transport::kWebSocket, login->gateway_wss, Millis(5000), trust_.get());
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  Result<std::string> pid = (*client)->auth(login->ticket);
  ASSERT_TRUE(pid.ok()) << pid.status().to_string();
  EXPECT_FALSE(pid->empty());
  // A heartbeat is answered by the gateway: frames flow both ways through TLS.
  ASSERT_TRUE((*client)->send(proto::kHeartbeat, "hb").ok());
  Result<ClientFrame> f = (*client)->receive(Millis(5000));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->proto_id, proto::kHeartbeat);
  (*client)->close();

  // TCP under TLS (tcps): the same frames, the same answers.
  Result<LoginResult> again = behavior::login("127.0.0.1", port(), "bob", "", Millis(5000), trust_.get());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  ASSERT_FALSE(again->gateway_tcps.empty());
  EXPECT_TRUE(again->gateway_tcp.empty());
  auto tcp = GameClient::connect(GameClient::Transport::kTcp, again->gateway_tcps, Millis(5000), trust_.get());
  ASSERT_TRUE(tcp.ok()) << tcp.status().to_string();
  ASSERT_TRUE((*tcp)->auth(again->ticket).ok());
  ASSERT_TRUE((*tcp)->send(proto::kHeartbeat, "hb").ok());
  Result<ClientFrame> beat = (*tcp)->receive(Millis(5000));
  ASSERT_TRUE(beat.ok()) << beat.status().to_string();
  EXPECT_EQ(beat->proto_id, proto::kHeartbeat);
  (*tcp)->close();

  // Plain WebSocket on the wss port: no upgrade answer.
  auto plain = GameClient::connect(GameClient::Transport::kWebSocket, login->gateway_wss, Millis(3000));
  EXPECT_FALSE(plain.ok());
  // A client that does not trust the certificate: the handshake fails and says why.
  auto system_trust = TlsContext::client("", false);
  ASSERT_TRUE(system_trust.ok());
  auto untrusted = GameClient::connect(GameClient::Transport::kWebSocket, login->gateway_wss, Millis(3000),
                                       system_trust->get());
  ASSERT_FALSE(untrusted.ok());
  EXPECT_NE(untrusted.status().message().find("certificate"), std::string::npos) << untrusted.status().message();
  Result<LoginResult> refused = behavior::login("127.0.0.1", port(), "bob", "", Millis(3000), system_trust->get());
  EXPECT_FALSE(refused.ok());
}

TEST_F(TlsCluster, SighupReloadsThePairAndKeepsItWhenTheNewFilesAreBad) {
  start();
  const std::string cert = cluster_->tls_cert(), key = cluster_->tls_key();
  const std::string old_ca = cluster_->log_dir() + "/old-ca.pem";
  ASSERT_EQ(run("cp " + cert + " " + old_ca).exit_code, 0);
  const pid_t ns = cluster_->pid("name_server");
  ASSERT_GT(ns, 0);

  // Bad files: the reload fails, the log names the file, the old pair still serves.
  { std::ofstream(cert) << "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"; }
  ASSERT_EQ(::kill(ns, SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return cluster_->log_text("name_server").find("TLS reload failed") != std::string::npos; }))
      << cluster_->log_text("name_server");
  EXPECT_NE(cluster_->log_text("name_server").find(cert), std::string::npos);
  Command still = run("curl -sS --max-time 10 --cacert " + old_ca + " " + url("/v1/cluster"));
  EXPECT_EQ(still.exit_code, 0) << still.out;

  // A new pair: new connections get it; the old CA no longer verifies.
  ASSERT_TRUE(write_self_signed_pair(cert, key, {"127.0.0.1"}).ok());
  ASSERT_EQ(::kill(ns, SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return cluster_->log_text("name_server").find("reloaded") != std::string::npos; }))
      << cluster_->log_text("name_server");
  Command fresh = run("curl -sS --max-time 10 --cacert " + cert + " " + url("/v1/cluster"));
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out;
  Command stale = run("curl -sS --max-time 10 --cacert " + old_ca + " " + url("/v1/cluster"));
  EXPECT_EQ(stale.exit_code, 60) << stale.out;

  // The gateway reloads too: a wss client trusting only the new certificate gets in.
  ASSERT_EQ(::kill(cluster_->pid("gateway-1"), SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return cluster_->log_text("gateway-1").find("reloaded") != std::string::npos; }))
      << cluster_->log_text("gateway-1");
  auto trust = TlsContext::client(cert, false);
  ASSERT_TRUE(trust.ok());
  Result<LoginResult> login = behavior::login("127.0.0.1", port(), "carol", "", Millis(5000), trust->get());
  ASSERT_TRUE(login.ok()) << login.status().to_string();
  auto client = GameClient::connect(GameClient::Transport::kWebSocket, login->gateway_wss, Millis(5000), trust->get());
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  EXPECT_TRUE((*client)->auth(login->ticket).ok());
}

TEST_F(TlsCluster, CtlDrainsOverHttps) {
  start();
  const std::string ctl = std::string(BEHAVIOR_BIN_DIR) + "/ctl";
  std::string env;
  for (const std::string& e : cluster_->env()) env += "'" + e + "' ";
  Command drain = run("env " + env + ctl + " drain 1");
  EXPECT_EQ(drain.exit_code, 0) << drain.out;
  EXPECT_NE(drain.out.find("node 1 is draining"), std::string::npos) << drain.out;
  // Without the CA (the environment's BEHAVIOR_TLS_CA overridden): refused, and it says why.
  Command untrusted = run("env " + env + "BEHAVIOR_TLS_CA= " + ctl + " resume 1");
  EXPECT_NE(untrusted.exit_code, 0) << untrusted.out;
  EXPECT_NE(untrusted.out.find("certificate"), std::string::npos) << untrusted.out;
  Command resume = run("env " + env + ctl + " resume 1");
  EXPECT_EQ(resume.exit_code, 0) << resume.out;
}

// The files come from flags, the environment or the --config file; a bad one stops the
// server at once (exit 2) with the file named, before it touches Redis or a port.
TEST(TlsFlags, ABadPairStopsTheServerNamingTheFile) {
  const std::string bin = BEHAVIOR_BIN_DIR;
  const std::string config = "/tmp/tls_flags_test." + std::to_string(::getpid()) + ".toml";
  { std::ofstream(config) << "tls-cert = \"/nonexistent/cert.pem\"\ntls-key = \"/nonexistent/key.pem\"\n"; }
  Command from_config = run(bin + "/name_server --redis 127.0.0.1:1 --config " + config);
  EXPECT_EQ(from_config.exit_code, 2) << from_config.out;
  EXPECT_NE(from_config.out.find("certificate file /nonexistent/cert.pem"), std::string::npos) << from_config.out;
  std::remove(config.c_str());
  Command from_env = run("env BEHAVIOR_TLS_CERT=/nonexistent/c.pem BEHAVIOR_TLS_KEY=/nonexistent/k.pem " + bin +
                         "/gateway --redis 127.0.0.1:1");
  EXPECT_EQ(from_env.exit_code, 2) << from_env.out;
  EXPECT_NE(from_env.out.find("/nonexistent/c.pem"), std::string::npos) << from_env.out;
  Command half = run(bin + "/gateway --redis 127.0.0.1:1 --tls-cert /nonexistent/c.pem");
  EXPECT_EQ(half.exit_code, 2) << half.out;
  EXPECT_NE(half.out.find("both --tls-cert and --tls-key"), std::string::npos) << half.out;
}

TEST(TlsLaunch, BotsPlayOverHttpsAndWssWithZeroLoss) {
  ChildProcess launch;
  ASSERT_TRUE(launch.start(std::string(BEHAVIOR_BIN_DIR) + "/launch",
                           {"--tls", "--name-server-port", "0", "--local-servers", "1", "--bots", "12", "--duration",
                            "5", "--rate", "10", "--reconnects", "1", "--transports", "ws,tcp"}));
  int status = launch.wait_exit(Millis(90000));
  std::string out = launch.output();
  ASSERT_NE(status, -1) << out;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("https://127.0.0.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("wss wss://127.0.0.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("tcps 127.0.0.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("result=PASS"), std::string::npos) << out;
  EXPECT_NE(out.find(" lost=0 "), std::string::npos) << out;
  EXPECT_NE(out.find("every service stopped cleanly"), std::string::npos) << out;
}

}  // namespace
}  // namespace behavior::testing
