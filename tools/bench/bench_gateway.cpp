// bench_gateway.cpp — how many idle, authenticated, heartbeating client connections one
// gateway holds, and what each costs in the gateway's memory. Starts redis-server, a
// local_server (the users' processes) and a gateway as separate processes on 127.0.0.1,
// opens N TCP connections (each with its own signed ticket: this tool knows the cluster
// secret it gave them), authenticates them all (each activates a user process), then sends
// one heartbeat on every connection and reads every answer. Prints:
//   behavior gateway_connections n=<N> time=<s>s rate=<conn/s> rss_per_conn=<bytes> heartbeat_rate=<msg/s>
// rss_per_conn = (gateway RSS with N connections − RSS with none) / N.
// Usage: bench_gateway [N]   (default and maximum: what RLIMIT_NOFILE allows both processes)
#include <behavior/client_frame.h>
#include <behavior/message.h>
#include <behavior/ticket.h>
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.h"

using namespace behavior;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int open_nonblocking(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

struct Conn {
  int fd = -1;
  std::string out;  // unsent
  ClientFrameDecoder in{64 * 1024};
  int answers = 0;  // frames received
  bool failed = false;
};

// Drives every connection until each has `want` answers (or fails); returns how many made it.
int pump(int ep, std::vector<Conn>& conns, int want, int seconds) {
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  int done = 0;
  for (auto& c : conns) done += (c.answers >= want || c.failed) ? 1 : 0;
  std::vector<epoll_event> events(4096);
  char buf[16384];
  while (done < static_cast<int>(conns.size()) && Clock::now() < deadline) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[events[i].data.u32];
      if (c.failed || c.answers >= want) continue;
      if (events[i].events & EPOLLOUT && !c.out.empty()) {
        ssize_t w = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (w > 0) c.out.erase(0, static_cast<size_t>(w));
        if (w < 0 && errno != EAGAIN) c.failed = true;
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = recv(c.fd, buf, sizeof buf, 0);
        if (r <= 0 && !(r < 0 && errno == EAGAIN)) c.failed = true;
        if (r > 0) {
          (void)c.in.feed(buf, static_cast<size_t>(r), [&](uint32_t proto, std::string_view) {
            if (proto == proto::kAuth || proto == proto::kHeartbeat) ++c.answers;
            if (proto == proto::kError) c.failed = true;
            return true;
          });
        }
      }
      if (c.failed || c.answers >= want) ++done;
    }
  }
  int ok = 0;
  for (auto& c : conns) ok += (!c.failed && c.answers >= want) ? 1 : 0;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);  // children inherit it
  const long max_n = static_cast<long>(lim.rlim_max) - 200;
  long n = argc > 1 ? std::atol(argv[1]) : max_n;
  if (n > max_n) {
    std::fprintf(stderr, "bench_gateway: %ld connections need more than RLIMIT_NOFILE=%ld; using %ld\n", n,
                 static_cast<long>(lim.rlim_max), max_n);
    n = max_n;
  }
  const std::string dir = bench::self_dir();
  const std::string secret = "bench-" + std::to_string(getpid());
  const std::string prefix = "benchgw" + std::to_string(getpid()) + ":";
  setenv("BEHAVIOR_CLUSTER_SECRET", secret.c_str(), 1);
  const int redis_port = bench::free_port(), gw_port = bench::free_port();
  const std::string redis = "127.0.0.1:" + std::to_string(redis_port);
  pid_t redis_pid = bench::spawn_process({"/usr/bin/redis-server", "--port", std::to_string(redis_port), "--bind",
                                          "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "1000"});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<std::string> common = {"--redis", redis, "--redis-prefix", prefix, "--log-level", "warn"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), common.begin(), common.end());
    return a;
  };
  pid_t local_pid = bench::spawn_process(
      with({dir + "/local_server", "--node-id", "1", "--workers", "1", "--capacity", std::to_string(n * 2)}));
  pid_t gw_pid = bench::spawn_process(with({dir + "/gateway", "--node-id", "40", "--tcp-port", std::to_string(gw_port),
                                            "--ws-port", "-1", "--auth-timeout-ms", "60000", "--idle-timeout-ms",
                                            "600000", "--max-connections", std::to_string(n + 10)}));
  auto ticket = [&](long i) {
    Ticket t;
    t.user = "bench" + std::to_string(i);
    t.node = 1;
    t.gateway = "40";
    t.expires_ms = wall_ms() + 600000;
    t.nonce = std::to_string(getpid()) + "-" + std::to_string(i);
    std::string frame;
    append_client_frame(proto::kAuth, sign_ticket(t, secret), &frame);
    return frame;
  };

  int rc = 1;
  int ep = epoll_create1(0);
  // Warm up: one connection until the gateway accepts AUTH (the cluster view needs a moment).
  bool up = false;
  for (int attempt = 0; attempt < 100 && !up; ++attempt) {
    std::vector<Conn> one(1);
    one[0].fd = open_nonblocking(gw_port);
    one[0].out = ticket(-1 - attempt);
    epoll_event ev{EPOLLIN | EPOLLOUT, {}};
    ev.data.u32 = 0;
    if (one[0].fd >= 0) epoll_ctl(ep, EPOLL_CTL_ADD, one[0].fd, &ev);
    up = one[0].fd >= 0 && pump(ep, one, 1, 1) == 1;
    if (one[0].fd >= 0) close(one[0].fd);
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the closed warm-up settle
    const long base_kb = rss_kb(gw_pid);
    std::vector<Conn> conns(static_cast<size_t>(n));
    auto t0 = Clock::now();
    // Open in waves so the listen backlog (and the kernel) keep up.
    constexpr long kWave = 2000;
    int authed = 0;
    for (long start = 0; start < n; start += kWave) {
      long end = std::min(n, start + kWave);
      std::vector<Conn> wave(static_cast<size_t>(end - start));
      for (long i = start; i < end; ++i) {
        Conn& c = wave[static_cast<size_t>(i - start)];
        c.fd = open_nonblocking(gw_port);
        c.out = ticket(i);
        if (c.fd < 0) {
          c.failed = true;
          continue;
        }
        epoll_event ev{EPOLLIN | EPOLLOUT, {}};
        ev.data.u32 = static_cast<uint32_t>(i - start);
        epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      }
      authed += pump(ep, wave, 1, 60);
      for (long i = start; i < end; ++i) {
        Conn& c = wave[static_cast<size_t>(i - start)];
        if (c.fd >= 0) epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        conns[static_cast<size_t>(i)] = std::move(c);
      }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long full_kb = rss_kb(gw_pid);
    // One heartbeat on every connection, every answer read.
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (c.fd < 0 || c.failed) continue;
      append_client_frame(proto::kHeartbeat, "hb", &c.out);
      epoll_event ev{EPOLLIN | EPOLLOUT, {}};
      ev.data.u32 = static_cast<uint32_t>(i);
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    auto h0 = Clock::now();
    int beats = pump(ep, conns, 2, 60);
    double hsecs = std::chrono::duration<double>(Clock::now() - h0).count();
    std::printf(
        "behavior gateway_connections n=%d time=%.3fs rate=%.0f conn/s rss_per_conn=%.0f bytes heartbeat_rate=%.0f "
        "msg/s heartbeats_answered=%d gateway_rss_mb=%.1f\n",
        authed, secs, authed / secs, authed ? (full_kb - base_kb) * 1024.0 / authed : 0.0, beats / hsecs, beats,
        full_kb / 1024.0);
    rc = authed == n && beats == n ? 0 : 1;
    for (auto& c : conns) {
      if (c.fd >= 0) close(c.fd);
    }
  } else {
    std::fprintf(stderr, "bench_gateway: the gateway never accepted a login\n");
  }
  for (pid_t p : {gw_pid, local_pid, redis_pid}) {
    kill(p, SIGTERM);
    waitpid(p, nullptr, 0);
  }
  return rc;
}
