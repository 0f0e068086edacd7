// bench_cluster.cpp — two nodes on loopback, each a separate OS process, joined through a
// real redis-server: one-way messages with 64-byte bodies from 8 sender processes to one
// counter on the other node, and serial call round trips with p50/p99. The same cases as
// ../shared/anchors/run_dist (Erlang distribution between two nodes on this host):
//   behavior oneway n=<N> time=<s>s rate=<R> msg/s
//   behavior call n=<N> time=<s>s rate=<R> msg/s p50_us=<> p99_us=<>
// Usage: bench_cluster oneway|call N [--redis host:port]   (default: starts its own redis)
// The peer node is this same binary started with --peer.
#include <behavior/cli.h>
#include <behavior/behavior.h>
#include <behavior/cluster.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "bench_process.h"

using namespace behavior;

namespace {

constexpr uint32_t kExpect = 1, kMsg = 2, kEcho = 3, kGo = 4, kSync = 5, kWait = 6, kArmed = 7, kDone = 8;
constexpr int kSenders = 8;
constexpr int kWindow = 1000;  // a sender syncs with the counter after this many messages

// On the peer: counts kMsg. kExpect (call) sets the target and answers at once; kWait (call)
// is answered when the target is reached.
class Counter : public Router {
 public:
  Task<> route(Message& m) override {
    switch (m.proto_id()) {
      case kExpect:
        expected_ = m.as<int64_t>();
        count_ = 0;
        actor().reply(m, kExpect);
        break;
      case kWait:
        waiter_ = m.reply_to();
        maybe_done();
        break;
      case kMsg:
        ++count_;
        maybe_done();
        break;
      case kSync:
        actor().reply(m, kSync);
        break;
    }
    co_return;
  }

 private:
  void maybe_done() {
    if (waiter_.valid() && count_ == expected_) {
      actor().reply(waiter_, kWait, count_);
      waiter_ = ReplyTo{};
    }
  }
  int64_t expected_ = -1, count_ = 0;
  ReplyTo waiter_;
};

// On the driver: arms the counter, tells main, then waits until every message arrived.
class Waiter : public Router {
 public:
  Waiter(Pid counter, int64_t total, Pid main) : counter_(counter), total_(total), main_(main) {}
  Task<> route(Message&) override {
    Reply armed = co_await actor().call(counter_, kExpect, total_);
    actor().send(main_, kArmed, armed.ok());
    Reply done = co_await actor().call(counter_, kWait, {}, Millis(300000));
    actor().send(main_, kDone, done.ok());
  }

 private:
  Pid counter_;
  int64_t total_;
  Pid main_;
};

class Echo : public Router {
 public:
  Task<> route(Message& m) override {
    actor().reply(m, kEcho, m.take_body());
    co_return;
  }
};

// On the driver: sends `n` 64-byte messages to the counter, syncing every kWindow.
class Sender : public Router {
 public:
  Sender(Pid counter, int64_t n) : counter_(counter), n_(n) {}
  Task<> route(Message&) override {
    const std::string body(64, 'x');
    for (int64_t i = 0; i < n_; ++i) {
      actor().send(counter_, kMsg, Body::bytes(body));
      if ((i + 1) % kWindow == 0) co_await actor().call(counter_, kSync, {}, Millis(60000));
    }
  }

 private:
  Pid counter_;
  int64_t n_;
};

// On the driver: `n` serial calls to the echo, timing each; reports to main when done.
class Caller : public Router {
 public:
  Caller(Pid echo, int64_t n, Pid main, std::vector<double>* lat) : echo_(echo), n_(n), main_(main), lat_(lat) {}
  Task<> route(Message&) override {
    bool ok = true;
    for (int64_t i = 0; i < n_ && ok; ++i) {
      auto c0 = std::chrono::steady_clock::now();
      Reply r = co_await actor().call(echo_, kEcho, i);
      ok = r.ok();
      lat_->push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - c0).count());
    }
    actor().send(main_, kDone, ok);
  }

 private:
  Pid echo_;
  int64_t n_;
  Pid main_;
  std::vector<double>* lat_;
};

bool g_io_thread = false;  // --io-thread: the network on a thread of its own, both nodes

ClusterOptions cluster_options(const std::string& redis, const std::string& prefix, const std::string& secret) {
  ClusterOptions c;
  c.io_on_worker = !g_io_thread;
  auto colon = redis.rfind(':');
  c.redis_host = redis.substr(0, colon);
  c.redis_port = std::atoi(redis.c_str() + colon + 1);
  c.prefix = prefix;
  c.secret = secret;
  c.metrics_port = -1;
  return c;
}

