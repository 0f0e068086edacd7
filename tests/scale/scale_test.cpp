// scale_test.cpp — a cluster of many hosts on one machine: every server in a network
// namespace of its own with its own address (tests/support/netns_lab.h), as it would run on
// separate machines. 8 local servers, 2 gateways, 2 name servers, Redis with a replica and
// three sentinels (quorum 2) on three more hosts, and bots on a client host logging in through
// both name servers over TCP, WebSocket and UDP. Measured and printed ("[ measured ]"): the
// players each node got against its share of the free capacity, logins through each name
// server, s2s links and memory per node, the game's echo round trip (PING → PONG) p50/p99, and
// what Redis did per node-second of heartbeats and per login (INFO commandstats; the figures
// docs/scaling.md projects from). Then one host of each kind is killed in turn (a local server,
// a gateway, a name server, the Redis primary's host with its sentinel): every player plays
// again, and nothing acknowledged is lost, reordered or duplicated.
//
// Bounded for CI: BEHAVIOR_SCALE_BOTS players (default 200) at BEHAVIOR_SCALE_RATE actions/s
// (default 5). The full run (README): BEHAVIOR_SCALE_BOTS=1000. Needs root (namespaces); skips
// otherwise.
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "bot_progress.h"
#include "bot_summary.h"
#include "child_process.h"
#include "local_cluster.h"
#include "netns_lab.h"
#include "redis_server.h"
#include "test_support.h"

namespace behavior::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;
using tools::Host;
using tools::LocalCluster;
using tools::LocalClusterOptions;

constexpr int kLocalServers = 8;
constexpr const char* kPassword = "scale-test-pass";  // Redis bound off loopback

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  const int n = v ? std::atoi(v) : 0;
  return n > 0 ? n : fallback;
}

// Which host each service runs on, and that host's address.
const std::map<std::string, std::pair<std::string, std::string>>& placement() {
  static const auto* hosts = [] {
    auto* m = new std::map<std::string, std::pair<std::string, std::string>>{
        {"redis", {"r1", "10.77.0.11"}},         {"sentinel-1", {"r1", "10.77.0.11"}},
        {"redis-replica", {"r2", "10.77.0.12"}}, {"sentinel-2", {"r2", "10.77.0.12"}},
        {"sentinel-3", {"r3", "10.77.0.13"}},    {"gateway-1", {"gw1", "10.77.0.31"}},
        {"gateway-2", {"gw2", "10.77.0.32"}},    {"name_server", {"ns1", "10.77.0.41"}},
        {"name_server-2", {"ns2", "10.77.0.42"}}};
    for (int i = 1; i <= kLocalServers; ++i) {
      (*m)["local_server-" + std::to_string(i)] = {"ls" + std::to_string(i), "10.77.0." + std::to_string(20 + i)};
    }
    return m;
  }();
  return *hosts;
}

int hosts() {  // the servers' hosts and the clients'
  std::set<std::string> all;
  for (const auto& [service, host] : placement()) all.insert(host.first);
  return int(all.size()) + 1;
}

constexpr const char* kClientHost = "clients";
constexpr const char* kClientIp = "10.77.0.100";

// INFO commandstats as {command: calls}.
std::map<std::string, uint64_t> command_calls(const std::string& info) {
  std::map<std::string, uint64_t> out;
  static const std::regex row(R"(cmdstat_([a-z|_-]+):calls=(\d+))");
  for (std::sregex_iterator it(info.begin(), info.end(), row), end; it != end; ++it) {
    out[(*it)[1]] = std::stoull((*it)[2]);
  }
  return out;
}

std::string describe_delta(const std::map<std::string, uint64_t>& a, const std::map<std::string, uint64_t>& b,
                           double per) {
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [cmd, n] : b) {
    const uint64_t before = a.count(cmd) ? a.at(cmd) : 0;
    if (n > before && cmd != "info" && cmd != "ping") rows.push_back({double(n - before) / per, cmd});
  }
  std::sort(rows.rbegin(), rows.rend());
  std::string out;
  double total = 0;
  for (const auto& [v, cmd] : rows) total += v;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f total:", total);
  out = buf;
  for (size_t i = 0; i < rows.size() && i < 8; ++i) {
    std::snprintf(buf, sizeof buf, " %s %.2f", rows[i].second.c_str(), rows[i].first);
    out += buf;
  }
  return out;
}

// A value of a Prometheus text line "name{labels} value" summed over the label sets.
double metric_sum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    sum += std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return sum;
}

long rss_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

