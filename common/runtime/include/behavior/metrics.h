// metrics.h — Prometheus metrics, written once for every server and for game code: counters,
// gauges and histograms in a registry that renders the text exposition format (0.0.4) with
// HELP and TYPE on every family. Names follow Prometheus' conventions: base units (seconds,
// bytes) at the end of the name, `_total` on counters.
//
//   auto& moves = behavior::MetricsRegistry::global().counter(
//       "mygame_moves_total", "Moves players made.");
//   moves.inc();                                       // any thread, lock-free
//   auto& rtt = registry.histogram("mygame_turn_seconds", "How long a turn took.",
//                                  behavior::kLatencyBuckets);
//   rtt.observe(0.004);
//
// Every server's /metrics shows its own registries first, then the process's global one
// (where game code registers), then the standard process_* families and
// behavior_build_info. A metric registered twice with the same name and labels is the same
// metric. No Debian package has a Prometheus client for C++, hence this small one.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "behavior/version.h"

namespace behavior {

// Label pairs of one series, e.g. {{"reason", "idle"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  Counter& operator++() {
    inc();
    return *this;
  }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Cumulative buckets by upper bound (seconds, bytes...), plus the sum and the count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }  // not cumulative
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // one per bound, then +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Latencies from 100 µs to 10 s, in seconds.
inline const std::vector<double> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                    0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                                    5,      10};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The process's registry: game code's metrics.
  static MetricsRegistry& global();

  // Metrics this registry owns; the reference lives as long as the registry.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                       const Labels& labels = {});
  // Values somebody else keeps, read when scraped (called under the registry's lock, on the
  // scraping thread).
  void counter_fn(std::string_view name, std::string_view help, const Labels& labels, std::function<double()> read);
  void gauge_fn(std::string_view name, std::string_view help, const Labels& labels, std::function<double()> read);

  // The text exposition of every family, in registration order.
  std::string text() const;

 private:
  struct Family;
  struct Series;
  Series& series(std::string_view name, std::string_view help, const char* type, const Labels& labels);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// A family whose series differ by one label's value, each registered on first use:
//   CounterVec logins(registry, "x_logins_total", "Logins by result.", "result");
//   ++logins["ok"];
template <class Metric>
class MetricVec {
 public:
  MetricVec(MetricsRegistry& registry, std::string name, std::string help, std::string label)
      : registry_(registry), name_(std::move(name)), help_(std::move(help)), label_(std::move(label)) {}
  Metric& operator[](std::string_view value) {
    std::lock_guard lock(mu_);
    for (auto& [v, m] : cache_) {
      if (v == value) return *m;
    }
    Metric* m;
    if constexpr (std::is_same_v<Metric, Counter>) {
      m = &registry_.counter(name_, help_, {{label_, std::string(value)}});
    } else {
      m = &registry_.gauge(name_, help_, {{label_, std::string(value)}});
    }
    cache_.emplace_back(std::string(value), m);
    return *m;
  }

 private:
  MetricsRegistry& registry_;
  std::string name_, help_, label_;
  std::mutex mu_;
  std::vector<std::pair<std::string, Metric*>> cache_;  // few values: a scan beats a map
};
using CounterVec = MetricVec<Counter>;
using GaugeVec = MetricVec<Gauge>;

// What every server's /metrics ends with: the global registry (game code), then the families
// every process shows: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds (from /proc/self), and behavior_build_info{version,...} 1.
std::string common_metrics_text(const Labels& build_labels);

}  // namespace behavior
