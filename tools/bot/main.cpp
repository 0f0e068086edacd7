// main.cpp — bot: simulates N players of the demo game against a running cluster, checks
// every reliable message (see bot_checker.h), prints progress and a PASS/FAIL summary.
#include <arpa/inet.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <optional>
#include <cstdio>
#include <random>
#include <sstream>
#include <thread>

#include <behavior/cli.h>
#include "bot_driver.h"
#include "bot_report.h"

namespace behavior::bot {
namespace {

std::atomic<bool> stop_requested{false};

// The first SIGINT/SIGTERM ends play early (drain, then the summary); a second one kills.
extern "C" void on_stop_signal(int sig) {
  stop_requested.store(true);
  std::signal(sig, SIG_DFL);
}

// "http://host:port[/]" or "host:port"; the host must be an IPv4 address (or localhost),
// as the client library dials IPv4 only.
bool parse_name_server(const std::string& url, Config* config, std::string* error) {
  std::string rest = url;
  int port = 80;
  if (rest.starts_with("https://")) {
    rest = rest.substr(8);
    config->https_login = true;
    port = 443;
  } else if (rest.starts_with("http://")) {
    rest = rest.substr(7);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string digits = rest.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos ||
        (port = std::stoi(digits)) < 1 || port > 65535) {
      *error = "--name-server: bad port in " + url;
      return false;
    }
  }
  if (host == "localhost") host = "127.0.0.1";
  in_addr addr{};
  if (inet_pton(AF_INET, host.c_str(), &addr) != 1) {
    *error = "--name-server: the host must be an IPv4 address, got \"" + host + "\" in " + url;
    return false;
  }
  config->name_server_host = host;
  config->name_server_port = port;
  return true;
}

bool parse_transports(const std::string& list, Config* config, std::string* error) {
  config->transports.clear();
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "tcp") {
      config->transports.push_back(Transport::kTcp);
    } else if (item == "ws" || item == "websocket") {
      config->transports.push_back(Transport::kWebSocket);
    } else if (item == "udp" || item == "kcp") {
      config->transports.push_back(Transport::kUdp);
    } else {
      *error = "--transports: unknown transport \"" + item + "\" (tcp, ws, udp)";
      return false;
    }
  }
  if (config->transports.empty()) {
    *error = "--transports: name at least one of tcp, ws, udp";
    return false;
  }
  return true;
}

// Hundreds of players need as many sockets; the soft limit is often 1024.
void raise_fd_limit(int players) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  const rlim_t want = static_cast<rlim_t>(players) * 2 + 64;
  if (r.rlim_cur >= want) return;
  r.rlim_cur = std::min(r.rlim_max, want);
  ::setrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < want) {
    console_line("bot: warning: the open-file limit " + std::to_string(r.rlim_cur) + " may be too low for " +
                 std::to_string(players) + " players");
  }
}

