// bench_migration.cpp — what live migration of durable processes costs (docs/durable.md,
// "Live migration"): two in-process nodes (Node+Cluster, ids 1 and 2, both "local") against
// a real redis-server (started on a free loopback port unless --redis is given). P durable
// processes with B-byte states are activated on node 1, then every one is moved to node 2 by
// proto::kMigrate calls to node 1's cluster service, --in-flight of them at a time (one
// mover process per slot, each moving its share one after another). Each move is a save
// (Lua script), a kAdopt call to node 2 (its own Lua script: directory handover, claim, state
// load) and the relay of what the process held. Cases:
//   moves  the moves alone: moves/s over the whole batch, the kMigrate call's p50/p99
//   pause  the same moves while --sample processes are called in a loop (call, reply, call...)
//          from a third node (id 3, kind "test", as a gateway would be): the pause of a
//          process is the gap between its last reply from node 1 and its first from node 2
// Every move is checked: the kMigrate reply names a pid on node 2, node 2 loaded a B-byte
// state for each process, and the directory holds every name on node 2 afterwards. The
// sampled processes count their calls in their state (which moves with them): a reply that
// skips a number, a call that failed, or a sampled process never seen answering from node 2
// is a lost message. Exit code 1 if a move failed or a message was lost (the line is still
// printed, with failed= and lost=).
// One line per case:
//   behavior migration mode=moves processes=P state_bytes=B moves=N time=<s>s moves_per_s=<> p50_ms=<> p99_ms=<> ...
//   behavior migration mode=pause processes=P sampled=S pause_p50_ms=<> pause_p99_ms=<> pause_max_ms=<> ...
// redis_cpu is the server's CPU over the moves (100 = one core), eval_us its time per script
// call, evals_per_move the script calls per move; cpu is this process's CPU (both nodes, the
// movers, the callers). The Redis it starts keeps nothing on disk.
// Usage: bench_migration [moves|pause|all] [-P N] [-B bytes] [--in-flight N] [--sample S] [--smoke]
#include <behavior/behavior.h>
#include <behavior/cli.h>
#include <behavior/cluster.h>
#include <behavior/ids.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

#include "bench_redis.h"
#include "bench_stats.h"

using namespace behavior;
using bench::percentile;

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kGo = 1, kDone = 2, kPing = 3, kNext = 4;
constexpr uint16_t kFrom = 1, kTo = 2, kCaller = 3;
constexpr Millis kMoveTimeout{60000};
constexpr Millis kPingTimeout{10000};

