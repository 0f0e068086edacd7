// bench_gateway.cpp — how many idle, authenticated, heartbeating client connections one
// gateway holds, and what each costs in the gateway's memory. Starts redis-server, a
// local_server (the users' processes) and a gateway as separate processes on 127.0.0.1,
// opens N TCP connections (each with its own signed ticket: this tool knows the cluster
// secret it gave them), authenticates them all (each activates a user process), then sends
// one heartbeat on every connection and reads every answer. Prints:
//   behavior gateway_connections n=<N> time=<s>s rate=<conn/s> rss_per_conn=<bytes> heartbeat_rate=<msg/s>
// rss_per_conn = (gateway RSS with N connections − RSS with none) / N.
// echo: 64-byte frames from 32 connections through gateway → user process → client, at a
// fixed 50k msg/s (p50/p99) and as fast as a window allows (msg/s), next to the same client
// against a minimal raw libuv echo server speaking the same frames (no process, no cluster).
// Each echo line also gives the CPU time per message answered of each side (µs, from
// /proc/<pid>/task/*/schedstat): on a saturated machine shared by the client and the
// servers, CPU per message compares the servers' costs where msg/s mostly shows the share
// of the cores each got.
// udp-sessions: the same for UDP (KCP) sessions, which cost the gateway no descriptor: N
// sessions (default 200k) from worker processes on 127.0.0.2, .3, ... (udp_sessions.h),
// AUTH then one heartbeat each over KCP; prints rss_per_session the same way.
// ws-echo: the cost of TLS on the WebSocket port: the same 64-byte echo through gateway and
// user process, from C++ client library players (one thread each, a window of frames in
// flight), over ws:// or, with "tls", wss:// (a self-signed pair made for the run). Prints
//   behavior gateway_ws_echo tls=<0|1> rate=<msg/s> connections=<N> window=<W>
// Usage: bench_gateway connections [N]     (default and maximum: what RLIMIT_NOFILE allows)
//        bench_gateway udp-sessions [N]    (default 200000)
//        bench_gateway echo [seconds] [rate] [connections] [window]    (defaults: 5 50000 32 64)
//        bench_gateway ws-echo [seconds] [connections] [window] [tls]  (defaults: 5 4 64)
#include <behavior/version.h>
#include <behavior/client_frame.h>
#include <behavior/clock.h>
#include <behavior/game_client.h>
#include <behavior/tls.h>
#include <uv.h>
#include <behavior/message.h>
#include <behavior/ticket.h>
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <sys/syscall.h>

#include <fstream>
#include <sstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.h"
#include "udp_sessions.h"

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