class Scale : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!NetnsLab::available(&why)) GTEST_SKIP() << why;
    lab_ = std::make_unique<NetnsLab>();
    std::set<std::string> made;
    for (const auto& [service, host] : placement()) {
      if (!made.insert(host.first).second) continue;
      Status s = lab_->add_host(host.first, host.second);
      ASSERT_TRUE(s.ok()) << s.to_string();
    }
    Status s = lab_->add_host(kClientHost, kClientIp);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }

  void TearDown() override {
    if (cluster_) {
      lab_->in(kClientHost, [&] { cluster_->stop(); });
      cluster_.reset();
    }
    lab_.reset();
  }

  // The whole test runs on a thread inside the client host, which reaches every address.
  void run();

  std::string redis(const std::vector<std::string>& args) {
    const std::string& a = cluster_->redis_address();
    return redis_command_at(a.substr(0, a.rfind(':')), std::stoi(a.substr(a.rfind(':') + 1)), kPassword, args);
  }
  std::string node_metrics(uint16_t node) {
    const std::string at = redis({"HGET", cluster_->redis_prefix() + "node:" + std::to_string(node), "metrics"});
    const size_t colon = at.rfind(':');
    if (colon == std::string::npos) return "";
    Result<std::string> r = http_exchange(at.substr(0, colon), std::stoi(at.substr(colon + 1)),
                                          "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return r.ok() ? *r : "";
  }

  // A name server serves /metrics on its HTTP port.
  std::string name_server_metrics(const std::string& service) {
    const int index = service == "name_server" ? 1 : std::atoi(service.c_str() + service.rfind('-') + 1);
    const std::string url = cluster_->name_server_url(index);  // http://ip:port
    const std::string hostport = url.substr(url.find("//") + 2);
    Result<std::string> r =
        http_exchange(hostport.substr(0, hostport.rfind(':')), std::stoi(hostport.substr(hostport.rfind(':') + 1)),
                      "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return r.ok() ? *r : "";
  }

  std::unique_ptr<NetnsLab> lab_;
  std::unique_ptr<LocalCluster> cluster_;
};

void Scale::run() {
  const int players = env_int("BEHAVIOR_SCALE_BOTS", 200);
  const int rate = env_int("BEHAVIOR_SCALE_RATE", 5);
  const int rooms = std::max(1, players / 25);
  LocalClusterOptions o;
  o.bin_dir = BEHAVIOR_BIN_DIR;
  o.redis_ha = true;
  o.redis_password = kPassword;
  o.local_servers = kLocalServers;
  o.gateways = 2;
  o.name_servers = 2;
  o.name_server_args = {"--login-rate", "0"};  // every bot comes from one address
  o.host_of = [this](const std::string& service) {
    auto it = placement().find(service);
    if (it == placement().end()) return Host{};
    return Host{lab_->exec_args(it->second.first)[3], it->second.second};
  };
  cluster_ = std::make_unique<LocalCluster>(o);
  Status started = cluster_->start(60000);
  ASSERT_TRUE(started.ok()) << started.to_string() << "\nlogs in " << cluster_->log_dir();

  // Redis per node-second while idle: heartbeats and what else a quiet cluster does.
  constexpr int kNodes = kLocalServers + 2 + 2;
  auto idle0 = command_calls(redis({"INFO", "commandstats"}));
  const auto i0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  auto idle1 = command_calls(redis({"INFO", "commandstats"}));
  const double idle_s = seconds_since(i0);
  std::printf("[ measured ] Redis while idle, per node-second (%d nodes, heartbeat %d ms): %s\n", kNodes,
              cluster_->heartbeat_ms(), describe_delta(idle0, idle1, idle_s * kNodes).c_str());

  // The players: through both name servers (the bot tries the next when one fails), over
  // TCP, WebSocket and UDP, 25 to a room.
  ChildProcess bot;
  std::vector<std::string> args = lab_->exec_args(kClientHost);  // ip netns exec <ns> bot ...
  const std::string runner = args[0];
  args.erase(args.begin());
  args.insert(args.end(), {std::string(BEHAVIOR_BIN_DIR) + "/bot", "--name-server", cluster_->name_server_urls(),
                           "--players", std::to_string(players), "--duration", "600", "--transports", "tcp,ws,udp",
                           "--rooms", std::to_string(rooms), "--rate", std::to_string(rate),
                           "--drain", "10", "--json", "--max-errors", "1000000", "--progress", "--threads", "2",
                           "--user-prefix", "scale"});
  const auto t0 = SteadyClock::now();
  ASSERT_TRUE(bot.start(runner, args));
  const std::string all_in = "in room " + std::to_string(players) + "/" + std::to_string(players);
  ASSERT_TRUE(bot.wait_for_output(all_in, std::chrono::milliseconds(120000))) << bot.output();
  const double ramp = seconds_since(t0);
  auto joined = command_calls(redis({"INFO", "commandstats"}));
  std::printf("[ measured ] %d players logged in and in their rooms in %.1f s (%.0f logins/s with joins); Redis per "
              "login (activation, ticket, join, heartbeats meanwhile): %s\n",
              players, ramp, players / ramp, describe_delta(idle1, joined, players).c_str());

  // Where the players went: each local server's share against its share of free capacity
  // (all equal here: 1/8).
  int placed = 0, most = 0, fewest = players;
  std::string shares;
  for (int i = 1; i <= kLocalServers; ++i) {
    const std::string names = redis({"SMEMBERS", cluster_->redis_prefix() + "node:" +
                                                     std::to_string(cluster_->node_id("local_server-" + std::to_string(i))) +
                                                     ":names"});
    int users = 0;
    for (size_t at = 0; (at = names.find("user/", at)) != std::string::npos; ++at) ++users;
    placed += users;
    most = std::max(most, users);
    fewest = std::min(fewest, users);
    shares += std::to_string(users) + " ";
  }
  EXPECT_EQ(placed, players) << "every user process is on one local server";
  const double fair = double(players) / kLocalServers;
  const double worst = std::max(most - fair, fair - fewest) / players * 100;
  std::printf("[ measured ] players per local server: %s(fair share %.1f; the furthest is %.1f points of the total "
              "from its share, %.0f%% of the share itself)\n",
              shares.c_str(), fair, worst, std::max(most - fair, fair - fewest) / fair * 100);
  EXPECT_LE(worst, 10.0) << "placement strays more than 10% from the free capacity";

  // Per node: s2s links and memory; per name server: logins.
  std::string links, memory, logins;
  for (const tools::ServiceInfo& s : cluster_->services()) {
    const bool server = s.name.rfind("local_server", 0) == 0 || s.name.rfind("gateway", 0) == 0 ||
                        s.name.rfind("name_server", 0) == 0;
    if (!server) continue;
    const std::string text = s.name.rfind("name_server", 0) == 0 ? name_server_metrics(s.name) : node_metrics(cluster_->node_id(s.name));
    links += s.name + "=" + std::to_string(int(metric_sum(text, "behavior_s2s_connections"))) + " ";
    char mb[32];
    std::snprintf(mb, sizeof mb, "%.1fMB ", rss_kb(s.pid) / 1024.0);
    memory += s.name + "=" + mb;
    if (s.name.rfind("name_server", 0) == 0) {
      logins += s.name + "=" + std::to_string(int(metric_sum(text, "behavior_name_logins_total"))) + " ";
    }
  }
  std::printf("[ measured ] s2s links per node: %s\n[ measured ] memory (RSS) per node: %s\n[ measured ] logins "
              "per name server: %s\n",
              links.c_str(), memory.c_str(), logins.c_str());

  // Play a while: Redis per player-second of play (interval saves of what changed, name
  // lookups that missed the cache, heartbeats); then the kills, one host of each kind in turn.
  const auto p0 = SteadyClock::now();
  const auto play0 = command_calls(redis({"INFO", "commandstats"}));
  std::this_thread::sleep_for(std::chrono::seconds(env_int("BEHAVIOR_SCALE_PLAY_S", 5)));
  const auto play1 = command_calls(redis({"INFO", "commandstats"}));
  std::printf("[ measured ] Redis while %d players play at %d actions/s, per player-second: %s\n", players, rate,
              describe_delta(play0, play1, seconds_since(p0) * players).c_str());
  // `affected`: the players the kill throws out of their room (they log in or join again);
  // every one must be back in a room. None: nobody may have to join again.
  auto survive = [&](const std::string& what, int affected, const std::function<void()>& kill) {
    const Progress before = latest_progress(bot);
    const auto k0 = SteadyClock::now();
    kill();
    std::optional<Progress> back;
    if (affected > 0) {
      back = wait_progress(bot, before.end, std::chrono::milliseconds(60000), [&](const Progress& p) {
        return p.in_room == p.players && p.joins >= before.joins + static_cast<uint64_t>(affected);
      });
    } else {
      std::this_thread::sleep_for(std::chrono::seconds(4));  // a few progress lines
      back = wait_progress(bot, before.end, std::chrono::milliseconds(30000), [&](const Progress& p) {
        return p.in_room == p.players && seconds_since(k0) > 4;
      });
      if (back) {
        EXPECT_EQ(back->joins, before.joins) << "a player had to join again after " << what;
      }
    }
    ASSERT_TRUE(back) << "not every player played again after " << what << " (" << affected << " affected)\n"
                      << cluster_->log_dir();
    std::printf("[ measured ] %s: %d players affected, every player in a room again %.1f s after the kill\n",
                what.c_str(), affected, seconds_since(k0));
  };
  // The players whose process or room is on a local server.
  auto players_on = [&](const std::string& service) {
    const std::string names =
        redis({"SMEMBERS", cluster_->redis_prefix() + "node:" + std::to_string(cluster_->node_id(service)) + ":names"});
    auto owns = [&](const std::string& name) {
      return ("\n" + names + "\n").find("\n" + name + "\n") != std::string::npos;
    };
    int n = 0;
    for (int i = 0; i < players; ++i) {
      n += owns("user/scale-" + std::to_string(i)) || owns("room/bots-" + std::to_string(i % rooms));
    }
    return n;
  };

  // BEHAVIOR_SCALE_KILLS picks and orders them (default "ls,gw,ns,redis").
  const char* kills_env = std::getenv("BEHAVIOR_SCALE_KILLS");
  const std::string kills = kills_env && *kills_env ? kills_env : "ls,gw,ns,redis";
  std::istringstream list(kills);
  for (std::string kill; std::getline(list, kill, ',');) {
    if (kill == "ls") {
      survive("host ls3 (local_server-3) killed", players_on("local_server-3"), [&] { ASSERT_TRUE(cluster_->signal("local_server-3", SIGKILL).ok()); });
    } else if (kill == "gw") {
      const int connected = int(metric_sum(node_metrics(cluster_->node_id("gateway-2")), "behavior_gateway_connections"));
      survive("host gw2 (gateway-2) killed", connected, [&] { ASSERT_TRUE(cluster_->signal("gateway-2", SIGKILL).ok()); });
    } else if (kill == "ns") {
      survive("host ns2 (name_server-2) killed", 0, [&] { ASSERT_TRUE(cluster_->signal("name_server-2", SIGKILL).ok()); });
      EXPECT_TRUE(wait_until([&] { return login(placement().at("name_server").second, cluster_->name_server_port(),
                                                "scale-probe").ok(); },
                             std::chrono::milliseconds(10000)))
          << "logins through the surviving name server";
    } else if (kill == "redis") {
      const auto f0 = SteadyClock::now();
      survive("host r1 (the Redis primary and sentinel-1) killed", 0, [&] {
        ASSERT_TRUE(cluster_->signal("redis", SIGKILL).ok());
        ASSERT_TRUE(cluster_->signal("sentinel-1", SIGKILL).ok());
      });
      EXPECT_TRUE(wait_until([&] { return login(placement().at("name_server").second, cluster_->name_server_port(),
                                                "scale-probe-2").ok(); },
                             std::chrono::milliseconds(30000)))
          << "logins after the failover";
      std::printf("[ measured ] a login works again (at most) %.1f s after the primary's host was killed\n",
                  seconds_since(f0));
    } else {
      ADD_FAILURE() << "BEHAVIOR_SCALE_KILLS: unknown " << kill << " (ls, gw, ns, redis)";
    }
    if (HasFatalFailure()) return;
  }

  rapidjson::Document d;
  std::string output;
  finish_bot(bot, &d, &output);
  if (HasFatalFailure()) return;
  const rapidjson::Value& ping = d["ping_rtt_ms"];
  std::printf("[ measured ] %d players at %d actions/s on %d hosts: echo (PING→PONG) p50 %.1f ms p99 %.1f ms; chat "
              "p99 %.1f ms; %.0f msgs/s received; lost %llu reordered %llu duplicated %llu\n",
              players, rate, hosts(), ping["p50"].GetDouble(), ping["p99"].GetDouble(),
              d["chat_rtt_ms"]["p99"].GetDouble(), d["received_per_s"].GetDouble(),
              static_cast<unsigned long long>(field(d, "lost")), static_cast<unsigned long long>(field(d, "reordered")),
              static_cast<unsigned long long>(field(d, "duplicated")));
  for (const char* stream : {"chat", "pong", "position_reliable"}) {
    const rapidjson::Value& s = d[stream];
    EXPECT_EQ(field(s, "sent"), field(s, "delivered") + field(s, "abandoned_by_reconnect") +
                                    field(s, "abandoned_by_failure"))
        << stream << "\n" << output;
  }
  const std::set<std::string> explained = {"disconnected",   "send_failed",  "error_410",    "process_changed",
                                           "room_lost",      "error_503",    "login_failed", "connect_failed",
                                           "auth_failed",    "join_timeout"};
  std::printf("[ measured ] errors, all explained by the kills: %s\n",
              expect_only_explained_errors(d, output, explained).c_str());
}

TEST_F(Scale, SixteenHostsPlacePlayersEvenlyAndSurviveAKilledHostOfEachKind) {
  Status in = lab_->in(kClientHost, [&] { run(); });
  ASSERT_TRUE(in.ok()) << in.to_string();
}

}  // namespace
}  // namespace behavior::testing
