// metrics_test.cpp — the Prometheus registry: the text format (HELP and TYPE once per
// family, labels escaped), cumulative histogram buckets, families by one label's value,
// values read at scrape time, and the process families every server shows.
#include <behavior/metrics.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace behavior {
namespace {

TEST(Metrics, FamiliesRenderWithHelpTypeAndTheirSeries) {
  MetricsRegistry r;
  r.counter("app_moves_total", "Moves made.", {{"side", "left"}}).inc(3);
  r.counter("app_moves_total", "Moves made.", {{"side", "right"}}).inc();
  r.gauge("app_rooms", "Rooms open.").set(2.5);
  double live = 7;
  r.gauge_fn("app_live", "Live things.", {}, [&] { return live; });
  EXPECT_EQ(r.text(),
            "# HELP app_moves_total Moves made.\n# TYPE app_moves_total counter\n"
            "app_moves_total{side=\"left\"} 3\napp_moves_total{side=\"right\"} 1\n"
            "# HELP app_rooms Rooms open.\n# TYPE app_rooms gauge\napp_rooms 2.5\n"
            "# HELP app_live Live things.\n# TYPE app_live gauge\napp_live 7\n");
  live = 8;
  EXPECT_NE(r.text().find("app_live 8\n"), std::string::npos) << "read when scraped";
}

TEST(Metrics, TheSameNameAndLabelsAreTheSameMetric) {
  MetricsRegistry r;
  Counter& a = r.counter("x_total", "X.", {{"k", "v"}});
  Counter& b = r.counter("x_total", "X.", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  CounterVec by_result(r, "y_total", "Y.", "result");
  ++by_result["ok"];
  ++by_result["ok"];
  ++by_result["refused"];
  EXPECT_EQ(by_result["ok"].value(), 2u);
  EXPECT_NE(r.text().find("y_total{result=\"refused\"} 1\n"), std::string::npos) << r.text();
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry r;
  r.counter("z_total", "Z.", {{"path", "a\"b\\c\nd"}}).inc();
  EXPECT_NE(r.text().find("z_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << r.text();
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  MetricsRegistry r;
  Histogram& h = r.histogram("op_seconds", "Op latency.", {0.01, 0.1, 1}, {{"op", "get"}});
  for (double v : {0.005, 0.05, 0.05, 0.5, 5.0}) h.observe(v);
  const std::string t = r.text();
  EXPECT_NE(t.find("# TYPE op_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("op_seconds_bucket{op=\"get\",le=\"0.01\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("op_seconds_bucket{op=\"get\",le=\"0.10000000000000001\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("op_seconds_bucket{op=\"get\",le=\"1\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("op_seconds_bucket{op=\"get\",le=\"+Inf\"} 5\n"), std::string::npos) << t;
  EXPECT_NE(t.find("op_seconds_count{op=\"get\"} 5\n"), std::string::npos) << t;
  EXPECT_NEAR(h.sum(), 5.605, 1e-9);
}

TEST(Metrics, CountersAndHistogramsTakeConcurrentUpdates) {
  MetricsRegistry r;
  Counter& c = r.counter("c_total", "C.");
  Histogram& h = r.histogram("h_seconds", "H.", kLatencyBuckets);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_NEAR(h.sum(), 40.0, 1e-6);
}

TEST(Metrics, EveryServerShowsTheProcessFamiliesAndItsBuild) {
  MetricsRegistry::global().counter("unit_global_total", "Registered by game code.").inc();
  const std::string t = common_metrics_text({{"node", "7"}});
  EXPECT_NE(t.find("behavior_build_info{version=\"" + std::string(kVersion) + "\",node=\"7\"} 1\n"),
            std::string::npos)
      << t;
  for (const char* family : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                             "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"}) {
    EXPECT_NE(t.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_NE(t.find("unit_global_total 1\n"), std::string::npos) << "the global registry is shown";
}

}  // namespace
}  // namespace behavior
