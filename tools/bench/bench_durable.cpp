// bench_durable.cpp — what durable process state costs: P durable processes with B-byte
// states on one in-process Node+Cluster against a real redis-server (started on a free
// loopback port unless --redis is given). Why: every save is a message to the node's
// cluster service and a Lua script in Redis (fencing epoch), on the one Redis connection of
// the node; these cases say how many saves a node can write, what an awaited save costs a
// handler, how far interval saves batch changes, and how fast activations that load a
// stored state come up. Cases:
//   write-through  each process K times: change its state, `co_await actor().save()` (timed)
//   batched        DurableOptions::save_every = --save-every-ms (100), each process changes its
//                  state every --change-ms (10); writes counted by behavior_state_saves_total{result="ok"}
//   activation     P names with a stored B-byte state, ensured by --concurrency processes
//                  until every one has loaded it (the load rides in the claim script)
// One line per case:
//   behavior durable mode=write-through processes=P state_bytes=B saves=N time=<s>s saves_per_s=<> p50_us=<> p99_us=<> ...
//   behavior durable mode=batched processes=P state_bytes=B time=<s>s writes_per_s=<> changes_per_write=<> ...
//   behavior durable mode=activation processes=P state_bytes=B time=<s>s activations_per_s=<> p50_us=<> p99_us=<> ...
// redis_cpu is the server's CPU over the case (100 = one core); eval_us its time per script call;
// failed= saves that were not acknowledged (an overloaded node's figures are printed too,
// with exit code 1). The Redis it starts keeps nothing on disk (--save "" --appendonly no):
// this measures the node and the script, not fsync.
// Usage: bench_durable write-through|batched|activation|all [-P N] [-B bytes] [--smoke]
#include <behavior/behavior.h>
#include <behavior/cli.h>
#include <behavior/cluster.h>
#include <behavior/ids.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "bench_redis.h"
#include "bench_stats.h"

using namespace behavior;
using bench::percentile;

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kRun = 1, kChurn = 2, kChange = 3, kDone = 4, kGo = 5;

