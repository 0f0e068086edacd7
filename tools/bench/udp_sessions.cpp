// udp_sessions.cpp — see udp_sessions.h. A worker opens its sockets (bound to its own
// loopback address, connected to the gateway), authenticates them in waves of 1000 (the
// gateway's socket buffer drops what it cannot take at once; unanswered AUTHs are resent),
// then on command sends one heartbeat through each session's KCP and counts the answers,
// driving KCP's retransmissions and acknowledging what the gateway sends.
#include "udp_sessions.h"

#include <behavior/timer_wheel.h>

#include <arpa/inet.h>
#include <behavior/client_frame.h>
#include <behavior/kcp.h>
#include <behavior/message.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

namespace behavior::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kFirstPort = 10000;  // a worker's sockets use kFirstPort.. on its own address

uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
}
uint32_t now32() { return static_cast<uint32_t>(now_ms()); }  // KCP's clock: the low 32 bits

struct Session {
  int fd = -1;
  uint32_t conv = 0;
  bool failed = false;
  int beats = 0;
  std::unique_ptr<Kcp> kcp;
  uint64_t wheel_tick = 0;  // in the worker's wheel, as the gateway keeps its sessions
};

class SessionSet {
 public:
  SessionSet(int index, long first, long count, int port, const std::function<std::string(long)>& ticket)
      : first_(first), sessions_(static_cast<size_t>(count)), ticket_(ticket) {
    ep_ = epoll_create1(0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + static_cast<uint32_t>(index));  // 127.0.0.2, .3, ...
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (size_t i = 0; i < sessions_.size(); ++i) {
      Session& s = sessions_[i];
      // Explicit ports below the ephemeral range: 200k sockets bound to port 0 took every
      // ephemeral port (on some address), and then no other program could bind a UDP socket.
      src.sin_port = htons(static_cast<uint16_t>(kFirstPort + i));
      s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      if (s.fd < 0 || bind(s.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
          connect(s.fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
        s.failed = true;
        continue;
      }
      epoll_event ev{EPOLLIN, {}};
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_ADD, s.fd, &ev);
    }
  }

  long authenticate() {
    constexpr size_t kWave = 1000;
    long ok = 0;
    for (size_t start = 0; start < sessions_.size(); start += kWave) {
      const size_t end = std::min(sessions_.size(), start + kWave);
      for (size_t i = start; i < end; ++i) settled_ += sessions_[i].failed ? 1 : 0;  // no socket
      for (int round = 0; round < 20; ++round) {
        size_t waiting = 0;
        for (size_t i = start; i < end; ++i) {
          Session& s = sessions_[i];
          if (s.failed || s.conv) continue;
          ++waiting;
          const std::string hello = udp_control(kUdpAuth, 0, ticket_(first_ + static_cast<long>(i)));
          (void)send(s.fd, hello.data(), hello.size(), 0);
        }
        if (waiting == 0) break;
        // Counters, not a scan: done() runs after every wake-up.
        pump(Clock::now() + std::chrono::milliseconds(500), [&] { return settled_ >= end; });
      }
    }
    for (const Session& s : sessions_) ok += s.conv && !s.failed ? 1 : 0;
    return ok;
  }

  // Heartbeats paced at `per_second` (this worker's share), as idle clients spread over a
  // heartbeat interval send them, rather than all at the same instant.
  long heartbeat(double per_second) {
    std::string frame;
    append_client_frame(proto::kHeartbeat, "hb", &frame);
    const auto t0 = Clock::now();
    size_t next = 0, with_kcp = 0;
    for (const Session& s : sessions_) with_kcp += s.kcp && !s.failed ? 1 : 0;
    pump(Clock::now() + std::chrono::seconds(240), [&] {
      const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      const size_t due = std::min(sessions_.size(), static_cast<size_t>(elapsed * per_second) + 1);
      const uint64_t now = now_ms();
      for (; next < due; ++next) {
        Session& s = sessions_[next];
        if (!s.kcp) continue;
        (void)s.kcp->send(std::string_view(frame).substr(4));  // a KCP message is protoID | body
        flush(s, now);
      }
      return next == sessions_.size() && answered_ >= with_kcp;
    });
    return static_cast<long>(answered_);
  }

 private:
  // Flushes a session's KCP and puts it in the wheel for its next retransmission, if any.
  void flush(Session& s, uint64_t now) {
    s.kcp->flush(static_cast<uint32_t>(now));
    uint32_t in_ms;
    if (s.kcp->next_timer(static_cast<uint32_t>(now), &in_ms)) wheel_.schedule(&s, now + in_ms);
  }

  // Reads datagrams until `done()` or `deadline`; every 10 ms, KCP's timers.
  template <class Done>
  void pump(Clock::time_point deadline, Done done) {
    std::vector<epoll_event> events(4096);
    char buf[2048];
    auto next_update = Clock::now();
    while (Clock::now() < deadline && !done()) {
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 10);
      for (int k = 0; k < n; ++k) {
        Session& s = sessions_[events[k].data.u64];
        ssize_t got;
        while ((got = recv(s.fd, buf, sizeof buf, 0)) > 0) on_datagram(s, std::string_view(buf, static_cast<size_t>(got)));
      }
      if (Clock::now() >= next_update) {  // only the sessions whose retransmission came due
        const uint64_t now = now_ms();
        wheel_.advance(now, [&](Session* s) { flush(*s, now); });
        next_update = Clock::now() + std::chrono::milliseconds(10);
      }
    }
  }

