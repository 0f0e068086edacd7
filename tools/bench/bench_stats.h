// bench_stats.h — the order statistics the benchmarks print: a percentile of latency samples
// and the median of repeated runs.
#pragma once

#include <algorithm>
#include <vector>

namespace behavior::bench {

// The p-th quantile (p in [0, 1]; 1 is the maximum) of `v`, 0 when empty. Sorts a copy.
template <class T>
double percentile(std::vector<T> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * p))]);
}

// The median of `v` (the mean of the middle two for an even count), 0 when empty.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace behavior::bench
