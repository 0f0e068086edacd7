// main.cpp — launch: the whole cluster on this machine in one command. Starts redis-server,
// two local servers, a gateway and the name server (tools/launch/local_cluster.h), prints
// where each listens, runs the bots against it and shows their summary, then stops
// everything cleanly (also on Ctrl-C). Exit status: the bots' (0 = zero loss, no errors).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <behavior/cli.h>
#include "local_cluster.h"
#include "rolling.h"

namespace {

std::string own_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

// Waits for the bot (pid > 0) to finish, or for SIGINT/SIGTERM (blocked, taken with
// sigtimedwait); with no bot, only for the signal. A service that dies meanwhile is reported
// at once, with the end of its log. Returns the bot's exit code, 130 when the bots were
// interrupted (they are told to stop and print their summary first), or 0. With `seconds`
// >= 0 it returns kStillRunning once that long has passed with the bot still playing.
constexpr int kStillRunning = -1;
int wait_for(pid_t bot, behavior::tools::LocalCluster& cluster, double seconds = -1) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  bool interrupted = false;
  for (;;) {
    if (bot > 0) {
      int status = 0;
      if (::waitpid(bot, &status, WNOHANG) == bot) {
        if (interrupted) return 130;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    for (const std::string& report : cluster.reap_exited()) {
      std::fprintf(stderr, "\nlaunch: %s\n", report.c_str());
      std::fflush(stderr);
    }
    if (seconds >= 0 && !interrupted && std::chrono::steady_clock::now() >= until) return kStillRunning;
    timespec tick{0, 100 * 1000 * 1000};
    if (::sigtimedwait(&set, nullptr, &tick) > 0) {
      if (bot <= 0) return 0;
      if (!interrupted) {
        interrupted = true;
        std::printf("\nlaunch: interrupted, stopping the bots and the cluster\n");
        ::kill(bot, SIGINT);
      }
    }
  }
}

bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

void print_cluster(behavior::tools::LocalCluster& cluster) {
  rapidjson::Document doc;
  std::string body = cluster.name_server_get("/v1/cluster");
  if (doc.Parse(body.c_str()).HasParseError() || !doc.IsObject() || !doc.HasMember("nodes")) return;
  std::printf("%-6s %-8s %-22s %10s %12s\n", "node", "kind", "s2s", "processes", "connections");
  for (const auto& n : doc["nodes"].GetArray()) {
    std::printf("%-6u %-8s %-22s %10lu %12lu\n", n["id"].GetUint(), n["kind"].GetString(),
                n["s2s"].GetString(), static_cast<unsigned long>(n["processes"].GetUint64()),
                static_cast<unsigned long>(n["connections"].GetUint64()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  behavior::tools::LocalClusterOptions o;
  o.bin_dir = own_dir();
  // Every bot logs in from 127.0.0.1: the name server's per-address login limit (meant for
  // the internet) would only throttle them here.
  o.name_server_args = {"--login-rate", "0"};
  o.name_server_port = 8080;
  int bots = 60, duration = 20, rooms = 0, reconnects = 1;  // rooms 0: one per 25 bots
  double rate = 10;
  std::string transports = "tcp,ws,udp";
  bool forever = false;
  std::vector<std::string> bot_args;
  double roll_after = -1;
  std::string roll_bin;
  CLI::App app{
      "launch: redis-server, name server, gateway and local servers on this machine, with bots"};
  behavior::add_version_flag(app, "launch");
  app.add_option("--bin-dir", o.bin_dir, "Where the binaries are (default: next to launch)")
      ->capture_default_str();
  app.add_option("--kinds-lib", o.kinds_libs,
                 "Your game: a kinds library every local server loads (repeatable; default: the demo game)")
      ->check(CLI::ExistingFile);
  app.add_option("--local-server-arg", o.local_server_args, "Extra flag for every local server (repeatable)");
  app.add_option("--log-dir", o.log_dir,
                 "Folder for every service's log (default: a new temporary one)");
  app.add_option("--redis", o.redis, "Use this Redis (host:port) instead of starting redis-server");
  app.add_option("--redis-password", o.redis_password, "Redis AUTH password")
      ->envname("BEHAVIOR_REDIS_PASSWORD");
  app.add_flag("--redis-ha", o.redis_ha,
               "Redis with Sentinel: a primary, a replica and three sentinels (quorum 2); the servers "
               "follow a failover")
      ->excludes("--redis");
  app.add_option("--redis-master-name", o.redis_master_name, "With --redis-ha: the master name the sentinels monitor")
      ->capture_default_str();
  app.add_option("--local-servers", o.local_servers, "How many local servers")
      ->capture_default_str()
      ->check(behavior::integer_in(1, 50));
  app.add_option("--gateways", o.gateways, "How many gateways")
      ->capture_default_str()
      ->check(behavior::integer_in(1, 10));
  app.add_option("--name-server-port", o.name_server_port,
                 "Name server HTTP port (0 = a free one; if busy, a free one)")
      ->capture_default_str();
  app.add_option("--gateway-tcp-port", o.gateway_tcp_port,
                 "First gateway's TCP port (0 = a free one)");
  app.add_option("--gateway-ws-port", o.gateway_ws_port,
                 "First gateway's WebSocket port (0 = a free one)");
  app.add_option("--gateway-udp-port", o.gateway_udp_port,
                 "First gateway's UDP port (0 = a free one)");
  app.add_option("--log-level", o.log_level, "Servers' log level")->capture_default_str();
  app.add_option("--bots", bots, "Bot players (0 = none: run until Ctrl-C)")
      ->capture_default_str()
      ->check(behavior::integer_in(0, 20000));
  app.add_option("--duration", duration, "Seconds the bots play")
      ->capture_default_str()
      ->check(behavior::integer_in(1, 86400));
  app.add_option("--transports", transports, "Bots' transports, round-robin")
      ->capture_default_str();
  app.add_option("--rooms", rooms, "Rooms the bots spread over (0: one per 25 bots, at least one)")
      ->capture_default_str()
      ->check(behavior::integer_in(0, 100000));
  app.add_option("--rate", rate, "Actions per bot per second")->capture_default_str();
  app.add_option("--reconnects", reconnects, "Reconnects per bot during the run")
      ->capture_default_str();
  app.add_flag("--tls", o.tls,
               "TLS with a self-signed pair made in the log folder: https name server, wss gateways, bots "
               "over https/wss trusting it (--tls-ca)");
  app.add_flag("--keep-running", forever, "After the bots, keep the cluster up until Ctrl-C");
  app.add_option("--bot-arg", bot_args, "Extra flag for the bot (repeatable)");
  app.add_option("--roll-after", roll_after,
                 "Rolling upgrade: this many seconds into the bots' run, replace every local server in turn "
                 "(start a new one, evacuate the old one with live migration, stop it) and print the timings")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--roll-bin", roll_bin, "The new local_server binary of the roll (default: the same one)")
      ->check(CLI::ExistingFile);
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;

  // Signals are taken synchronously (sigtimedwait); children unblock them after fork.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);

  if (o.name_server_port != 0 && !port_free(o.name_server_port)) {
    std::printf("launch: port %d is taken; the name server takes a free one\n", o.name_server_port);
    o.name_server_port = 0;
  }
  behavior::tools::LocalCluster cluster(o);
  std::printf("launch: %s, %d local server(s), %d gateway(s) and the name server\n",
              o.redis_ha       ? "starting redis-server (primary, replica, 3 sentinels)"
              : o.redis.empty() ? "starting redis-server"
                                : ("using Redis at " + o.redis).c_str(),
              o.local_servers,
              o.gateways);
  std::fflush(stdout);
  behavior::Status started = cluster.start();
  if (!started.ok()) {
    std::fprintf(stderr, "launch: %s\n", started.to_string().c_str());
    cluster.stop();
    return 1;
  }
  std::printf("\n%-16s %-8s %s\n", "service", "pid", "listens on");
  for (const auto& s : cluster.services())
    std::printf("%-16s %-8d %s\n", s.name.c_str(), s.pid, s.listens.c_str());
  std::printf("\ndashboard:  %s/\nplay:       %s/play   (a browser client of the demo game)\n",
              cluster.name_server_url().c_str(), cluster.name_server_url().c_str());
  std::printf("logs:       %s\nctl:        set -a; . %s; set +a; %s/ctl nodes\n",
              cluster.log_dir().c_str(), cluster.env_file().c_str(), o.bin_dir.c_str());
  if (o.tls) {
    std::printf("tls:        self-signed %s (key %s); a browser asks once to accept it\n",
                cluster.tls_cert().c_str(), cluster.tls_key().c_str());
  }
  std::printf("\n");
  std::fflush(stdout);

  int code = 0;
  // 25 players to a room, as the demo is meant to be played: 1,000 bots in 4 rooms of 250
  // made every action a fan-out of 250 and saturated the box (docs/tools.md).
  if (rooms == 0) rooms = std::max(1, (bots + 24) / 25);
  if (bots > 0) {
    std::vector<std::string> args = {
        o.bin_dir + "/bot",   "--name-server", cluster.name_server_url(), "--players",
        std::to_string(bots), "--duration",    std::to_string(duration),  "--transports",
        transports,           "--rooms",       std::to_string(rooms),     "--rate",
        std::to_string(rate), "--reconnects",  std::to_string(reconnects)};
    if (o.tls) args.insert(args.end(), {"--tls", "--tls-ca", cluster.tls_cert()});
    args.insert(args.end(), bot_args.begin(), bot_args.end());
    std::printf("launch: %d bots play for %d s over %s in %d room(s)\n", bots, duration,
                transports.c_str(), rooms);
    std::fflush(stdout);
    pid_t bot = ::fork();
    if (bot == 0) {
      sigset_t none;
      sigemptyset(&none);
      ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
      std::vector<char*> cargv;
      for (auto& a : args) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      std::fprintf(stderr, "launch: cannot run %s: %s\n", cargv[0], std::strerror(errno));
      ::_exit(127);
    }
    bool roll_failed = false;
    if (roll_after >= 0) {
      code = wait_for(bot, cluster, roll_after);
      if (code == kStillRunning) {
        std::printf("launch: rolling upgrade of %zu local server(s)%s\n", cluster.running_local_servers().size(),
                    roll_bin.empty() ? "" : (" to " + roll_bin).c_str());
        std::fflush(stdout);
        behavior::tools::RollOptions ro;
        ro.binary = roll_bin;
        ro.log = [](const std::string& line) {
          std::printf("launch: %s\n", line.c_str());
          std::fflush(stdout);
        };
        behavior::tools::RollReport so_far;
        auto rolled = behavior::tools::roll_local_servers(cluster, ro, &so_far);
        std::printf("\n%s", behavior::tools::describe(so_far).c_str());
        if (!rolled.ok()) {
          roll_failed = true;
          std::fprintf(stderr, "launch: the rolling upgrade stopped: %s\n", rolled.status().message().c_str());
        }
        std::fflush(stdout);
        code = wait_for(bot, cluster);
      } else {
        roll_failed = true;
        std::fprintf(stderr, "launch: the bots ended before --roll-after %.1f s: nothing was rolled\n", roll_after);
      }
    } else {
      code = wait_for(bot, cluster);
    }
    if (roll_failed && code == 0) code = 1;
    std::printf("\nlaunch: the cluster after the run\n");
    print_cluster(cluster);
  }
  if (bots == 0 || forever) {
    std::printf("launch: running; Ctrl-C stops everything\n");
    std::fflush(stdout);
    wait_for(-1, cluster);
  }
  std::printf("launch: stopping\n");
  std::fflush(stdout);
  bool clean = cluster.stop();
  std::printf("launch: %s; logs in %s\n",
              clean ? "every service stopped cleanly" : "some service did not stop cleanly",
              cluster.log_dir().c_str());
  if (!clean && code == 0) code = 1;
  return code;
}