  void on_datagram(Session& s, std::string_view d) {
    uint32_t conv = 0;
    if (!Kcp::peek_conv(d, &conv)) return;
    if (conv == 0) {
      uint8_t type;
      std::string_view rest;
      if (d.size() >= 5 && static_cast<uint8_t>(d[4]) == kUdpError) {
        if (!s.failed && !s.kcp) ++settled_;
        s.failed = true;
      } else if (parse_udp_control(d, true, &type, &conv, &rest) && type == kUdpAuth && conv != 0 && !s.kcp) {
        if (!s.failed) ++settled_;
        s.conv = conv;
        const int fd = s.fd;
        s.kcp = std::make_unique<Kcp>(conv, [fd](std::string_view datagram) {
          (void)send(fd, datagram.data(), datagram.size(), 0);
        });
        s.kcp->set_nodelay(true, 10, 2, true);
        (void)s.kcp->set_mtu(1200);
      }
      return;
    }
    if (!s.kcp || !s.kcp->input(d, now32()).ok()) return;
    std::string message;
    while (s.kcp->receive(&message)) {
      uint32_t proto;
      std::string_view body;
      if (split_client_payload(message, &proto, &body) && proto == proto::kHeartbeat && s.beats++ == 0) ++answered_;
    }
    flush(s, now_ms());  // acknowledge at once
  }

  long first_;
  std::vector<Session> sessions_;
  TimerWheel<Session> wheel_{1024, 10};  // sessions waiting for a retransmission
  size_t settled_ = 0;             // sessions whose AUTH was answered (either way)
  size_t answered_ = 0;            // sessions whose heartbeat came back
  const std::function<std::string(long)>& ticket_;
  int ep_ = -1;
};

bool read_line(int fd, std::string* line) {
  line->clear();
  char c;
  while (read(fd, &c, 1) == 1) {
    if (c == '\n') return true;
    line->push_back(c);
  }
  return false;
}

}  // namespace

UdpSessionWorkers::UdpSessionWorkers(long sessions, long per_worker, int gateway_port,
                                     std::function<std::string(long)> ticket, double heartbeats_per_second) {
  const double workers = std::max(1.0, std::ceil(double(sessions) / double(per_worker)));
  for (long first = 0, index = 0; first < sessions; first += per_worker, ++index) {
    int cmd[2], report[2];
    if (pipe(cmd) != 0 || pipe(report) != 0) break;
    const long count = std::min(per_worker, sessions - first);
    pid_t pid = fork();
    if (pid == 0) {
      close(cmd[1]);
      close(report[0]);
      // The clients stand for machines elsewhere: they yield the cores to the gateway (and
      // its local_server) instead of taking a share each (12 of them for 200k sessions).
      (void)setpriority(PRIO_PROCESS, 0, 10);
      SessionSet w(static_cast<int>(index), first, count, gateway_port, ticket);
      char c;
      while (read(cmd[0], &c, 1) == 1) {
        long n = c == 'a' ? w.authenticate() : c == 'h' ? w.heartbeat(heartbeats_per_second / workers) : -1;
        if (n < 0) break;
        std::fprintf(stderr, "udp-sessions worker %ld (127.0.0.%ld): %s %ld of %ld\n", index, index + 2,
                     c == 'a' ? "authenticated" : "heartbeats answered", n, count);
        char line[32];
        int len = std::snprintf(line, sizeof line, "%ld\n", n);
        if (write(report[1], line, static_cast<size_t>(len)) != len) break;
      }
      _exit(0);
    }
    close(cmd[0]);
    close(report[1]);
    workers_.push_back({pid, cmd[1], report[0]});
  }
}

UdpSessionWorkers::~UdpSessionWorkers() {
  for (Worker& w : workers_) {
    close(w.cmd);  // the worker's read ends: it exits
    close(w.report);
  }
  for (Worker& w : workers_) waitpid(w.pid, nullptr, 0);
}

long UdpSessionWorkers::phase(char cmd) {
  for (Worker& w : workers_) {
    if (write(w.cmd, &cmd, 1) != 1) return -1;
  }
  long total = 0;
  for (Worker& w : workers_) {
    std::string line;
    if (read_line(w.report, &line)) total += std::atol(line.c_str());
  }
  return total;
}

long UdpSessionWorkers::authenticate() { return phase('a'); }
long UdpSessionWorkers::heartbeat() { return phase('h'); }

}  // namespace behavior::bench