std::string rate_text(double v) {
  char buf[32];
  if (v >= 10000) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

// Exit codes: 0 PASS, 1 FAIL (loss, reordering, duplicates, or errors over --max-errors),
// 2 bad flags.
int run(int argc, char** argv) {
  Config config;
  std::string name_server = "http://127.0.0.1:8080";
  std::string transports = "tcp,ws,udp";
  std::optional<uint64_t> seed;

  CLI::App app{"behavior bot: simulated players of the demo game; checks that no reliable message is lost, "
               "duplicated or reordered, and measures round trips. Exit code 0 PASS, 1 FAIL, 2 bad flags."};
  behavior::add_version_flag(app, "bot");
  app.add_option("--name-server", name_server,
                 "The name server's URL (http:// or https://IPv4:port); several, comma-separated: a login that "
                 "gets no answer from one is tried at the next")
      ->envname("BEHAVIOR_NAME_SERVER")
      ->capture_default_str();
  app.add_option("--players", config.players, "Simulated players")
      ->envname("BEHAVIOR_BOT_PLAYERS")
      ->check(behavior::integer_in(1, 100000))
      ->capture_default_str();
  app.add_option("--duration", config.duration_s, "Seconds of play (then a drain phase, see --drain)")
      ->envname("BEHAVIOR_BOT_DURATION")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--transports", transports, "Comma-separated tcp, ws, udp; players take them round-robin")
      ->envname("BEHAVIOR_BOT_TRANSPORTS")
      ->capture_default_str();
  app.add_option("--rooms", config.rooms, "Players are spread over rooms <room-prefix>-0 .. -<rooms-1>")
      ->envname("BEHAVIOR_BOT_ROOMS")
      ->check(behavior::integer_in(1, 100000))
      ->capture_default_str();
  app.add_option("--room-prefix", config.room_prefix, "Room names start with this")
      ->envname("BEHAVIOR_BOT_ROOM_PREFIX")
      ->capture_default_str();
  app.add_option("--rate", config.rate, "Actions (move 60%, chat 25%, ping 15%) per player per second")
      ->envname("BEHAVIOR_BOT_RATE")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--reconnects", config.reconnects,
                 "Deliberate reconnects per player during play (drop, log in again, rejoin)")
      ->envname("BEHAVIOR_BOT_RECONNECTS")
      ->check(behavior::integer_in(0, 1000))
      ->capture_default_str();
  app.add_option("--user-prefix", config.user_prefix, "User names are <user-prefix>-<n>")
      ->envname("BEHAVIOR_BOT_USER_PREFIX")
      ->capture_default_str();
  app.add_option("--password", config.password, "Password for every player (a dev-auth name server takes any)")
      ->envname("BEHAVIOR_BOT_PASSWORD");
  app.add_option("--max-errors", config.max_errors, "Errors tolerated before the result is FAIL")
      ->envname("BEHAVIOR_BOT_MAX_ERRORS")
      ->capture_default_str();
  app.add_option("--state-window-ms", config.state_window_ms,
                 "After a failure, how long before its last confirmed move a player's restored position may be "
                 "(the server's save interval plus margin; docs/durable.md)")
      ->check(CLI::Range(int64_t{0}, int64_t{600000}));
  app.add_flag("--json", config.json, "Print the summary as one JSON object")->envname("BEHAVIOR_BOT_JSON");
  app.add_option("--threads", config.threads, "Threads driving players (one event loop each)")
      ->envname("BEHAVIOR_BOT_THREADS")
      ->check(behavior::integer_in(1, 256))
      ->capture_default_str();
  app.add_option("--setup-threads", config.setup_threads, "Threads doing the blocking login, connect and AUTH")
      ->envname("BEHAVIOR_BOT_SETUP_THREADS")
      ->check(behavior::integer_in(1, 256))
      ->capture_default_str();
  app.add_flag("--progress,!--no-progress", config.progress, "A live progress line on stderr")
      ->envname("BEHAVIOR_BOT_PROGRESS")
      ->capture_default_str();
  app.add_option("--seed", seed, "Seed for the players' scripts (default: random, printed)")
      ->envname("BEHAVIOR_BOT_SEED");
  app.add_option("--warmup", config.warmup_s, "Seconds at the start of play whose round trips are not sampled (the ramp)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--drain", config.drain_s, "Seconds to wait after play for messages still in flight")
      ->envname("BEHAVIOR_BOT_DRAIN")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  std::string tls_ca;
  bool tls_insecure = false;
  app.add_flag("--tls", config.require_tls,
               "TLS only: log in over https (whatever --name-server says), play WebSocket over wss and TCP "
               "over the gateway's TLS port (tcps); UDP stays as it is")
      ->envname("BEHAVIOR_BOT_TLS");
  app.add_option("--tls-ca", tls_ca, "PEM CA file to verify the name server's and gateway's certificates "
                                     "(default: the system's store)")
      ->envname("BEHAVIOR_TLS_CA");
  app.add_flag("--tls-insecure", tls_insecure, "Do not verify certificates at all (a self-signed pair, local use)");
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  std::string error;
  // A comma-separated list: each one parsed alone; the first is the one players start with.
  for (size_t from = 0; from <= name_server.size();) {
    size_t comma = name_server.find(',', from);
    if (comma == std::string::npos) comma = name_server.size();
    if (!parse_name_server(name_server.substr(from, comma - from), &config, &error)) {
      std::fprintf(stderr, "bot: %s\n", error.c_str());
      return 2;
    }
    config.name_servers.emplace_back(config.name_server_host, config.name_server_port);
    from = comma + 1;
  }
  config.name_server_host = config.name_servers.front().first;
  config.name_server_port = config.name_servers.front().second;
  if (!parse_transports(transports, &config, &error)) {
    std::fprintf(stderr, "bot: %s\n", error.c_str());
    return 2;
  }
  if (config.require_tls) config.https_login = true;
  if (auto ctx = TlsContext::client(tls_ca, tls_insecure); ctx.ok()) {
    config.tls = *ctx;
  } else {
    std::fprintf(stderr, "bot: %s\n", ctx.status().message().c_str());
    return 2;
  }
  if (config.user_prefix.empty() || config.room_prefix.empty()) {
    std::fprintf(stderr, "bot: --user-prefix and --room-prefix must not be empty\n");
    return 2;
  }
  config.seed = seed ? *seed : std::random_device{}();

  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  raise_fd_limit(config.players);

  // Players round-robin over transports, rooms and driver threads.
  std::vector<std::vector<PlayerSpec>> per_driver(static_cast<size_t>(config.threads));
  for (int i = 0; i < config.players; ++i) {
    PlayerSpec spec;
    spec.index = static_cast<size_t>(i);
    spec.user = config.user_prefix + "-" + std::to_string(i);
    spec.transport = config.transports[static_cast<size_t>(i) % config.transports.size()];
    spec.room = config.room_prefix + "-" + std::to_string(i % config.rooms);
    per_driver[static_cast<size_t>(i % config.threads)].push_back(std::move(spec));
  }

  LiveCounters live;
  const int64_t start_us = now_us();
  Tally total;
  {
    Setup setup(config, std::min(config.setup_threads, config.players));
    std::vector<std::unique_ptr<Driver>> drivers;
    for (auto& specs : per_driver) {
      if (specs.empty()) continue;
      drivers.push_back(std::make_unique<Driver>(config, setup, live, std::move(specs), start_us, stop_requested));
    }
    std::atomic<size_t> running{drivers.size()};
    std::vector<std::thread> threads;
    for (auto& d : drivers) {
      threads.emplace_back([&running, driver = d.get()] {
        driver->run();
        running.fetch_sub(1);
      });
    }
    // The progress line, once a second, until every driver is done.
    uint64_t last_sent = 0, last_received = 0;
    int64_t last_us = start_us;
    int64_t next_us = start_us + 1'000'000;
    while (running.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const int64_t now = now_us();
      if (now < next_us || !config.progress) continue;
      next_us += 1'000'000;
      const uint64_t sent = live.sent.load(), received = live.received.load();
      const double dt = static_cast<double>(now - last_us) / 1e6;
      const double t = static_cast<double>(now - start_us) / 1e6;
      char line[256];
      std::snprintf(line, sizeof line,
                    "bot %5.1fs %s  in room %lld/%d  sent %s msg/s  received %s msg/s  logins %llu  joins %llu  "
                    "errors %llu",
                    t, t < config.duration_s && !stop_requested ? "playing " : "draining",
                    static_cast<long long>(live.connected.load()), config.players,
                    rate_text(static_cast<double>(sent - last_sent) / dt).c_str(),
                    rate_text(static_cast<double>(received - last_received) / dt).c_str(),
                    static_cast<unsigned long long>(live.logins.load()),
                    static_cast<unsigned long long>(live.joins.load()),
                    static_cast<unsigned long long>(live.errors.load()));
      console_progress(line, false);
      last_sent = sent;
      last_received = received;
      last_us = now;
    }
    for (auto& t : threads) t.join();
    if (config.progress && now_us() >= start_us + 1'000'000) {
      console_progress("bot: finished after " + std::to_string((now_us() - start_us) / 1000) + " ms", true);
    }
    for (auto& d : drivers) total.merge(d->tally());
  }
  const double elapsed_s = static_cast<double>(now_us() - start_us) / 1e6;
  print_report(stdout, config, total, elapsed_s);
  return passed(config, total) ? 0 : 1;
}

}  // namespace
}  // namespace behavior::bot

int main(int argc, char** argv) { return behavior::bot::run(argc, argv); }
