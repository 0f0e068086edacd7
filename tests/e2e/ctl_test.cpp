// ctl_test.cpp — the admin CLI (build/bin/ctl) run as a separate OS process against a real
// cluster on 127.0.0.1: redis-server, two local_servers, a gateway and a name server.
// Every command is checked by what it changes or finds: clients logged in through the name
// server, frames they receive, the directory, the registrations in Redis.
#include <behavior/game_client.h>
#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <regex>

#include "client_frames.h"
#include "../cluster/cluster_fixture.h"

namespace behavior::testing {
namespace {

inline const std::string kCtlBin = std::string(BEHAVIOR_BIN_DIR) + "/ctl";
inline const std::string kGatewayBin = std::string(BEHAVIOR_BIN_DIR) + "/gateway";
inline const std::string kNameServerBin = std::string(BEHAVIOR_BIN_DIR) + "/name_server";
constexpr uint16_t kGatewayNode = 40;
constexpr uint16_t kNameServerNode = 50;
constexpr const char* kAdminToken = "test-admin-token";
using Transport = GameClient::Transport;

struct CtlRun {
  int exit_code = -1;  // -1: killed after the deadline or not started
  std::string out, err;
};

// Runs ctl with `args` and exactly `env` as BEHAVIOR_* variables (those of this process
// are left out), collecting stdout and stderr apart; killed after `deadline`.
CtlRun run_ctl(const std::vector<std::string>& args, const std::vector<std::string>& env,
               Millis deadline = Millis(30000)) {
  CtlRun r;
  // Everything is built before fork(): the child only redirects and execs.
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "BEHAVIOR_", 9) != 0) vars.emplace_back(*e);
  }
  vars.insert(vars.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_text{kCtlBin};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  const auto until = std::chrono::steady_clock::now() + deadline;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now()).count();
    if (left <= 0 || ::poll(fds, 2, static_cast<int>(left)) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  if (open > 0) ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  if (open == 0 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

std::string describe(const CtlRun& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

class CtlTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    start_server(1);
    start_server(2);
    start_child(kGatewayBin, {"--node-id", std::to_string(kGatewayNode), "--tcp-port", "0", "--ws-port", "0",
                              "--udp-port", "0"},
                "gateway ready");
    http_port_ = free_port();
    start_child(kNameServerBin, {"--node-id", std::to_string(kNameServerNode), "--auth", "dev", "--login-rate", "0",
                                 "--http-port", std::to_string(http_port_), "--admin-token", kAdminToken},
                "name_server ready");
    // Logins succeed once the name server sees a local node and the gateway.
    ASSERT_TRUE(wait_until([&] { return login("127.0.0.1", http_port_, "probe").ok(); }, Millis(10000)));
  }

  void start_child(const std::string& bin, std::vector<std::string> extra, const std::string& ready) {
    std::vector<std::string> args = {"--redis",        redis_.address(), "--redis-prefix", prefix_,
                                     "--heartbeat-ms", std::to_string(kHeartbeatMs), "--ttl-ms", std::to_string(kTtlMs),
                                     "--cluster-secret", kSecret};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ChildProcess>();
    ASSERT_TRUE(p->start(bin, args));
    ASSERT_TRUE(p->wait_for_output(ready, Millis(10000))) << p->output();
    servers_.push_back(std::move(p));  // ClusterTest stops them (SIGTERM, clean exit)
  }

  std::vector<std::string> env(const std::string& secret = kSecret) const {
    std::vector<std::string> e = {"BEHAVIOR_REDIS=" + redis_.address(), "BEHAVIOR_REDIS_PREFIX=" + prefix_,
                                  "BEHAVIOR_NAME_SERVER=http://127.0.0.1:" + std::to_string(http_port_),
                                  std::string("BEHAVIOR_ADMIN_TOKEN=") + kAdminToken};
    if (!secret.empty()) e.push_back("BEHAVIOR_CLUSTER_SECRET=" + secret);
    return e;
  }

  CtlRun ctl(const std::vector<std::string>& args) { return run_ctl(args, env()); }

  // `ctl <args> --json`, which must succeed with one JSON object on stdout.
  rapidjson::Document ctl_json(std::vector<std::string> args) {
    args.push_back("--json");
    CtlRun r = ctl(args);
    rapidjson::Document d;
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    d.Parse(r.out.c_str());
    EXPECT_FALSE(d.HasParseError()) << describe(r);
    EXPECT_TRUE(!d.HasParseError() && d.IsObject()) << describe(r);
    return d;
  }

  // Logs `user` in through the name server and opens an authenticated TCP connection.
  std::unique_ptr<GameClient> connect(const std::string& user, std::string* pid = nullptr) {
    Result<LoginResult> l = login("127.0.0.1", http_port_, user);
    EXPECT_TRUE(l.ok()) << l.status().to_string();
    if (!l.ok()) return nullptr;
    auto c = GameClient::connect(Transport::kTcp, l->gateway_tcp);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    if (!c.ok()) return nullptr;
    Result<std::string> who = (*c)->auth(l->ticket);
    EXPECT_TRUE(who.ok()) << who.status().to_string();
    if (!who.ok()) return nullptr;
    if (pid) *pid = *who;
    return std::move(*c);
  }

  // The node's entry in `ctl nodes --json`, or null.
  const rapidjson::Value* node_entry(const rapidjson::Document& d, uint16_t id) {
    if (!d.IsObject() || !d.HasMember("nodes") || !d["nodes"].IsArray()) return nullptr;
    for (const auto& n : d["nodes"].GetArray()) {
      if (n["id"].GetUint() == id) return &n;
    }
    return nullptr;
  }

  int http_port_ = 0;
};

// ---------------------------------------------------------------------------------------

TEST_F(CtlTest, NodesListsTheLocalServersTheGatewayAndTheNameServer) {
  CtlRun r = ctl({"nodes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^\s*ID\s+KIND\s+S2S\s+CAPACITY\s+LIVE\s+CONNS)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)\s*1\s+local\s+127\.0\.0\.1:\d+\s+10000\s+)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)\s*2\s+local\s+)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)\s*40\s+gateway\s+.*tcp=127\.0\.0\.1:\d+ ws=127\.0\.0\.1:\d+ udp=)")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)\s*50\s+name\s+)"))) << r.out;

  rapidjson::Document d = ctl_json({"nodes"});
  const rapidjson::Value* gw = node_entry(d, kGatewayNode);
  ASSERT_NE(gw, nullptr);
  EXPECT_STREQ((*gw)["kind"].GetString(), "gateway");
  EXPECT_TRUE((*gw)["attributes"].HasMember("tcp"));
  EXPECT_FALSE((*gw)["draining"].GetBool());
  EXPECT_LT((*gw)["heartbeat_age_ms"].GetInt64(), 5000);
  for (uint16_t id : {1, 2}) {
    const rapidjson::Value* n = node_entry(d, id);
    ASSERT_NE(n, nullptr) << id;
    EXPECT_STREQ((*n)["kind"].GetString(), "local");
    EXPECT_EQ((*n)["capacity"].GetUint(), 10000u);
    EXPECT_TRUE((*n)["alive"].GetBool());
  }
}