// Datagrams the kernel dropped for the UDP socket bound to 127.0.0.1:port (its receive
// buffer was full), from the last column of /proc/net/udp; -1 if not found.
long udp_drops(int port) {
  std::ifstream f("/proc/net/udp");
  std::string line;
  char local[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", port);
  while (std::getline(f, line)) {
    std::istringstream fields(line);
    std::string slot, local_address;
    fields >> slot >> local_address;  // the remote address column may hold it too (clients)
    if (local_address != local) continue;
    const size_t last = line.find_last_of(' ', line.find_last_not_of(' '));
    return std::atol(line.c_str() + last + 1);
  }
  return -1;
}

// CPU time (ns) a process has used so far, all its threads (pid), or one thread (tid > 0).
int64_t cpu_ns(pid_t pid, pid_t tid = 0) {
  auto one = [](const std::string& path) {
    std::ifstream f(path);
    int64_t ns = 0;
    f >> ns;
    return ns;
  };
  const std::string base = "/proc/" + std::to_string(pid) + "/task/";
  if (tid > 0) return one(base + std::to_string(tid) + "/schedstat");
  int64_t sum = 0;
  if (DIR* d = opendir(base.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') sum += one(base + e->d_name + "/schedstat");
    }
    closedir(d);
  }
  return sum;
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

// ---------------------------------------------------------------------------------------
// echo: messages through gateway → user process → back, against a raw libuv echo server.

// The reference: a libuv loop that decodes the same frames and writes each one straight back.
class RawEcho {
 public:
  RawEcho() {
    uv_loop_init(&loop_);
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&a), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 1024, [](uv_stream_t* s, int) {
      auto* self = static_cast<RawEcho*>(s->data);
      auto* c = new Client();
      uv_tcp_init(&self->loop_, &c->tcp);
      c->tcp.data = c;
      uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp));
      uv_tcp_nodelay(&c->tcp, 1);
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&c->tcp),
          [](uv_handle_t* h, size_t, uv_buf_t* b) { *b = uv_buf_init(static_cast<Client*>(h->data)->buf, sizeof(Client::buf)); },
          [](uv_stream_t* st, ssize_t n, const uv_buf_t*) {
            auto* cl = static_cast<Client*>(st->data);
            if (n < 0) {
              uv_close(reinterpret_cast<uv_handle_t*>(st), [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
              return;
            }
            std::string out;
            (void)cl->in.feed(cl->buf, static_cast<size_t>(n), [&](uint32_t proto, std::string_view body) {
              append_client_frame(proto, body, &out);
              return true;
            });
            if (out.empty()) return;
            auto* w = new Write{{}, std::move(out)};
            w->req.data = w;
            uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
            uv_write(&w->req, st, &b, 1, [](uv_write_t* r, int) { delete static_cast<Write*>(r->data); });
          });
    });
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.sin_port);
    uv_async_init(&loop_, &stop_, [](uv_async_t* h) {
      uv_walk(h->loop, [](uv_handle_t* x, void*) { if (!uv_is_closing(x)) uv_close(x, nullptr); }, nullptr);
    });
    std::promise<pid_t> tid;
    thread_ = std::thread([this, &tid] {
      tid.set_value(static_cast<pid_t>(syscall(SYS_gettid)));
      uv_run(&loop_, UV_RUN_DEFAULT);
    });
    tid_ = tid.get_future().get();
  }
  ~RawEcho() {
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }
  int port() const { return port_; }
  pid_t tid() const { return tid_; }

 private:
  struct Client {
    uv_tcp_t tcp{};
    ClientFrameDecoder in{64 * 1024};
    char buf[64 * 1024];
  };
  struct Write {
    uv_write_t req;
    std::string data;
  };
  uv_loop_t loop_{};
  uv_tcp_t listener_{};
  uv_async_t stop_{};
  std::thread thread_;
  int port_ = 0;
  pid_t tid_ = 0;
};

int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

int g_window = 64;  // echo flat out: frames in flight per connection

// ws-echo: `n` players over WebSocket (wss with `tls`), each on its own thread with `window`
// frames in flight, for `seconds`; the frames answered per second, or -1 if a player could
// not connect or authenticate.
double run_ws_echo(const std::string& address, const TlsContext* tls, long n, int window, double seconds,
                   const std::function<std::string(long)>& ticket) {
  std::atomic<long> answered{0};
  std::atomic<bool> failed{false};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point stop;
  std::vector<std::thread> threads;
  for (long i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      auto c = GameClient::connect(GameClient::Transport::kWebSocket, address, Millis(10000), tls);
      if (!c.ok() || !(*c)->auth(ticket(i), Millis(10000)).ok()) {
        std::fprintf(stderr, "bench_gateway: ws player %ld: %s\n", i,
                     c.ok() ? "AUTH failed" : c.status().to_string().c_str());
        failed = true;
        ready.fetch_add(1);
        return;
      }
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      const std::string body(64, 'e');
      for (int k = 0; k < window; ++k) (void)(*c)->send(1, body);  // 1 = the demo's kEcho
      long mine = 0;
      while (Clock::now() < stop) {
        Result<ClientFrame> f = (*c)->receive(Millis(1000));
        if (!f.ok()) break;
        if (f->proto_id != 1) continue;
        ++mine;
        (void)(*c)->send(1, body);
      }
      answered.fetch_add(mine);
      (*c)->close();
    });
  }
  while (ready.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto t0 = Clock::now();
  stop = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  go = true;
  for (auto& t : threads) t.join();
  if (failed) return -1;
  return static_cast<double>(answered.load()) / seconds;
}