int run_peer(const std::string& redis, const std::string& prefix, const std::string& secret, int workers,
             int spin_us) {
  NodeOptions no;
  no.node_id = 2;
  no.workers = workers;
  no.spin_us = spin_us;
  Node node(no);
  node.register_kind<Counter>("counter");
  node.register_kind<Echo>("echo");
  if (!node.start().ok()) return 1;
  Cluster cluster(node, cluster_options(redis, prefix, secret));
  if (!cluster.start().ok()) return 1;
  node.run_until_signal();
  cluster.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string what, redis, prefix = "bench:", secret;
  int64_t n = 0;
  bool peer = false;
  int workers = 1;
  CLI::App app{"Cluster benchmarks: two nodes on loopback (compare with ../shared/anchors/run_dist)"};
  behavior::add_version_flag(app, "bench_cluster");
  app.add_option("case", what, "oneway or call")->check(CLI::IsMember({"oneway", "call"}));
  app.add_option("n", n, "messages (oneway) or round trips (call)");
  app.add_option("--redis", redis, "host:port of a running Redis (default: start one)");
  app.add_option("--workers", workers, "worker threads per node")->capture_default_str();
  int spin_us = 50;
  app.add_option("--spin-us", spin_us, "how long idle workers poll before sleeping")->capture_default_str();
  app.add_flag("--peer", peer, "run as the peer node (internal)");
  app.add_flag("--io-thread", g_io_thread, "network I/O on a thread of its own instead of worker 0");
  app.add_option("--prefix", prefix);
  app.add_option("--secret", secret);
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  spdlog::set_level(spdlog::level::warn);
  if (peer) return run_peer(redis, prefix, secret, workers, spin_us);
  if (what.empty() || n <= 0) {
    std::fprintf(stderr, "usage: bench_cluster oneway|call N\n");
    return 2;
  }

  pid_t redis_pid = -1;
  if (redis.empty()) {
    int port = bench::free_port();
    redis = "127.0.0.1:" + std::to_string(port);
    redis_pid = bench::spawn_process({"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  prefix += std::to_string(getpid()) + ":";
  secret = "bench-" + std::to_string(getpid());
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  self[len > 0 ? len : 0] = '\0';
  std::vector<std::string> peer_args{self,      "--peer",  "--redis", redis, "--prefix", prefix, "--secret", secret,
                                     "--workers", std::to_string(workers), "--spin-us", std::to_string(spin_us)};
  if (g_io_thread) peer_args.emplace_back("--io-thread");
  pid_t peer_pid = bench::spawn_process(peer_args);

  NodeOptions no;
  no.node_id = 1;
  no.workers = workers;
  no.spin_us = spin_us;
  Node node(no);
  int rc = 1;
  if (node.start().ok()) {
    Cluster cluster(node, cluster_options(redis, prefix, secret));
    if (cluster.start().ok()) {
      for (int i = 0; i < 500 && cluster.nodes().size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      Inbox main(node);
      if (what == "oneway") {
        Result<Pid> counter = cluster.ensure("bench/counter", "counter", 2);
        if (counter.ok()) {
          int64_t per = n / kSenders;
          int64_t total = per * kSenders;
          node.send(*node.spawn(std::make_unique<Waiter>(*counter, total, main.pid())), kGo);
          MessagePtr armed = main.receive(Millis(10000));
          if (armed && armed->as<bool>()) {
            auto t0 = std::chrono::steady_clock::now();
            for (int s = 0; s < kSenders; ++s) node.send(*node.spawn(std::make_unique<Sender>(*counter, per)), kGo);
            MessagePtr done = main.receive(Millis(300000));
            double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (done && done->as<bool>()) {
              std::printf("behavior oneway n=%lld time=%.3fs rate=%.0f msg/s senders=%d body=64 workers=%d spin_us=%d%s\n",
                          static_cast<long long>(total), secs, total / secs, kSenders, workers, spin_us, g_io_thread ? " io=thread" : "");
              rc = 0;
            }
          }
        }
      }
      if (what == "call") {
        Result<Pid> echo = cluster.ensure("bench/echo", "echo", 2);
        if (echo.ok()) {
          std::vector<double> lat;
          lat.reserve(static_cast<size_t>(n));
          for (int i = 0; i < 100; ++i) main.call(*echo, kEcho, int64_t{i});  // warm up the links
          auto t0 = std::chrono::steady_clock::now();
          // Like the anchor, the caller is a process (it waits in its worker, not in a condvar).
          node.send(*node.spawn(std::make_unique<Caller>(*echo, n, main.pid(), &lat)), kGo);
          MessagePtr done = main.receive(Millis(300000));
          bool ok = done && done->as<bool>();
          double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::sort(lat.begin(), lat.end());
          if (ok) {
            std::printf("behavior call n=%lld time=%.3fs rate=%.0f msg/s p50_us=%.1f p99_us=%.1f workers=%d spin_us=%d%s\n",
                        static_cast<long long>(n), s, n / s, lat[lat.size() / 2], lat[lat.size() * 99 / 100], workers,
                        spin_us, g_io_thread ? " io=thread" : "");
            rc = 0;
          }
        }
      }
      cluster.stop();
    }
    node.shutdown();
  }
  kill(peer_pid, SIGTERM);
  waitpid(peer_pid, nullptr, 0);
  if (redis_pid > 0) {
    kill(redis_pid, SIGTERM);
    waitpid(redis_pid, nullptr, 0);
  }
  return rc;
}