double since_us(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }
double since_s(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Config {
  int processes = 1000;
  size_t bytes = 1024;
  int saves = 50;          // write-through: awaited saves per process
  int change_ms = 10;      // batched: one change per process every this many ms
  int save_every_ms = 100;  // batched: DurableOptions::save_every
  double seconds = 3;      // batched: how long the processes change their states
  int concurrency = 32;    // activators (processes that ensure names, one at a time each)
  int workers = 1;
  bool io_thread = false;  // the network (Redis included) on a thread of its own, not worker 0
  std::string redis, prefix = "bench:";
};

std::atomic<uint64_t> g_loaded{0};  // load_state calls that found a state of the expected size
size_t g_bytes = 0;

struct ChurnArgs {
  int32_t change_ms;
  int32_t duration_ms;
};

// A durable process whose state is B bytes; each change rewrites one byte of it.
class BenchState : public Router {
 public:
  explicit BenchState(size_t bytes) : state_(bytes, 'x') {}
  Task<> route(Message& m) override {
    switch (m.proto_id()) {
      case kRun: {  // K awaited saves; kDone carries the failures and the latencies (floats, us)
        const int64_t k = m.as<int64_t>();
        std::string out(sizeof(uint64_t) + sizeof(float) * static_cast<size_t>(k), '\0');
        uint64_t failed = 0;
        for (int64_t i = 0; i < k; ++i) {
          change();
          auto t0 = Clock::now();
          Status s = co_await actor().save();
          float us = static_cast<float>(since_us(t0));
          if (!s.ok()) ++failed;
          std::memcpy(out.data() + sizeof(uint64_t) + sizeof(float) * static_cast<size_t>(i), &us, sizeof us);
        }
        std::memcpy(out.data(), &failed, sizeof failed);
        actor().send(m.from(), kDone, Body::bytes(std::move(out)));
        break;
      }
      case kChurn: {  // change every change_ms until duration_ms is over, then kDone(changes)
        const auto args = m.as<ChurnArgs>();
        main_ = m.from();
        until_ = Clock::now() + Millis(args.duration_ms);
        timer_ = actor().tick(Millis(args.change_ms), kChange);
        break;
      }
      case kChange:
        if (Clock::now() >= until_) {
          actor().cancel_timer(timer_);
          actor().send(main_, kDone, static_cast<int64_t>(changes_));
        } else {
          change();
          ++changes_;
        }
        break;
      default:
        break;
    }
    co_return;
  }
  std::string save_state() override { return state_; }
  Status load_state(std::string_view bytes, uint32_t) override {
    if (bytes.size() == g_bytes) g_loaded.fetch_add(1, std::memory_order_relaxed);
    state_.assign(bytes);
    return {};
  }

 private:
  void change() {
    if (!state_.empty()) state_[seq_ % state_.size()] = static_cast<char>('a' + seq_ % 26);
    ++seq_;
    actor().mark_dirty();
  }
  std::string state_;
  uint64_t seq_ = 0, changes_ = 0;
  Pid main_;
  Clock::time_point until_;
  TimerId timer_{};
};

// Ensures names[i] for i = first, first+stride, ... through the cluster service, timing each;
// the pids and latencies go to slots of the caller's vectors (disjoint per activator).
class Activator : public Router {
 public:
  Activator(const std::vector<std::string>* names, std::string kind, size_t first, size_t stride,
            std::vector<Pid>* pids, std::vector<float>* lat)
      : names_(names), kind_(std::move(kind)), first_(first), stride_(stride), pids_(pids), lat_(lat) {}
  Task<> route(Message& m) override {
    int64_t failed = 0;
    const Pid service = Cluster::service_pid(actor().pid().node());
    for (size_t i = first_; i < names_->size(); i += stride_) {
      auto t0 = Clock::now();
      Reply r = co_await actor().call(service, proto::kEnsure, Cluster::ensure_request((*names_)[i], kind_));
      (*lat_)[i] = static_cast<float>(since_us(t0));
      if (r.ok()) {
        (*pids_)[i] = r.as<Pid>();
      } else {
        ++failed;
      }
    }
    actor().send(m.from(), kDone, failed);
  }

 private:
  const std::vector<std::string>* names_;
  std::string kind_;
  size_t first_, stride_;
  std::vector<Pid>* pids_;
  std::vector<float>* lat_;
};

// The benchmark's own Redis connection: INFO figures (bench_redis.h) and seeding states.
struct RedisSide : bench::RedisProbe {
  using RedisProbe::RedisProbe;
  // What the benchmark's Redis did since `a`, over `secs` seconds: " redis_cpu=<%> eval_us=<>".
  std::string since(const Sample& a, double secs) {
    Sample b = sample();
    double calls = b.eval_calls - a.eval_calls;
    char buf[96];
    std::snprintf(buf, sizeof buf, " redis_cpu=%.0f%% eval_us=%.1f", 100 * (b.cpu_s - a.cpu_s) / secs,
                  calls > 0 ? (b.eval_usec - a.eval_usec) / calls : 0.0);
    return buf;
  }
  // The state hashes of `names`, as a save from epoch 1 leaves them, pipelined.
  bool seed(const std::string& prefix, const std::vector<std::string>& names, size_t bytes) {
    const std::string data(bytes, 's');
    size_t sent = 0, done = 0;
    bool good = true;
    auto drain = [&](size_t down_to) {
      while (sent - done > down_to) {
        void* r = nullptr;
        if (redisGetReply(context(), &r) != REDIS_OK) return false;
        good = good && static_cast<redisReply*>(r)->type == REDIS_REPLY_INTEGER;
        freeReplyObject(r);
        ++done;
      }
      return true;
    };
    for (const auto& n : names) {
      const std::string key = prefix + "state:" + n;
      const char* argv[] = {"HSET", key.c_str(), "data", data.data(), "v", "1", "epoch", "1", "claim", "1", "kind", "durable"};
      size_t lens[std::size(argv)];
      for (size_t i = 0; i < std::size(argv); ++i) lens[i] = std::strlen(argv[i]);
      lens[3] = data.size();
      redisAppendCommandArgv(context(), static_cast<int>(std::size(argv)), argv, lens);
      ++sent;
      if (!drain(1000)) return false;
    }
    return drain(0) && good;
  }
};

// Counters from the node's /metrics text: the sum of every series of `name` whose labels
// contain `label` ("" = any).
double metric(const std::string& text, const std::string& name, const std::string& label = "") {
  double sum = 0;
  size_t at = 0;
  while ((at = text.find(name, at)) != std::string::npos) {
    size_t eol = text.find('\n', at);
    std::string line = text.substr(at, eol - at);
    at = eol;
    if (line.size() <= name.size() || (line[name.size()] != '{' && line[name.size()] != ' ')) continue;
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    sum += std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return sum;
}

struct Activated {
  std::vector<Pid> pids;
  std::vector<float> lat;
  int64_t failed = 0;
  double secs = 0;
};

// Ensures every name from `concurrency` activator processes; returns when all answered.
Activated activate(Node& node, Inbox& main, const std::vector<std::string>& names, const std::string& kind,
                   int concurrency) {
  Activated a;
  a.pids.resize(names.size());
  a.lat.resize(names.size());
  const size_t n = std::min(names.size(), static_cast<size_t>(std::max(concurrency, 1)));
  auto t0 = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    main.send(*node.spawn(std::make_unique<Activator>(&names, kind, i, n, &a.pids, &a.lat)), kGo);
  }
  for (size_t i = 0; i < n; ++i) {
    MessagePtr m = main.receive(Millis(120000));
    if (!m) {
      a.failed = static_cast<int64_t>(names.size());
      break;
    }
    a.failed += m->as<int64_t>();
  }
  a.secs = since_s(t0);
  return a;
}

std::vector<std::string> names_for(const char* mode, int p) {
  std::vector<std::string> names;
  for (int i = 0; i < p; ++i) names.push_back(std::string("durable/") + mode + "/" + std::to_string(i));
  return names;
}

// One case on a fresh Node+Cluster (its own key prefix); prints its line, returns 0 if ok.
int run_case(const std::string& mode, const Config& cfg) {
  g_bytes = cfg.bytes;
  g_loaded = 0;
  RedisSide redis(cfg.redis);
  if (!redis.ok()) return 1;
  NodeOptions no;
  no.node_id = 1;
  no.workers = cfg.workers;
  no.capacity = static_cast<uint32_t>(std::max(cfg.processes * 2, 10000));
  Node node(no);
  KindOptions k;
  k.durable.enabled = true;
  if (mode == "batched") k.durable.save_every = Millis(cfg.save_every_ms);
  const size_t bytes = cfg.bytes;
  node.register_kind("durable", [bytes](const std::string&) { return std::make_unique<BenchState>(bytes); }, k);
  if (!node.start().ok()) return 1;
  ClusterOptions co;
  auto colon = cfg.redis.rfind(':');
  co.redis_host = cfg.redis.substr(0, colon);
  co.redis_port = std::atoi(cfg.redis.c_str() + colon + 1);
  co.prefix = cfg.prefix + std::to_string(getpid()) + ":" + mode + ":";
  co.secret = "bench-" + std::to_string(getpid());
  co.metrics_port = -1;
  co.io_on_worker = !cfg.io_thread;
  int rc = 1;
  char head[160];
  std::snprintf(head, sizeof head, "behavior durable mode=%s processes=%d state_bytes=%zu", mode.c_str(),
                cfg.processes, cfg.bytes);
  const std::string tail = " workers=" + std::to_string(cfg.workers) + (cfg.io_thread ? " io=thread" : "");
  {
    Cluster cluster(node, co);
    if (cluster.start().ok() && cluster.wait_ready(Millis(5000))) {
      Inbox main(node);
      const std::vector<std::string> names = names_for(mode.c_str(), cfg.processes);
      if (mode == "write-through") {
        Activated a = activate(node, main, names, "durable", cfg.concurrency);
        if (a.failed == 0) {
          std::vector<float> lat;
          lat.reserve(static_cast<size_t>(cfg.processes) * static_cast<size_t>(cfg.saves));
          uint64_t failed = 0;
          int answered = 0;
          auto r0 = redis.sample();
          auto t0 = Clock::now();
          for (Pid p : a.pids) main.send(p, kRun, static_cast<int64_t>(cfg.saves));
          for (; answered < cfg.processes; ++answered) {
            MessagePtr m = main.receive(Millis(120000));
            if (!m) break;
            std::string_view b = m->body().raw();
            uint64_t f;
            std::memcpy(&f, b.data(), sizeof f);
            failed += f;
            for (size_t at = sizeof f; at + sizeof(float) <= b.size(); at += sizeof(float)) {
              float us;
              std::memcpy(&us, b.data() + at, sizeof us);
              lat.push_back(us);
            }
          }
          const double secs = since_s(t0);
          const std::string rs = redis.since(r0, secs);
          // Printed even when saves failed (failed=): an overloaded node's figures are figures too.
          std::printf("%s saves=%zu time=%.3fs saves_per_s=%.0f p50_us=%.0f p99_us=%.0f failed=%llu%s%s\n", head,
                      lat.size(), secs, static_cast<double>(lat.size() - failed) / secs, percentile(lat, 0.50),
                      percentile(lat, 0.99), static_cast<unsigned long long>(failed), rs.c_str(), tail.c_str());
          if (answered == cfg.processes && failed == 0) {
            rc = 0;
          } else {
            std::fprintf(stderr, "write-through: %d of %d processes answered, %llu saves failed\n", answered,
                         cfg.processes, static_cast<unsigned long long>(failed));
          }
        }
      } else if (mode == "batched") {
        Activated a = activate(node, main, names, "durable", cfg.concurrency);
        if (a.failed == 0) {
          const std::string ok = "result=\"ok\"";
          const int duration_ms = static_cast<int>(cfg.seconds * 1000);
          const std::string m0 = cluster.metrics_text();
          const double c0 = metric(m0, "behavior_state_saves_total", ok);
          const double not_ok0 = metric(m0, "behavior_state_saves_total") - c0;
          auto r0 = redis.sample();
          auto t0 = Clock::now();
          for (Pid p : a.pids) main.send(p, kChurn, ChurnArgs{cfg.change_ms, duration_ms});
          int64_t changes = 0;
          int answered = 0;
          for (; answered < cfg.processes; ++answered) {
            MessagePtr m = main.receive(Millis(duration_ms + 60000));
            if (!m) break;
            changes += m->as<int64_t>();
          }
          const double secs = since_s(t0);
          const std::string m1 = cluster.metrics_text();
          const std::string rs = redis.since(r0, secs);
          const double c1 = metric(m1, "behavior_state_saves_total", ok);
          // The last changes are written by the next interval save.
          std::this_thread::sleep_for(Millis(3 * cfg.save_every_ms));
          const std::string m2 = cluster.metrics_text();
          const double c2 = metric(m2, "behavior_state_saves_total", ok);
          const double not_ok = metric(m2, "behavior_state_saves_total") - c2 - not_ok0;
          const double lat_n = metric(m1, "behavior_state_save_seconds_count") - metric(m0, "behavior_state_save_seconds_count");
          const double lat_s = metric(m1, "behavior_state_save_seconds_sum") - metric(m0, "behavior_state_save_seconds_sum");
          std::printf("%s time=%.3fs changes_per_s=%.0f writes_per_s=%.0f changes_per_write=%.2f "
                      "expected_writes_per_s=%.0f save_mean_us=%.0f failed=%.0f save_every_ms=%d change_ms=%d%s%s\n",
                      head, secs, static_cast<double>(changes) / secs, (c1 - c0) / secs,
                      c2 > c0 ? static_cast<double>(changes) / (c2 - c0) : 0.0, cfg.processes * 1000.0 / cfg.save_every_ms,
                      lat_n > 0 ? 1e6 * lat_s / lat_n : 0.0, not_ok, cfg.save_every_ms, cfg.change_ms, rs.c_str(),
                      tail.c_str());
          if (answered == cfg.processes && c2 > c0 && not_ok == 0) {
            rc = 0;
          } else {
            std::fprintf(stderr, "batched: %d of %d processes answered, %.0f writes, %.0f not ok\n", answered,
                         cfg.processes, c2 - c0, not_ok);
          }
        }
      } else if (mode == "activation") {
        if (redis.seed(co.prefix, names, cfg.bytes)) {
          auto r0 = redis.sample();
          auto t0 = Clock::now();
          Activated a = activate(node, main, names, "durable", cfg.concurrency);
          // ensure answers once the claim (and its load) came back; load_state runs on the
          // process's worker just after: wait until every state is in.
          while (a.failed == 0 && g_loaded.load() < names.size() && since_s(t0) < 60) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
          const double secs = since_s(t0);
          const std::string rs = redis.since(r0, secs);
          if (a.failed == 0 && g_loaded.load() == names.size()) {
            std::printf("%s time=%.3fs activations_per_s=%.0f p50_us=%.0f p99_us=%.0f concurrency=%d%s%s\n", head,
                        secs, names.size() / secs, percentile(a.lat, 0.50), percentile(a.lat, 0.99), cfg.concurrency,
                        rs.c_str(), tail.c_str());
            rc = 0;
          } else {
            std::fprintf(stderr, "activation: %lld ensures failed, %llu of %zu states loaded\n",
                         static_cast<long long>(a.failed), static_cast<unsigned long long>(g_loaded.load()),
                         names.size());
          }
        } else {
          std::fprintf(stderr, "activation: seeding the states failed\n");
        }
      }
    } else {
      std::fprintf(stderr, "%s: the cluster did not start\n", mode.c_str());
    }
    cluster.stop();
  }
  node.shutdown();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string what;
  bool smoke = false;
  CLI::App app{"Durable state benchmarks: saves and activations of durable processes against a real Redis"};
  behavior::add_version_flag(app, "bench_durable");
  app.add_option("case", what, "write-through, batched, activation or all")
      ->check(CLI::IsMember({"write-through", "batched", "activation", "all"}));
  app.add_option("-P,--processes", cfg.processes, "durable processes")->capture_default_str();
  app.add_option("-B,--bytes", cfg.bytes, "state size in bytes")->capture_default_str();
  app.add_option("--saves", cfg.saves, "write-through: awaited saves per process")->capture_default_str();
  app.add_option("--change-ms", cfg.change_ms, "batched: a change per process every this many ms")
      ->capture_default_str();
  app.add_option("--save-every-ms", cfg.save_every_ms, "batched: the kind's save_every")->capture_default_str();
  app.add_option("--seconds", cfg.seconds, "batched: how long the states change")->capture_default_str();
  app.add_option("--concurrency", cfg.concurrency, "activators ensuring names in parallel")->capture_default_str();
  app.add_option("--workers", cfg.workers, "worker threads (the network runs on worker 0)")->capture_default_str();
  app.add_flag("--io-thread", cfg.io_thread, "network I/O on a thread of its own instead of worker 0");
  app.add_option("--redis", cfg.redis, "host:port of a running Redis (default: start one)");
  app.add_flag("--smoke", smoke, "tiny sizes, for ctest: checks that every case runs, measures nothing");
  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  spdlog::set_level(spdlog::level::warn);
  if (what.empty() || cfg.processes <= 0) {
    std::fprintf(stderr, "usage: bench_durable write-through|batched|activation|all [-P N] [-B bytes]\n");
    return 2;
  }
  if (smoke) {
    cfg.processes = 50;
    cfg.bytes = 256;
    cfg.saves = 5;
    cfg.seconds = 0.5;
  }

  pid_t redis_pid = cfg.redis.empty() ? bench::start_redis(&cfg.redis) : -1;
  int rc = 0;
  for (const char* mode : {"write-through", "batched", "activation"}) {
    if (what == mode || what == "all") rc |= run_case(mode, cfg);
    std::fflush(stdout);
  }
  if (redis_pid > 0) {
    kill(redis_pid, SIGTERM);
    waitpid(redis_pid, nullptr, 0);
  }
  return rc;
}