double since_s(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Config {
  int processes = 10000;
  size_t bytes = 1024;
  int in_flight = 256;  // kMigrate calls outstanding at once (mover processes)
  int sample = 100;     // pause: processes called in a loop during the moves
  int concurrency = 32;  // activators
  int workers = 1;       // per node
  std::string redis, prefix = "bench:";
};

// Set by the case before the nodes start; read by the processes.
std::atomic<uint64_t> g_loaded_there{0};  // load_state on node 2 with a B-byte state
std::atomic<bool> g_stop{false};          // the callers stop
std::atomic<int> g_warm{0};               // callers that had their first reply

// A durable process with a B-byte state; its first 8 bytes count the kPing calls it answered
// (a call answers the count after it), so the count moves with the state.
class BenchState : public Router {
 public:
  BenchState(size_t bytes, bool there) : state_(std::max<size_t>(bytes, sizeof(uint64_t)), 'x'), there_(there) {
    std::memset(state_.data(), 0, sizeof(uint64_t));
  }
  Task<> route(Message& m) override {
    if (m.proto_id() == kPing) {
      uint64_t n;
      std::memcpy(&n, state_.data(), sizeof n);
      ++n;
      std::memcpy(state_.data(), &n, sizeof n);
      actor().mark_dirty();
      actor().reply(m, kPing, static_cast<int64_t>(n));
    }
    co_return;
  }
  std::string save_state() override { return state_; }
  Status load_state(std::string_view bytes, uint32_t) override {
    if (bytes.size() < sizeof(uint64_t)) return Status::invalid_argument("a state shorter than its counter");
    if (there_ && bytes.size() == state_.size()) g_loaded_there.fetch_add(1, std::memory_order_relaxed);
    state_.assign(bytes);
    return {};
  }

 private:
  std::string state_;
  bool there_;
};

// Ensures names[i] for i = first, first+stride, ... through its node's cluster service.
class Activator : public Router {
 public:
  Activator(const std::vector<std::string>* names, size_t first, size_t stride, std::vector<Pid>* pids)
      : names_(names), first_(first), stride_(stride), pids_(pids) {}
  Task<> route(Message& m) override {
    int64_t failed = 0;
    const Pid service = Cluster::service_pid(actor().pid().node());
    for (size_t i = first_; i < names_->size(); i += stride_) {
      Reply r = co_await actor().call(service, proto::kEnsure, Cluster::ensure_request((*names_)[i], "durable"),
                                      Millis(30000));
      if (r.ok() && r.as<Pid>().node() == actor().pid().node()) {
        (*pids_)[i] = r.as<Pid>();
      } else {
        ++failed;
      }
    }
    actor().send(m.from(), kDone, failed);
  }

 private:
  const std::vector<std::string>* names_;
  size_t first_, stride_;
  std::vector<Pid>* pids_;
};

// Moves names[i] for i = first, first+stride, ... to node kTo, one kMigrate call at a time,
// timing each; kDone carries the failures.
class Mover : public Router {
 public:
  Mover(const std::vector<std::string>* names, size_t first, size_t stride, std::vector<Pid>* moved,
        std::vector<float>* lat_ms)
      : names_(names), first_(first), stride_(stride), moved_(moved), lat_(lat_ms) {}
  Task<> route(Message& m) override {
    int64_t failed = 0;
    const Pid service = Cluster::service_pid(kFrom);
    for (size_t i = first_; i < names_->size(); i += stride_) {
      JsonMap req;
      req.set("name", (*names_)[i]).set("to", static_cast<int64_t>(kTo));
      auto t0 = Clock::now();
      Reply r = co_await actor().call(service, proto::kMigrate, std::move(req), kMoveTimeout);
      (*lat_)[i] = static_cast<float>(ms_between(t0, Clock::now()));
      if (r.ok() && r.as<Pid>().node() == kTo) {
        (*moved_)[i] = r.as<Pid>();
      } else {
        if (failed++ == 0) {
          std::fprintf(stderr, "move of %s: %s\n", (*names_)[i].c_str(),
                       r.ok() ? ("to " + r.as<Pid>().to_string()).c_str() : r.status().to_string().c_str());
        }
      }
    }
    actor().send(m.from(), kDone, failed);
  }

 private:
  const std::vector<std::string>* names_;
  size_t first_, stride_;
  std::vector<Pid>* moved_;
  std::vector<float>* lat_;
};

// What one caller saw.
struct CallerLog {
  double pause_ms = -1;   // last reply from node kFrom → first from node kTo
  double max_gap_ms = 0;  // between any two consecutive replies
  uint64_t calls = 0, failed = 0, skipped = 0;
};

// Calls one process in a loop until g_stop: each reply's count must be the previous + 1.
// It keeps the pid it was given (the old node relays) until a reply comes from a new one.
class Caller : public Router {
 public:
  Caller(Pid target, CallerLog* log) : target_(target), log_(log) {}
  Task<> route(Message& m) override {
    if (m.proto_id() == kGo) {
      main_ = m.from();
      actor().send(actor().pid(), kNext);
      co_return;
    }
    if (m.proto_id() != kNext) co_return;
    if (g_stop.load(std::memory_order_relaxed)) {
      actor().send(main_, kDone);
      co_return;
    }
    Reply r = co_await actor().call(target_, kPing, {}, kPingTimeout);
    const auto now = Clock::now();
    if (!r.ok()) {
      ++log_->failed;
      have_count_ = false;
    } else {
      const auto n = static_cast<uint64_t>(r.as<int64_t>());
      if (have_count_ && n != count_ + 1) log_->skipped += n > count_ ? n - count_ - 1 : 1;
      count_ = n;
      have_count_ = true;
      const Pid from = r.message().from();
      if (log_->calls == 0) {
        g_warm.fetch_add(1, std::memory_order_relaxed);
      } else {
        log_->max_gap_ms = std::max(log_->max_gap_ms, ms_between(last_, now));
        if (from.node() == kTo && last_node_ == kFrom) log_->pause_ms = ms_between(last_, now);
      }
      last_node_ = from.node();
      last_ = now;
      ++log_->calls;
      target_ = from;  // a reply from the new pid: call it there from now on
    }
    actor().send(actor().pid(), kNext);
  }

 private:
  Pid target_, main_;
  CallerLog* log_;
  uint64_t count_ = 0;
  bool have_count_ = false;
  uint16_t last_node_ = 0;
  Clock::time_point last_;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The CPU seconds of one thread of this process so far (utime + stime from /proc).
double thread_cpu_seconds(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto at = stat.rfind(')');
  if (at == std::string::npos) return 0;
  // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
  std::vector<std::string> fields;
  for (size_t i = at + 2; i < stat.size();) {
    size_t sp = stat.find(' ', i);
    if (sp == std::string::npos) sp = stat.size();
    fields.push_back(stat.substr(i, sp - i));
    i = sp + 1;
  }
  if (fields.size() < 13) return 0;
  return (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Answers a call with the id of the worker thread it runs on.
class ThreadProbe : public Router {
 public:
  Task<> route(Message& m) override {
    actor().reply(m, kGo, static_cast<int64_t>(syscall(SYS_gettid)));
    co_return;
  }
};

// The thread of a node's (first) worker, which also runs its network (io_on_worker).
pid_t worker_tid(Node& node) {
  Inbox in(node);
  Result<Pid> probe = node.spawn(std::make_unique<ThreadProbe>());
  if (!probe.ok()) return 0;
  Reply r = in.call(*probe, kGo, {}, Millis(5000));
  return r.ok() ? static_cast<pid_t>(r.as<int64_t>()) : 0;
}

// The benchmark's own Redis connection: INFO figures (bench_redis.h) and the directory check.
struct RedisSide : bench::RedisProbe {
  using RedisProbe::RedisProbe;
  // " redis_cpu=<%> eval_us=<> evals_per_move=<>" since `a`, over `secs` and `moves`.
  std::string since(const Sample& a, double secs, size_t moves) {
    Sample b = sample();
    const double calls = b.eval_calls - a.eval_calls;
    char buf[128];
    std::snprintf(buf, sizeof buf, " redis_cpu=%.0f%% eval_us=%.1f evals_per_move=%.2f",
                  100 * (b.cpu_s - a.cpu_s) / secs, calls > 0 ? (b.eval_usec - a.eval_usec) / calls : 0.0,
                  moves ? calls / static_cast<double>(moves) : 0.0);
    return buf;
  }
};

// One in-process node: Node + Cluster, the "durable" kind registered.
struct BenchNode {
  std::unique_ptr<Node> node;
  std::unique_ptr<Cluster> cluster;
  bool start(uint16_t id, const std::string& kind, const Config& cfg, const std::string& prefix) {
    NodeOptions no;
    no.node_id = id;
    no.workers = cfg.workers;
    no.capacity = static_cast<uint32_t>(std::max(cfg.processes * 2 + cfg.in_flight + cfg.sample, 10000));
    node = std::make_unique<Node>(no);
    KindOptions k;
    k.durable.enabled = true;
    const size_t bytes = cfg.bytes;
    const bool there = id == kTo;
    node->register_kind("durable", [bytes, there](const std::string&) { return std::make_unique<BenchState>(bytes, there); },
                        k);
    if (!node->start().ok()) return false;
    ClusterOptions co;
    auto colon = cfg.redis.rfind(':');
    co.redis_host = cfg.redis.substr(0, colon);
    co.redis_port = std::atoi(cfg.redis.c_str() + colon + 1);
    co.prefix = prefix;
    co.secret = "bench-" + std::to_string(getpid());
    co.kind = kind;
    co.heartbeat = Millis(200);
    co.ttl = Millis(3000);
    co.metrics_port = -1;
    cluster = std::make_unique<Cluster>(*node, co);
    return cluster->start().ok() && cluster->wait_ready(Millis(5000));
  }
  void stop() {
    if (cluster) cluster->stop();
    if (node) node->shutdown();
    cluster.reset();
    node.reset();
  }
  bool knows(uint16_t id) const {
    for (auto& n : cluster->nodes()) {
      if (n.id == id) return true;
    }
    return false;
  }
};

bool wait_for(const std::function<bool()>& done, double seconds) {
  auto t0 = Clock::now();
  while (!done()) {
    if (since_s(t0) > seconds) return false;
    std::this_thread::sleep_for(Millis(10));
  }
  return true;
}

// Starts `n` routers made by `make(i)` on `node`, sends each kGo from `main`, and sums the
// int64 kDone bodies (-1 if one did not answer within `timeout`).
template <class Make>
int64_t run_all(Node& node, Inbox& main, size_t n, Make make, Millis timeout) {
  for (size_t i = 0; i < n; ++i) main.send(*node.spawn(make(i)), kGo);
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    MessagePtr m = main.receive(timeout);
    if (!m) return -1;
    sum += m->as<int64_t>();
  }
  return sum;
}

// One case on fresh nodes (a key prefix of its own); prints its line, returns 0 if ok.
int run_case(const std::string& mode, const Config& cfg) {
  g_loaded_there = 0;
  g_stop = false;
  g_warm = 0;
  const bool pause = mode == "pause";
  const int sampled = pause ? std::min(cfg.sample, cfg.processes) : 0;
  RedisSide redis(cfg.redis);
  if (!redis.ok()) return 1;
  const std::string prefix = cfg.prefix + std::to_string(getpid()) + ":" + mode + ":";
  int rc = 1;
  BenchNode from, to, caller;
  if (!from.start(kFrom, "local", cfg, prefix) || !to.start(kTo, "local", cfg, prefix) ||
      (pause && !caller.start(kCaller, "test", cfg, prefix)) ||
      !wait_for([&] { return from.knows(kTo) && (!pause || (caller.knows(kFrom) && caller.knows(kTo))); }, 10)) {
    std::fprintf(stderr, "%s: the nodes did not start or see each other\n", mode.c_str());
  } else {
    Inbox main(*from.node);
    std::vector<std::string> names;
    for (int i = 0; i < cfg.processes; ++i) names.push_back("migrate/" + std::to_string(i));
    const size_t p = names.size();
    std::vector<Pid> pids(p);
    auto a0 = Clock::now();
    const size_t activators = std::min(p, static_cast<size_t>(std::max(cfg.concurrency, 1)));
    int64_t not_activated = run_all(*from.node, main, activators, [&](size_t i) {
      return std::make_unique<Activator>(&names, i, activators, &pids);
    }, Millis(300000));
    const double activation_s = since_s(a0);
    if (not_activated != 0) {
      std::fprintf(stderr, "%s: %lld of %zu activations on node %d failed\n", mode.c_str(),
                   static_cast<long long>(not_activated), p, kFrom);
    } else {
      // The sampled processes are spread over the batch: each one moves at another time.
      std::vector<CallerLog> logs(static_cast<size_t>(sampled));
      std::unique_ptr<Inbox> callers_main;
      if (pause) {
        callers_main = std::make_unique<Inbox>(*caller.node);
        for (int s = 0; s < sampled; ++s) {
          const Pid target = pids[static_cast<size_t>(s) * p / static_cast<size_t>(sampled)];
          callers_main->send(*caller.node->spawn(std::make_unique<Caller>(target, &logs[static_cast<size_t>(s)])), kGo);
        }
        if (!wait_for([&] { return g_warm.load() == sampled; }, 30)) {
          std::fprintf(stderr, "pause: only %d of %d callers had a reply before the moves\n", g_warm.load(), sampled);
        }
      }
      std::vector<Pid> moved(p);
      std::vector<float> lat(p, 0);
      const size_t movers = std::min(p, static_cast<size_t>(std::max(cfg.in_flight, 1)));
      // With one worker a node, its thread is the whole node: where the CPU goes.
      const pid_t tid_from = cfg.workers == 1 ? worker_tid(*from.node) : 0;
      const pid_t tid_to = cfg.workers == 1 ? worker_tid(*to.node) : 0;
      const double cf0 = tid_from ? thread_cpu_seconds(tid_from) : 0, ct0 = tid_to ? thread_cpu_seconds(tid_to) : 0;
      auto r0 = redis.sample();
      const double c0 = cpu_seconds();
      auto t0 = Clock::now();
      const int64_t failed_sum = run_all(*from.node, main, movers, [&](size_t i) {
        return std::make_unique<Mover>(&names, i, movers, &moved, &lat);
      }, Millis(600000));
      const double secs = since_s(t0);
      const double cpu = 100 * (cpu_seconds() - c0) / secs;
      std::string tail = " in_flight=" + std::to_string(movers) + " workers=" + std::to_string(cfg.workers);
      if (tid_from && tid_to) {
        char buf[96];
        std::snprintf(buf, sizeof buf, " node%d_cpu=%.0f%% node%d_cpu=%.0f%%", kFrom,
                      100 * (thread_cpu_seconds(tid_from) - cf0) / secs, kTo, 100 * (thread_cpu_seconds(tid_to) - ct0) / secs);
        tail = buf + tail;
      }
      const std::string rs = redis.since(r0, secs, p);
      int64_t failed = failed_sum < 0 ? static_cast<int64_t>(p) : failed_sum;
      // node 2 loaded every state (load_state runs on its worker just after the adoption).
      wait_for([&] { return g_loaded_there.load() >= p; }, 10);
      const uint64_t loaded = g_loaded_there.load();
      const std::string left = redis.text("SCARD", prefix + "node:" + std::to_string(kFrom) + ":names");
      const std::string there = redis.text("SCARD", prefix + "node:" + std::to_string(kTo) + ":names");
      const int64_t misplaced = static_cast<int64_t>(p) - std::atoll(there.c_str()) + std::atoll(left.c_str());
      char head[160];
      std::snprintf(head, sizeof head, "behavior migration mode=%s processes=%zu state_bytes=%zu", mode.c_str(), p,
                    cfg.bytes);
      int64_t lost = 0;
      if (!pause) {
        std::printf("%s moves=%zu time=%.3fs moves_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f failed=%lld "
                    "activation_s=%.2f cpu=%.0f%%%s%s\n",
                    head, p, secs, static_cast<double>(p) / secs, percentile(lat, 0.50), percentile(lat, 0.99),
                    percentile(lat, 1.0), static_cast<long long>(failed), activation_s, cpu, rs.c_str(), tail.c_str());
      } else {
        // Every caller should see its process answer from node 2 before it stops.
        wait_for([&] {
          for (auto& l : logs) {
            if (l.pause_ms < 0 && l.failed == 0) return false;
          }
          return true;
        }, 5);
        std::this_thread::sleep_for(Millis(100));
        g_stop = true;
        for (int s = 0; s < sampled; ++s) {
          if (!callers_main->receive(Millis(30000))) {
            std::fprintf(stderr, "pause: a caller did not stop\n");
            lost += 1;
          }
        }
        std::vector<float> pauses;
        uint64_t calls = 0, call_failed = 0, skipped = 0, unseen = 0;
        double max_gap = 0;
        for (auto& l : logs) {
          if (l.pause_ms >= 0) {
            pauses.push_back(static_cast<float>(l.pause_ms));
          } else {
            ++unseen;
          }
          calls += l.calls;
          call_failed += l.failed;
          skipped += l.skipped;
          max_gap = std::max(max_gap, l.max_gap_ms);
        }
        lost += static_cast<int64_t>(call_failed + skipped + unseen);
        std::printf("%s sampled=%d pause_p50_ms=%.2f pause_p99_ms=%.2f pause_max_ms=%.2f gap_max_ms=%.2f calls=%llu "
                    "lost=%lld moves=%zu time=%.3fs moves_per_s=%.0f failed=%lld cpu=%.0f%%%s%s\n",
                    head, sampled, percentile(pauses, 0.50), percentile(pauses, 0.99), percentile(pauses, 1.0), max_gap,
                    static_cast<unsigned long long>(calls), static_cast<long long>(lost), p, secs,
                    static_cast<double>(p) / secs, static_cast<long long>(failed), cpu, rs.c_str(), tail.c_str());
        if (lost) {
          std::fprintf(stderr, "pause: %llu calls failed, %llu counts skipped, %llu callers never saw node %d answer\n",
                       static_cast<unsigned long long>(call_failed), static_cast<unsigned long long>(skipped),
                       static_cast<unsigned long long>(unseen), kTo);
        }
      }
      if (loaded != p || misplaced != 0) {
        std::fprintf(stderr, "%s: node %d loaded %llu of %zu states; the directory holds %s names on node %d, %s on node %d\n",
                     mode.c_str(), kTo, static_cast<unsigned long long>(loaded), p, there.c_str(), kTo, left.c_str(), kFrom);
        failed += std::max<int64_t>(1, misplaced);
      }
      if (failed == 0 && lost == 0) rc = 0;
      if (failed) std::fprintf(stderr, "%s: %lld moves failed\n", mode.c_str(), static_cast<long long>(failed));
    }
  }
  caller.stop();
  to.stop();
  from.stop();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string what = "all";
  bool smoke = false;
  CLI::App app{"Live migration benchmarks: durable processes moved between two nodes against a real Redis"};
  behavior::add_version_flag(app, "bench_migration");
  app.add_option("case", what, "moves, pause or all")->check(CLI::IsMember({"moves", "pause", "all"}))
      ->capture_default_str();
  app.add_option("-P,--processes", cfg.processes, "durable processes moved")->capture_default_str();
  app.add_option("-B,--bytes", cfg.bytes, "state size in bytes")->capture_default_str();
  app.add_option("--in-flight", cfg.in_flight, "kMigrate calls outstanding at once")->capture_default_str();
  app.add_option("--sample", cfg.sample, "pause: processes called in a loop during the moves")->capture_default_str();
  app.add_option("--concurrency", cfg.concurrency, "activators ensuring names in parallel")->capture_default_str();
  app.add_option("--workers", cfg.workers, "worker threads per node (the network runs on worker 0)")
      ->capture_default_str();
  app.add_option("--redis", cfg.redis, "host:port of a running Redis (default: start one)");
  app.add_flag("--smoke", smoke, "tiny sizes, for ctest: checks that every case runs, measures nothing");
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  spdlog::set_level(spdlog::level::warn);
  if (cfg.processes <= 0 || cfg.bytes < sizeof(uint64_t) || cfg.in_flight <= 0 || cfg.sample <= 0) {
    std::fprintf(stderr, "usage: bench_migration [moves|pause|all] [-P N>0] [-B bytes>=8] [--in-flight N] [--sample S]\n");
    return 2;
  }
  if (smoke) {
    cfg.processes = 200;
    cfg.bytes = 256;
    cfg.in_flight = 16;
    cfg.sample = 10;
  }

  pid_t redis_pid = cfg.redis.empty() ? bench::start_redis(&cfg.redis) : -1;
  int rc = 0;
  for (const char* mode : {"moves", "pause"}) {
    if (what == mode || what == "all") rc |= run_case(mode, cfg);
    std::fflush(stdout);
  }
  if (redis_pid > 0) {
    kill(redis_pid, SIGTERM);
    waitpid(redis_pid, nullptr, 0);
  }
  return rc;
}
