// SPDX-License-Identifier: Apache-2.0
#include "api/metrics.h"

#include <fmt/format.h>

#include <iterator>

namespace api {

void histogram::observe(double seconds, std::uint64_t n) {
  std::size_t i = 0;
  while (i < bucket_count && seconds > bounds[i]) ++i;
  counts_[i] += n;
  count_ += n;
  sum_ += seconds * static_cast<double>(n);
}

void append_prometheus(const std::vector<metric_group>& groups,
                       const std::vector<named_histogram>& histograms, std::string& out) {
  auto it = std::back_inserter(out);
  for (const auto& g : groups) {
    for (const auto& m : g.metrics) {
      std::string name = fmt::format("hep_{}_{}", g.name, m.name);
      if (!m.gauge && !name.ends_with("_total")) name += "_total";
      fmt::format_to(it, "# HELP {} {} {} ({}).\n# TYPE {} {}\n{} {}\n", name, g.name, m.name,
                     m.gauge ? "gauge" : "counter", name, m.gauge ? "gauge" : "counter", name,
                     m.value);
    }
  }
  for (const auto& nh : histograms) {
    fmt::format_to(it, "# HELP {} {}\n# TYPE {} histogram\n", nh.name, nh.help, nh.name);
    const auto buckets = nh.h.buckets();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < histogram::bucket_count; ++i) {
      cumulative += buckets[i];
      fmt::format_to(it, "{}_bucket{{le=\"{}\"}} {}\n", nh.name, histogram::bounds[i], cumulative);
    }
    cumulative += buckets[histogram::bucket_count];
    fmt::format_to(it, "{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", nh.name, cumulative,
                   nh.name, nh.h.sum(), nh.name, nh.h.count());
  }
}

}  // namespace api
