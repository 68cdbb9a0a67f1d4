// SPDX-License-Identifier: Apache-2.0
#include "storage/stats.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "storage/filter.h"
#include "storage/ondemand.h"

namespace storage {

namespace od = simdjson::ondemand;

namespace {

constexpr std::int64_t second_us = 1'000'000;
constexpr std::int64_t minute_us = 60 * second_us;
constexpr std::int64_t hour_us = 60 * minute_us;
constexpr std::int64_t day_us = 24 * hour_us;
constexpr std::int64_t max_bucket_us = 30 * day_us;
constexpr std::size_t default_max_buckets = 120;

constexpr std::array<std::int64_t, 21> nice_widths = {
    second_us,  2 * second_us, 5 * second_us, 10 * second_us, 15 * second_us, 30 * second_us,
    minute_us,  2 * minute_us, 5 * minute_us, 10 * minute_us, 15 * minute_us, 30 * minute_us,
    hour_us,    2 * hour_us,   3 * hour_us,   6 * hour_us,    12 * hour_us,   day_us,
    2 * day_us, 7 * day_us,    30 * day_us};

// Floor division: bucket starts stay multiples of the width before 1970 too.
std::int64_t floor_to(std::int64_t t, std::int64_t w) {
  const std::int64_t q = t / w;
  return (q * w > t ? q - 1 : q) * w;
}

struct sample {
  std::int64_t time_us;
  std::int64_t latency_us;  // -1: not timed
  std::uint32_t route;
  status_class cls;
};

std::optional<latency_percentiles> percentiles(std::vector<std::int64_t>& v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  return latency_percentiles{nearest_rank(v, 50), nearest_rank(v, 90), nearest_rank(v, 99)};
}

std::int64_t p99_or_min(const stats_route& r) { return r.latency ? r.latency->p99_us : -1; }

}  // namespace

std::optional<stats_group> parse_stats_group(std::string_view s) {
  for (const auto g : {stats_group::path, stats_group::host, stats_group::method}) {
    if (to_string(g) == s) return g;
  }
  return std::nullopt;
}

std::optional<stats_sort> parse_stats_sort(std::string_view s) {
  for (const auto so : {stats_sort::count, stats_sort::p99, stats_sort::errors}) {
    if (to_string(so) == s) return so;
  }
  return std::nullopt;
}

std::string_view to_string(stats_group g) {
  switch (g) {
    case stats_group::path:
      return "path";
    case stats_group::host:
      return "host";
    case stats_group::method:
      return "method";
  }
  return "path";
}

std::string_view to_string(stats_sort s) {
  switch (s) {
    case stats_sort::count:
      return "count";
    case stats_sort::p99:
      return "p99";
    case stats_sort::errors:
      return "errors";
  }
  return "count";
}

std::string_view to_string(status_class c) {
  switch (c) {
    case status_class::s2xx:
      return "2xx";
    case status_class::s3xx:
      return "3xx";
    case status_class::s4xx:
      return "4xx";
    case status_class::s5xx:
      return "5xx";
    case status_class::other:
      return "other";
    case status_class::incomplete:
      return "incomplete";
  }
  return "other";
}

std::optional<std::int64_t> parse_bucket(std::string_view s) {
  if (s.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (s.back()) {
    case 's':
      unit = second_us;
      break;
    case 'm':
      unit = minute_us;
      break;
    case 'h':
      unit = hour_us;
      break;
    case 'd':
      unit = day_us;
      break;
    default:
      return std::nullopt;
  }
  const auto digits = s.substr(0, s.size() - 1);
  std::int64_t n = 0;
  const auto* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, n);
  if (ec != std::errc() || ptr != end || digits[0] == '+' || n < 1 || n > max_bucket_us / unit) {
    return std::nullopt;
  }
  return n * unit;
}

std::string format_bucket(std::int64_t width_us) {
  for (const auto& [unit, suffix] : {std::pair{day_us, 'd'}, std::pair{hour_us, 'h'},
                                     std::pair{minute_us, 'm'}, std::pair{second_us, 's'}}) {
    if (width_us % unit == 0) return std::to_string(width_us / unit) + suffix;
  }
  return std::to_string(width_us / second_us) + 's';
}

std::int64_t default_bucket(std::int64_t range_us) {
  // A range of n widths that does not start on a bucket boundary touches n + 2 buckets.
  for (const auto w : nice_widths) {
    if (range_us / w + 2 <= static_cast<std::int64_t>(default_max_buckets)) return w;
  }
  return nice_widths.back();
}

std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, unsigned p) {
  const std::size_t n = sorted.size();
  std::size_t rank = (static_cast<std::size_t>(p) * n + 99) / 100;
  rank = std::clamp<std::size_t>(rank, 1, n);
  return sorted[rank - 1];
}

