// metrics.cpp — see metrics.h.
#include "behavior/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace behavior {
namespace {

void add_double(std::atomic<double>& a, double d) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Label values escape backslash, quote and newline.
std::string label_text(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ',';
    out += k;
    out += "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace

void Gauge::add(double d) { add_double(v_, d); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  add_double(sum_, v);
}

struct MetricsRegistry::Series {
  std::string labels;  // rendered: {k="v",...} or ""
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> read;
};

struct MetricsRegistry::Family {
  std::string name, help;
  const char* type;
  std::vector<std::unique_ptr<Series>> series;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry& MetricsRegistry::global() {
  static MetricsRegistry* r = new MetricsRegistry();  // never destroyed: metrics outlive statics
  return *r;
}

MetricsRegistry::Series& MetricsRegistry::series(std::string_view name, std::string_view help, const char* type,
                                                 const Labels& labels) {
  Family* f = nullptr;
  for (auto& fam : families_) {
    if (fam->name == name) f = fam.get();
  }
  if (!f) {
    families_.push_back(std::make_unique<Family>(Family{std::string(name), std::string(help), type, {}}));
    f = families_.back().get();
  }
  const std::string text = label_text(labels);
  for (auto& s : f->series) {
    if (s->labels == text) return *s;
  }
  f->series.push_back(std::make_unique<Series>());
  f->series.back()->labels = text;
  return *f->series.back();
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Series& s = series(name, help, "counter", labels);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Series& s = series(name, help, "gauge", labels);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                                      const Labels& labels) {
  std::lock_guard lock(mu_);
  Series& s = series(name, help, "histogram", labels);
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(bounds);
  return *s.histogram;
}

void MetricsRegistry::counter_fn(std::string_view name, std::string_view help, const Labels& labels,
                                 std::function<double()> read) {
  std::lock_guard lock(mu_);
  series(name, help, "counter", labels).read = std::move(read);
}

void MetricsRegistry::gauge_fn(std::string_view name, std::string_view help, const Labels& labels,
                               std::function<double()> read) {
  std::lock_guard lock(mu_);
  series(name, help, "gauge", labels).read = std::move(read);
}

std::string MetricsRegistry::text() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f->name + " " + f->help + "\n# TYPE " + f->name + " " + f->type + "\n";
    for (const auto& s : f->series) {
      if (s->histogram) {
        const Histogram& h = *s->histogram;
        // Each bucket line carries the series' labels plus le.
        const std::string base = s->labels.empty() ? "{" : s->labels.substr(0, s->labels.size() - 1) + ",";
        uint64_t cumulative = 0;
        for (size_t i = 0; i < h.bounds().size(); ++i) {
          cumulative += h.bucket(i);
          out += f->name + "_bucket" + base + "le=\"" + number(h.bounds()[i]) + "\"} " + std::to_string(cumulative) +
                 "\n";
        }
        cumulative += h.bucket(h.bounds().size());
        out += f->name + "_bucket" + base + "le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
        out += f->name + "_sum" + s->labels + " " + number(h.sum()) + "\n";
        out += f->name + "_count" + s->labels + " " + std::to_string(h.count()) + "\n";
        continue;
      }
      std::string value;
      if (s->counter) {
        value = std::to_string(s->counter->value());
      } else if (s->gauge) {
        value = number(s->gauge->value());
      } else if (s->read) {
        value = number(s->read());
      } else {
        continue;
      }
      out += f->name + s->labels + " " + value + "\n";
    }
  }
  return out;
}

std::string common_metrics_text(const Labels& build_labels) {
  std::string out;
  auto family = [&out](const char* name, const char* type, const char* help, double v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           number(v) + "\n";
  };
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  family("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
         double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
  // /proc/self/stat: field 22 starttime (ticks since boot), 23 vsize (bytes), 24 rss (pages).
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream in(line.substr(paren + 2));
    std::vector<std::string> f;
    for (std::string x; in >> x;) f.push_back(x);
    // f[0] is field 3 (state): field N is f[N - 3].
    if (f.size() > 21) {
      const double ticks = double(sysconf(_SC_CLK_TCK));
      const double page = double(sysconf(_SC_PAGESIZE));
      family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", std::stod(f[20]));
      family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", std::stod(f[21]) * page);
      std::ifstream uptime("/proc/uptime");
      double up = 0;
      uptime >> up;
      const double boot = double(time(nullptr)) - up;
      family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.",
             boot + std::stod(f[19]) / ticks);
    }
  }
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) fds += e->d_name[0] != '.';
    closedir(d);
    --fds;  // the directory's own descriptor
  }
  family("process_open_fds", "gauge", "Number of open file descriptors.", fds);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  family("process_max_fds", "gauge", "Maximum number of open file descriptors.", double(rl.rlim_cur));
  Labels labels = build_labels;
  labels.insert(labels.begin(), {"version", kVersion});
  out += "# HELP behavior_build_info The running build: always 1, its labels say which.\n"
         "# TYPE behavior_build_info gauge\nbehavior_build_info" +
         label_text(labels) + " 1\n";
  out += MetricsRegistry::global().text();
  return out;
}

}  // namespace behavior
