// SPDX-License-Identifier: Apache-2.0
//
// Counters, gauges and histograms as the agent reports them, and their Prometheus text
// exposition (format 0.0.4) for GET /metrics.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace api {

struct metric {
  std::string_view name;  // snake_case, e.g. "notify_frames"
  std::uint64_t value = 0;
  bool gauge = false;
};

struct metric_group {
  std::string_view name;  // "spop", "correlator", "storage", "http", "process"
  std::vector<metric> metrics;
};

// A fixed-bucket histogram of durations in seconds. Buckets are log-spaced from 1 µs to 10 s
// (1, 2.5, 5 per decade). observe() is a few compares and adds; not thread-safe (the agent
// updates it on the loop thread and copies it for /metrics there too).
class histogram {
 public:
  static constexpr std::size_t bucket_count = 22;
  static constexpr double bounds[bucket_count] = {
      1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
      5e-3, 1e-2,   2.5e-2, 5e-2, 0.1,    0.25, 0.5,  1,      2.5,  5,    10};

  // Records `n` observations of `seconds` each.
  void observe(double seconds, std::uint64_t n = 1);

  // Observations <= bounds[i], per bucket (not cumulative); the last entry counts those above
  // every bound.
  std::span<const std::uint64_t> buckets() const { return counts_; }
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::uint64_t counts_[bucket_count + 1] = {};
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

struct named_histogram {
  std::string_view name;  // full metric name, e.g. "hep_spop_ack_latency_seconds"
  std::string_view help;
  histogram h;
};

// Returns a snapshot of every counter. Called on the loop thread only.
using status_fn = std::function<std::vector<metric_group>()>;
using histograms_fn = std::function<std::vector<named_histogram>()>;

// Appends the Prometheus text exposition of `groups` and `histograms` to `out`: for each metric
// "# HELP", "# TYPE" and one sample. Names are "hep_<group>_<metric>"; counters end in "_total"
// (added unless the name has it already), gauges do not. Histograms get cumulative
// "_bucket{le=...}" samples up to le="+Inf", "_sum" and "_count".
void append_prometheus(const std::vector<metric_group>& groups,
                       const std::vector<named_histogram>& histograms, std::string& out);

}  // namespace api