struct stats_builder::impl {
  stats_options opts;
  od::parser parser;
  std::vector<sample> samples;
  std::vector<stats_route> routes;
  std::unordered_map<std::string, std::uint32_t> route_index;
  std::int64_t min_t = INT64_MAX;
  std::int64_t max_t = INT64_MIN;
  bool routes_capped = false;

  explicit impl(stats_options o) : opts(std::move(o)) {}

  std::uint32_t route_of(std::string key) {
    if (route_index.size() >= opts.max_routes && route_index.find(key) == route_index.end()) {
      routes_capped = true;
      key = other_route;
    }
    auto [it, fresh] = route_index.try_emplace(std::move(key), 0);
    if (fresh) {
      it->second = static_cast<std::uint32_t>(routes.size());
      routes.emplace_back().key = it->first;
    }
    return it->second;
  }

  bool add(std::string_view line, std::size_t capacity) {
    od::document doc;
    if (parser.iterate(simdjson::padded_string_view(line.data(), line.size(), capacity)).get(doc)) {
      return false;
    }
    std::optional<std::int64_t> rq_time, rs_time;
    std::string key;
    std::uint64_t bytes = 0;
    std::int64_t status = -1;
    {
      od::value v;
      if (doc.find_field("request").get(v)) return false;
      od::json_type t;
      if (v.type().get(t)) return false;
      if (t != od::json_type::null) {
        od::object rq;
        std::string_view s;
        if (v.get_object().get(rq) || rq.find_field("time").get_string().get(s)) return false;
        rq_time = parse_rfc3339(s);
        if (!rq_time) return false;
        if (rq.find_field("method").get_string().get(s)) return false;
        if (opts.group == stats_group::method) key = s;
        if (rq.find_field("path").get_string().get(s)) return false;
        if (opts.group == stats_group::path) key = fold_route(s);
        if (opts.group == stats_group::host) {
          // The first Host header, lower case; "" when there is none.
          std::optional<std::string_view> host;
          if (!detail::first_header(rq, "host", host)) return false;
          for (char c : host.value_or("")) key += detail::ascii_lower(c);
        }
        std::uint64_t size = 0;
        if (!rq.find_field("body_size").get_uint64().get(size)) bytes += size;
      }
    }
    {
      od::value v;
      if (doc.find_field("response").get(v)) return false;
      od::json_type t;
      if (v.type().get(t)) return false;
      if (t != od::json_type::null) {
        od::object rs;
        std::string_view s;
        if (v.get_object().get(rs) || rs.find_field("time").get_string().get(s)) return false;
        rs_time = parse_rfc3339(s);
        if (!rs_time || rs.find_field("status").get_int64().get(status)) return false;
        std::uint64_t size = 0;
        if (!rs.find_field("body_size").get_uint64().get(size)) bytes += size;
      }
    }
    if (!rq_time && !rs_time) return false;

    sample smp{};
    smp.time_us = rq_time ? *rq_time : *rs_time;
    smp.latency_us = rq_time && rs_time ? std::max<std::int64_t>(*rs_time - *rq_time, 0) : -1;
    if (status < 0) {
      smp.cls = status_class::incomplete;
    } else if (status >= 200 && status < 600) {
      smp.cls = static_cast<status_class>(status / 100 - 2);
    } else {
      smp.cls = status_class::other;
    }
    smp.route = route_of(std::move(key));
    auto& r = routes[smp.route];
    ++r.count;
    if (smp.cls == status_class::s5xx || smp.cls == status_class::incomplete) ++r.errors;
    r.bytes += bytes;
    min_t = std::min(min_t, smp.time_us);
    max_t = std::max(max_t, smp.time_us);
    samples.push_back(smp);
    return true;
  }