TEST_F(CtlTest, CountAddsUpTheProcessesOfEveryNode) {
  auto c = connect("counted");
  ASSERT_NE(c, nullptr);
  // The heartbeat carries the new process within one period.
  uint64_t total = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        rapidjson::Document d = ctl_json({"count"});
        uint64_t sum = 0;
        for (const auto& n : d["nodes"].GetArray()) sum += n["processes"].GetUint64();
        EXPECT_EQ(sum, d["total"].GetUint64());
        total = d["total"].GetUint64();
        return total >= 1;
      },
      Millis(5000)));
  CtlRun r = ctl({"count"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\ntotal\s+\d+\n$)"))) << r.out;
}

TEST_F(CtlTest, WhereFindsALoggedInUsersProcessAndFailsForAnUnknownName) {
  std::string pid;
  auto c = connect("alice", &pid);
  ASSERT_NE(c, nullptr);
  rapidjson::Document d = ctl_json({"where", "user/alice"});
  EXPECT_EQ(d["pid"].GetString(), pid);
  EXPECT_EQ(d["name"].GetString(), std::string("user/alice"));
  const unsigned node = d["node"].GetUint();
  EXPECT_TRUE(node == 1 || node == 2) << node;
  EXPECT_STREQ(d["kind"].GetString(), "local");

  CtlRun r = ctl({"where", "user/alice"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find(pid), std::string::npos) << r.out;

  CtlRun nowhere = ctl({"where", "user/nobody"});
  EXPECT_EQ(nowhere.exit_code, 1) << describe(nowhere);
  EXPECT_NE(nowhere.err.find("no process named user/nobody"), std::string::npos) << describe(nowhere);
  EXPECT_TRUE(nowhere.out.empty()) << describe(nowhere);
}

TEST_F(CtlTest, CallPrintsTheEchoReplyAsTextOrHex) {
  auto c = connect("bob");
  ASSERT_NE(c, nullptr);
  CtlRun r = ctl({"call", "user/bob", "1", "hello from ctl"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "hello from ctl\n");

  rapidjson::Document d = ctl_json({"call", "user/bob", "1", "00ff10", "--body-hex", "--timeout-ms", "3000"});
  EXPECT_STREQ(d["encoding"].GetString(), "hex");
  EXPECT_STREQ(d["body"].GetString(), "00ff10");
  EXPECT_EQ(d["reply_proto_id"].GetUint(), 1u);

  rapidjson::Document j = ctl_json({"call", "user/bob", "0x1", R"({"a":1,"b":"x"})", "--body-json"});
  EXPECT_STREQ(j["encoding"].GetString(), "text");
  EXPECT_STREQ(j["body"].GetString(), R"({"a":1,"b":"x"})");

  CtlRun missing = ctl({"call", "user/ghost", "1", "x"});
  EXPECT_EQ(missing.exit_code, 1) << describe(missing);
  EXPECT_NE(missing.err.find("no process named user/ghost"), std::string::npos) << describe(missing);
}

TEST_F(CtlTest, SendArrivesAtTheUsersClient) {
  auto c = connect("carol");
  ASSERT_NE(c, nullptr);
  CtlRun r = ctl({"send", "user/carol", "1", "a note from the operator"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("sent protoID 1"), std::string::npos) << r.out;
  // The demo player forwards an info with protoID 1 to its client.
  Result<ClientFrame> f = c->receive(Millis(5000));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->proto_id, kEcho);
  EXPECT_EQ(f->body, "a note from the operator");
}

TEST_F(CtlTest, StopEndsTheProcessAndWhereFailsAfterwards) {
  std::string pid;
  auto c = connect("dave", &pid);
  ASSERT_NE(c, nullptr);
  rapidjson::Document d = ctl_json({"stop", "user/dave"});
  EXPECT_EQ(d["pid"].GetString(), pid);
  EXPECT_STREQ(d["reason"].GetString(), "normal");

  CtlRun where = ctl({"where", "user/dave"});
  EXPECT_EQ(where.exit_code, 1) << describe(where);
  // The gateway saw the process end: the client is told (410) and closed.
  Result<ClientFrame> f = c->receive(Millis(5000));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(error_code(*f), 410u);

  CtlRun again = ctl({"stop", "user/dave"});
  EXPECT_EQ(again.exit_code, 1) << describe(again);
}

TEST_F(CtlTest, DrainAndResumeShowInNodes) {
  CtlRun r = ctl({"drain", "2"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("node 2 is draining"), std::string::npos) << r.out;
  rapidjson::Document d = ctl_json({"nodes"});
  ASSERT_NE(node_entry(d, 2), nullptr);
  EXPECT_TRUE((*node_entry(d, 2))["draining"].GetBool());
  EXPECT_FALSE((*node_entry(d, 1))["draining"].GetBool());
  CtlRun table = ctl({"nodes"});
  EXPECT_TRUE(std::regex_search(table.out, std::regex(R"((^|\n)\s*2\s+local\s+.*\s+yes\s+)"))) << table.out;

  rapidjson::Document resumed = ctl_json({"resume", "2"});
  EXPECT_FALSE(resumed["draining"].GetBool());
  // The node's heartbeat may still write its cached draining=1 once after the resume
  // (common/src/cluster.cpp's register script), so the hash settles within a heartbeat.
  EXPECT_TRUE(wait_until(
      [&] {
        rapidjson::Document after = ctl_json({"nodes"});
        const rapidjson::Value* n = node_entry(after, 2);
        return n && !(*n)["draining"].GetBool();
      },
      Millis(5000)));

  // Without the right admin token the name server refuses.
  CtlRun refused = run_ctl({"drain", "1", "--admin-token", "wrong"}, env());
  EXPECT_EQ(refused.exit_code, 1) << describe(refused);
  EXPECT_NE(refused.err.find("401"), std::string::npos) << describe(refused);
  CtlRun unknown = ctl({"drain", "77"});
  EXPECT_EQ(unknown.exit_code, 1) << describe(unknown);
  EXPECT_NE(unknown.err.find("404"), std::string::npos) << describe(unknown);
}

TEST_F(CtlTest, KickClosesTheConnectionWithAKickFrameAndTheProcessLivesOn) {
  std::string pid;
  auto c = connect("erin", &pid);
  ASSERT_NE(c, nullptr);
  rapidjson::Document d = ctl_json({"kick", "erin"});
  EXPECT_EQ(d["kicked"].GetUint64(), 1u);
  Result<ClientFrame> kick = c->receive(Millis(5000));
  ASSERT_TRUE(kick.ok()) << kick.status().to_string();
  EXPECT_EQ(kick->proto_id, proto::kKick);
  EXPECT_EQ(kick->body, "kicked by operator");
  EXPECT_EQ(c->receive(Millis(5000)).status().code(), Code::kUnavailable);  // and closed

  // The process is still there, and a reconnect returns to it.
  rapidjson::Document where = ctl_json({"where", "user/erin"});
  EXPECT_EQ(where["pid"].GetString(), pid);
  std::string again;
  auto c2 = connect("erin", &again);
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(again, pid);
  ASSERT_TRUE(c2->send(kEcho, "back").ok());
  Result<ClientFrame> f = c2->receive();
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->body, "back");

  CtlRun nobody = ctl({"kick", "nobody-here"});
  EXPECT_EQ(nobody.exit_code, 1) << describe(nobody);
  EXPECT_NE(nobody.err.find("no connection"), std::string::npos) << describe(nobody);
}

TEST_F(CtlTest, AWrongOrMissingSecretIsAClearErrorAndCtlLeavesNoTrace) {
  auto c = connect("frank");
  ASSERT_NE(c, nullptr);
  CtlRun wrong = run_ctl({"call", "user/frank", "1", "x", "--timeout-ms", "1500"}, env("not-the-secret"));
  EXPECT_EQ(wrong.exit_code, 1) << describe(wrong);
  EXPECT_NE(wrong.err.find("cluster secret is wrong"), std::string::npos) << describe(wrong);

  CtlRun missing = run_ctl({"send", "user/frank", "1", "x"}, env(""));
  EXPECT_EQ(missing.exit_code, 1) << describe(missing);
  EXPECT_NE(missing.err.find("BEHAVIOR_CLUSTER_SECRET"), std::string::npos) << describe(missing);

  // Every ctl node left: no member in the reserved id range, nor its registration.
  CtlRun ok = ctl({"call", "user/frank", "1", "x"});
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
  std::string members = redis_.command({"ZRANGE", key("nodes"), "0", "-1"});
  for (size_t pos = 0; pos < members.size();) {
    size_t nl = members.find('\n', pos);
    std::string id = members.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    EXPECT_LT(std::stoi(id), 64512) << members;
    pos = nl == std::string::npos ? members.size() : nl + 1;
  }
  std::string keys = redis_.command({"KEYS", key("node:*")});
  for (size_t pos = keys.find("node:"); pos != std::string::npos; pos = keys.find("node:", pos + 1)) {
    EXPECT_LT(std::atoi(keys.c_str() + pos + 5), 64512) << keys;
  }
}

TEST_F(CtlTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(ctl({}).exit_code, 2);
  EXPECT_EQ(ctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(ctl({"where"}).exit_code, 2);
  CtlRun bad_proto = ctl({"send", "user/x", "not-a-number"});
  EXPECT_EQ(bad_proto.exit_code, 2) << describe(bad_proto);
  EXPECT_NE(bad_proto.err.find("protoID"), std::string::npos);
  CtlRun reserved = ctl({"call", "user/x", "0xFFFF0013"});
  EXPECT_EQ(reserved.exit_code, 2) << describe(reserved);
  CtlRun bad_hex = ctl({"call", "user/x", "1", "abc", "--body-hex"});
  EXPECT_EQ(bad_hex.exit_code, 2) << describe(bad_hex);
  EXPECT_EQ(ctl({"call", "user/x", "1", "{}", "--body-hex", "--body-json"}).exit_code, 2);
  CtlRun help = ctl({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("kick"), std::string::npos);
}

}  // namespace
}  // namespace behavior::testing