struct EchoResult {
  double rate = 0;
  double cpu_us[3] = {0, 0, 0};  // per message received: server(s) as given to run_echo, then the client
  double p50_us = 0, p99_us = 0;
  long sent = 0, received = 0;
};

// Sends 64-byte kEcho frames on `conns` (already connected and, for the gateway,
// authenticated): at `rate` msg/s for `seconds` (rate 0: as fast as a window of 64 in
// flight per connection allows). Every answer's latency comes from the timestamp it carries.
// `servers` (pid, tid: 0 = the whole process): whose CPU time per message to report.
EchoResult run_echo(int ep, std::vector<Conn>& conns, double rate, double seconds,
                    std::vector<std::pair<pid_t, pid_t>> servers) {
  EchoResult r;
  servers.resize(2, {0, 0});
  servers.push_back({getpid(), static_cast<pid_t>(syscall(SYS_gettid))});
  int64_t cpu0[3];
  for (int i = 0; i < 3; ++i) cpu0[i] = servers[i].first ? cpu_ns(servers[i].first, servers[i].second) : 0;
  std::vector<double> lat;
  lat.reserve(static_cast<size_t>(rate > 0 ? rate * seconds : 1e6));
  std::vector<int> in_flight(conns.size(), 0);
  // Readable only; writable is asked for while a connection has unsent bytes. The client
  // sleeps in epoll until an answer comes or the next message is due: a client that spins
  // would take a core's share from the servers it measures (they share two cores here).
  std::vector<bool> wants_out(conns.size(), false);
  auto watch = [&](size_t i, bool out) {
    epoll_event ev{EPOLLIN | (out ? EPOLLOUT : 0u), {}};
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, &ev);
    wants_out[i] = out;
  };
  for (size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{EPOLLIN, {}};
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  auto frame = [](std::string* out) {
    char body[64] = {};
    int64_t t = mono_ns();
    std::memcpy(body, &t, sizeof t);
    append_client_frame(1, std::string_view(body, sizeof body), out);  // 1 = the demo's kEcho
  };
  auto flush = [&](size_t i) {
    Conn& c = conns[i];
    if (c.out.empty()) return;
    ssize_t w = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (w > 0) c.out.erase(0, static_cast<size_t>(w));
    if (c.out.empty() == wants_out[i]) watch(i, !c.out.empty());
  };
  const auto t0 = Clock::now();
  const auto stop_sending = t0 + std::chrono::duration<double>(seconds);
  const auto give_up = stop_sending + std::chrono::seconds(3);
  char buf[65536];
  std::vector<epoll_event> events(1024);
  size_t next = 0;
  while (Clock::now() < give_up) {
    auto now = Clock::now();
    bool sending = now < stop_sending;
    timespec wait{0, 10'000'000};  // nothing due: wake for answers, or look again in 10 ms
    if (sending && rate > 0) {
      const double elapsed = std::chrono::duration<double>(now - t0).count();
      long due = static_cast<long>(elapsed * rate);
      while (r.sent < due) {
        frame(&conns[next % conns.size()].out);
        ++next;
        ++r.sent;
      }
      for (size_t i = 0; i < conns.size(); ++i) flush(i);
      const double until_next = static_cast<double>(due + 1) / rate - elapsed;
      wait.tv_nsec = std::clamp(static_cast<long>(until_next * 1e9) + 1, 0L, 10'000'000L);
    } else if (sending) {
      for (size_t i = 0; i < conns.size(); ++i) {
        while (in_flight[i] < g_window) {
          frame(&conns[i].out);
          ++in_flight[i];
          ++r.sent;
        }
        flush(i);
      }
    } else if (r.received >= r.sent) {
      break;
    }
    int n = epoll_pwait2(ep, events.data(), static_cast<int>(events.size()), &wait, nullptr);
    for (int k = 0; k < n; ++k) {
      size_t i = events[k].data.u32;
      Conn& c = conns[i];
      if (events[k].events & EPOLLOUT) flush(i);
      if (!(events[k].events & EPOLLIN)) continue;
      ssize_t got = recv(c.fd, buf, sizeof buf, 0);
      if (got <= 0) continue;
      const int64_t t = mono_ns();
      (void)c.in.feed(buf, static_cast<size_t>(got), [&](uint32_t proto, std::string_view body) {
        if (proto != 1 || body.size() < 8) return true;
        int64_t sent_at;
        std::memcpy(&sent_at, body.data(), sizeof sent_at);
        lat.push_back(static_cast<double>(t - sent_at) / 1000.0);
        ++r.received;
        --in_flight[i];
        return true;
      });
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (servers[i].first && r.received > 0) {
      r.cpu_us[i] = static_cast<double>(cpu_ns(servers[i].first, servers[i].second) - cpu0[i]) / 1000.0 / r.received;
    }
  }
  for (auto& c : conns) epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
  r.rate = r.received / seconds;
  std::sort(lat.begin(), lat.end());
  if (!lat.empty()) {
    r.p50_us = lat[lat.size() / 2];
    r.p99_us = lat[lat.size() * 99 / 100];
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "--version") {
    std::printf("bench_gateway (behavior %s)\n", behavior::kVersion);
    return 0;
  }
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);  // children inherit it
  const std::string mode = argc > 1 ? argv[1] : "connections";
  if (mode != "connections" && mode != "echo" && mode != "udp-sessions" && mode != "ws-echo") {
    std::fprintf(stderr,
                 "usage: bench_gateway connections [N] | udp-sessions [N] | echo [seconds] [rate] [connections] [window]"
                 " | ws-echo [seconds] [connections] [window] [tls]\n");
    return 2;
  }
  const bool ws_echo = mode == "ws-echo";
  const double ws_seconds = ws_echo && argc > 2 ? std::atof(argv[2]) : 5;
  const long ws_n = ws_echo && argc > 3 ? std::atol(argv[3]) : 4;
  const int ws_window = ws_echo && argc > 4 ? std::max(1, std::atoi(argv[4])) : 64;
  const bool ws_tls = ws_echo && argc > 5 && std::string_view(argv[5]) == "tls";
  const bool echo = mode == "echo";
  const bool udp = mode == "udp-sessions";
  // TCP connections are bounded by this process's descriptors; UDP sessions are not (the
  // gateway holds them all on one socket, the clients are spread over worker processes).
  const long max_n = udp ? 1000000 : static_cast<long>(lim.rlim_max) - 200;
  long n = ws_echo ? ws_n : !echo && argc > 2 ? std::atol(argv[2]) : udp ? 200000 : max_n;
  const double echo_seconds = echo && argc > 2 ? std::atof(argv[2]) : 5;
  const double echo_rate = echo && argc > 3 ? std::atof(argv[3]) : 50000;
  if (echo) n = argc > 4 ? std::atol(argv[4]) : 32;
  if (echo && argc > 5) g_window = std::max(1, std::atoi(argv[5]));
  if (n > max_n) {
    std::fprintf(stderr, "bench_gateway: %ld connections need more than RLIMIT_NOFILE=%ld; using %ld\n", n,
                 static_cast<long>(lim.rlim_max), max_n);
    n = max_n;
  }
  const std::string dir = bench::self_dir();
  const std::string secret = "bench-" + std::to_string(getpid());
  const std::string prefix = "benchgw" + std::to_string(getpid()) + ":";
  setenv("BEHAVIOR_CLUSTER_SECRET", secret.c_str(), 1);
  const int redis_port = bench::free_port(), gw_port = bench::free_port(), gw_udp_port = bench::free_port();
  const int gw_ws_port = ws_echo ? bench::free_port() : -1;
  std::vector<std::string> tls_args;
  std::shared_ptr<TlsContext> tls_trust;
  const std::string tls_base = "/tmp/bench_gateway_tls." + std::to_string(getpid());
  if (ws_tls) {
    Status made = write_self_signed_pair(tls_base + ".cert.pem", tls_base + ".key.pem", {"127.0.0.1"});
    auto trust = TlsContext::client(tls_base + ".cert.pem", false);
    if (!made.ok() || !trust.ok()) {
      std::fprintf(stderr, "bench_gateway: %s\n", (made.ok() ? trust.status() : made).to_string().c_str());
      return 1;
    }
    tls_trust = *trust;
    tls_args = {"--tls-cert", tls_base + ".cert.pem", "--tls-key", tls_base + ".key.pem"};
  }
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
      with({dir + "/local_server", "--kinds-lib", dir + "/../lib/libbehavior_demo_game.so", "--node-id", "1", "--workers", "1", "--capacity", std::to_string(n * 2)}));
  std::vector<std::string> gw_args = {dir + "/gateway", "--node-id", "40", "--tcp-port", std::to_string(gw_port),
                                      "--ws-port", std::to_string(gw_ws_port), "--udp-port",
                                      std::to_string(udp ? gw_udp_port : -1), "--auth-timeout-ms", "60000", "--idle-timeout-ms",
                                      "600000", "--max-connections", std::to_string(n + 10), "--max-unauth-per-address", "1000000",
                                      "--auth-timeout-pressure-ms", "60000", "--frame-rate",
                                      "0", "--max-output-bytes", std::to_string(64 << 20)};
  gw_args.insert(gw_args.end(), tls_args.begin(), tls_args.end());
  pid_t gw_pid = bench::spawn_process(with(gw_args));
  auto signed_ticket = [&](long i) {
    Ticket t;
    t.user = "bench" + std::to_string(i);
    t.node = 1;
    t.gateway = 40;
    t.expires_ms = wall_ms() + 600000;
    t.nonce = std::to_string(getpid()) + "-" + std::to_string(i);
    return sign_ticket(t, secret);
  };
  auto ticket = [&](long i) {  // as the first TCP frame
    std::string frame;
    append_client_frame(proto::kAuth, signed_ticket(i), &frame);
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
  if (up && ws_echo) {
    const double rate = run_ws_echo("127.0.0.1:" + std::to_string(gw_ws_port), tls_trust.get(), n, ws_window, ws_seconds,
                                    signed_ticket);
    std::printf("behavior gateway_ws_echo tls=%d rate=%.0f msg/s connections=%ld window=%d seconds=%.1f\n",
                ws_tls ? 1 : 0, rate, n, ws_window, ws_seconds);
    rc = rate > 0 ? 0 : 1;
  } else if (up && echo) {
    prctl(PR_SET_TIMERSLACK, 1000UL);  // the fixed rate's sleeps of ~20 µs, not the default 50 µs slack
    // The reference first, then the gateway, with the same client code.
    RawEcho raw;
    std::vector<Conn> plain(static_cast<size_t>(n));
    for (auto& c : plain) c.fd = open_nonblocking(raw.port());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::vector<std::pair<pid_t, pid_t>> raw_cpu = {{getpid(), raw.tid()}};
    EchoResult raw_fixed = run_echo(ep, plain, echo_rate, echo_seconds, raw_cpu);
    EchoResult raw_max = run_echo(ep, plain, 0, echo_seconds, raw_cpu);
    for (auto& c : plain) close(c.fd);
    std::vector<Conn> players(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) {
      Conn& c = players[static_cast<size_t>(i)];
      c.fd = open_nonblocking(gw_port);
      c.out = ticket(i);
      epoll_event ev{EPOLLIN | EPOLLOUT, {}};
      ev.data.u32 = static_cast<uint32_t>(i);
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    int authed = pump(ep, players, 1, 30);
    for (auto& c : players) epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    const std::vector<std::pair<pid_t, pid_t>> gw_cpu = {{gw_pid, 0}, {local_pid, 0}};
    EchoResult gw_fixed = run_echo(ep, players, echo_rate, echo_seconds, gw_cpu);
    EchoResult gw_max = run_echo(ep, players, 0, echo_seconds, gw_cpu);
    auto line = [](const char* what, const EchoResult& r, double target) {
      std::printf("%s rate=%.0f msg/s p50_us=%.0f p99_us=%.0f sent=%ld received=%ld%s\n", what, r.rate, r.p50_us,
                  r.p99_us, r.sent, r.received, target > 0 ? (" target=" + std::to_string(long(target))).c_str() : "");
    };
    // CPU µs per message: the raw server's thread; the gateway and the local_server (whole
    // processes); the client's thread.
    auto cpu = [](const char* what, const EchoResult& raw, const EchoResult& gw) {
      const double servers = gw.cpu_us[0] + gw.cpu_us[1];
      std::printf("%s cpu_us_per_msg raw_server=%.3f raw_client=%.3f gateway=%.3f local_server=%.3f gw_client=%.3f "
                  "raw/servers=%.2f\n",
                  what, raw.cpu_us[0], raw.cpu_us[2], gw.cpu_us[0], gw.cpu_us[1], gw.cpu_us[2],
                  servers > 0 ? raw.cpu_us[0] / servers : 0);
    };
    line("raw_libuv_echo fixed", raw_fixed, echo_rate);
    line("behavior gateway_echo fixed", gw_fixed, echo_rate);
    line("raw_libuv_echo max", raw_max, 0);
    line("behavior gateway_echo max", gw_max, 0);
    std::printf("behavior gateway_echo max/raw=%.2f connections=%d\n", raw_max.rate > 0 ? gw_max.rate / raw_max.rate : 0,
                authed);
    cpu("fixed", raw_fixed, gw_fixed);
    cpu("max", raw_max, gw_max);
    for (auto& c : players) close(c.fd);
    rc = authed == n && gw_fixed.received == gw_fixed.sent ? 0 : 1;
  } else if (up && udp) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the closed warm-up settle
    const long base_kb = rss_kb(gw_pid);
    const long drops0 = udp_drops(gw_udp_port);
    // Heartbeats at 20k/s in all: 200k idle clients beating every 10 s.
    bench::UdpSessionWorkers workers(n, 18000, gw_udp_port, signed_ticket, 20000);
    auto t0 = Clock::now();
    const long authed = workers.authenticate();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long full_kb = rss_kb(gw_pid);
    const long drops1 = udp_drops(gw_udp_port);
    auto h0 = Clock::now();
    const long beats = workers.heartbeat();
    const double hsecs = std::chrono::duration<double>(Clock::now() - h0).count();
    const long drops2 = udp_drops(gw_udp_port);
    std::printf(
        "behavior gateway_udp_sessions n=%ld client_processes=%d time=%.3fs rate=%.0f sessions/s "
        "rss_per_session=%.0f bytes heartbeat_rate=%.0f msg/s heartbeats_answered=%ld gateway_rss_mb=%.1f "
        "local_server_rss_mb=%.1f gateway_socket_drops_auth=%ld gateway_socket_drops_heartbeat=%ld\n",
        authed, workers.workers(), secs, authed / secs, authed ? (full_kb - base_kb) * 1024.0 / double(authed) : 0.0,
        beats / hsecs, beats, full_kb / 1024.0, rss_kb(local_pid) / 1024.0, drops1 - drops0, drops2 - drops1);
    rc = authed == n && beats == n ? 0 : 1;
  } else if (up) {
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
  if (ws_tls) {
    std::remove((tls_base + ".cert.pem").c_str());
    std::remove((tls_base + ".key.pem").c_str());
  }
  return rc;
}