  stats_result finish() {
    stats_result out;
    out.matched = samples.size();
    const bool any = !samples.empty();
    std::int64_t lo = opts.since_us.value_or(any ? min_t : 0);
    std::int64_t hi = opts.until_us.value_or(any ? max_t : lo);
    if (!opts.since_us && opts.until_us && !any) lo = hi;
    if (hi < lo) hi = lo;
    const std::int64_t w = opts.bucket_us != 0 ? opts.bucket_us : default_bucket(hi - lo);
    out.bucket_us = w;
    out.from_us = floor_to(lo, w);
    out.to_us = floor_to(hi, w) + w;
    const auto n = static_cast<std::uint64_t>((out.to_us - out.from_us) / w);
    if (n > max_buckets && opts.bucket_us != 0) {
      out.error = "invalid bucket: " + format_bucket(w) + " makes " + std::to_string(n) +
                  " buckets over this range (at most " + std::to_string(max_buckets) + ")";
      return out;
    }
    if (n > max_buckets) {
      // Even the widest default bucket is too fine: only a since/until that far apart does it.
      out.error = "invalid since: the range from since to until (or the data) is longer than " +
                  std::to_string(max_buckets) + " buckets of " + format_bucket(w);
      return out;
    }
    out.buckets.resize(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < out.buckets.size(); ++i) {
      out.buckets[i].start_us = out.from_us + static_cast<std::int64_t>(i) * w;
    }
    std::vector<std::vector<std::int64_t>> bucket_lat(out.buckets.size());
    std::vector<std::vector<std::int64_t>> route_lat(routes.size());
    std::vector<std::int64_t> all_lat;
    for (const auto& s : samples) {
      const auto b = static_cast<std::size_t>((s.time_us - out.from_us) / w);
      auto& bk = out.buckets[b];
      ++bk.count;
      ++bk.classes[static_cast<std::size_t>(s.cls)];
      ++out.classes[static_cast<std::size_t>(s.cls)];
      if (s.latency_us >= 0) {
        bucket_lat[b].push_back(s.latency_us);
        route_lat[s.route].push_back(s.latency_us);
        all_lat.push_back(s.latency_us);
      }
    }
    std::vector<sample>().swap(samples);
    for (std::size_t i = 0; i < out.buckets.size(); ++i) {
      out.buckets[i].latency = percentiles(bucket_lat[i]);
    }
    out.latency = percentiles(all_lat);
    for (std::size_t i = 0; i < routes.size(); ++i) routes[i].latency = percentiles(route_lat[i]);

    out.route_count = routes.size();
    out.routes_capped = routes_capped;
    const auto by = [this](const stats_route& a, const stats_route& b) {
      switch (opts.sort) {
        case stats_sort::p99:
          if (p99_or_min(a) != p99_or_min(b)) return p99_or_min(a) > p99_or_min(b);
          break;
        case stats_sort::errors:
          // errors_a / count_a > errors_b / count_b, without rounding.
          if (a.errors * b.count != b.errors * a.count) {
            return a.errors * b.count > b.errors * a.count;
          }
          if (a.errors != b.errors) return a.errors > b.errors;
          break;
        case stats_sort::count:
          break;
      }
      if (a.count != b.count) return a.count > b.count;
      return a.key < b.key;
    };
    const std::size_t keep = std::min(opts.top, routes.size());
    std::partial_sort(routes.begin(), routes.begin() + static_cast<std::ptrdiff_t>(keep),
                      routes.end(), by);
    routes.resize(keep);
    out.routes = std::move(routes);
    return out;
  }
};

stats_builder::stats_builder(stats_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}
stats_builder::~stats_builder() = default;

bool stats_builder::add(std::string_view line, std::size_t capacity) {
  return impl_->add(line, capacity);
}

stats_result stats_builder::finish() { return impl_->finish(); }

}  // namespace storage
