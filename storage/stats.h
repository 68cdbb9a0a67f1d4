// SPDX-License-Identifier: Apache-2.0
//
// Aggregates over stored records, for GET /events/stats: requests per time bucket by status
// class with latency percentiles, and the top routes. Sans-I/O: the caller reads the records
// (storage::store::query with a record_matcher for the /events filters) and hands each
// matching line to stats_builder::add(); finish() does the arithmetic.
//
// Definitions (docs/api.md repeats them for users):
// - An exchange's time is its request's time, or its response's when it has no request (the
//   same time the filters use).
// - Status class: "2xx", "3xx", "4xx", "5xx", "other" (1xx or a code outside 100..599), and
//   "incomplete" for an exchange without a response (HAProxy answered itself, the client went
//   away, or the response half never came).
// - Latency: response.time - request.time, for exchanges that have both halves; others count
//   in the totals but not in the percentiles.
// - Percentiles are exact over the selection, nearest-rank: p of n sorted values is the value
//   at rank ceil(p / 100 * n) (1-based). No value: absent.
// - Errors of a route: 5xx plus incomplete. error_share = errors / count.
// - Bytes of a route: request plus response body sizes as announced (body_size).
//
// Memory: 24 bytes per record added, 8 more per timed record while finish() runs, and about
// 250 bytes per distinct route. The caller bounds the records (store query max_scanned,
// --stats-max-records: ~50 MiB at its default of 1,000,000); stats_options::max_routes bounds
// the routes: past it, new ones are counted together under other_route.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace storage {

enum class stats_group { path, host, method };
enum class stats_sort { count, p99, errors };

// "path" / "host" / "method"; "count" / "p99" / "errors". Nothing for anything else.
std::optional<stats_group> parse_stats_group(std::string_view s);
std::optional<stats_sort> parse_stats_sort(std::string_view s);
std::string_view to_string(stats_group g);
std::string_view to_string(stats_sort s);

// A bucket width: a positive integer and a unit, "s", "m", "h" or "d" ("10s", "1m", "6h",
// "1d"), from 1 s to 30 d -> microseconds. Nothing for anything else ("0s", "1.5m", "10",
// "1w").
std::optional<std::int64_t> parse_bucket(std::string_view s);
// "10s", "5m", "1h", "1d": the shortest spelling of a width parse_bucket() accepts.
std::string format_bucket(std::int64_t width_us);

// The default width for a range of `range_us`: the smallest of 1s 2s 5s 10s 15s 30s 1m 2m 5m
// 10m 15m 30m 1h 2h 3h 6h 12h 1d 2d 7d 30d that makes at most 120 buckets (so 30 to 120 of
// them for any range over 2 minutes; fewer, of 1 s, for shorter ones).
std::int64_t default_bucket(std::int64_t range_us);

// Buckets one answer may have; a `bucket=` that makes more is refused (finish()'s error).
constexpr std::size_t max_buckets = 2000;

// Nearest-rank percentile of `sorted` (ascending, not empty): the value at rank
// ceil(p / 100 * n), 1-based. 1 <= p <= 100.
std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, unsigned p);

struct stats_options {
  std::int64_t bucket_us = 0;  // 0: default_bucket() of the range
  stats_group group = stats_group::path;
  stats_sort sort = stats_sort::count;
  std::size_t top = 20;             // routes kept after sorting, >= 1
  std::size_t max_routes = 50'000;  // distinct routes kept apart (plus other_route), >= 1
  // The range of the buckets: the filter's since/until where given, the data's first and
  // last times otherwise.
  std::optional<std::int64_t> since_us;
  std::optional<std::int64_t> until_us;
};

// The route of every record whose own route came after max_routes others.
constexpr std::string_view other_route = "(other routes)";

// Index into the per-class counts.
enum class status_class { s2xx, s3xx, s4xx, s5xx, other, incomplete };
constexpr std::size_t status_classes = 6;
// "2xx", "3xx", "4xx", "5xx", "other", "incomplete".
std::string_view to_string(status_class c);

struct latency_percentiles {
  std::int64_t p50_us = 0;
  std::int64_t p90_us = 0;
  std::int64_t p99_us = 0;
};

struct stats_bucket {
  std::int64_t start_us = 0;  // a multiple of the width since the epoch; [start, start+width)
  std::uint64_t count = 0;
  std::array<std::uint64_t, status_classes> classes{};  // by status_class
  std::optional<latency_percentiles> latency;           // absent: nothing timed in it
};

struct stats_route {
  std::string key;  // the folded path (fold_route), the Host header (lower case, "" when
                    // absent), or the method ("" for a response-only record)
  std::uint64_t count = 0;
  std::uint64_t errors = 0;  // 5xx + incomplete
  std::uint64_t bytes = 0;   // request + response body_size
  std::optional<latency_percentiles> latency;
  double error_share() const {
    return count == 0 ? 0.0 : static_cast<double>(errors) / static_cast<double>(count);
  }
};

struct stats_result {
  std::string error;  // not empty: no answer (a bucket that makes more than max_buckets)
  std::int64_t bucket_us = 0;
  std::int64_t from_us = 0;   // start of the first bucket
  std::int64_t to_us = 0;     // end of the last bucket (exclusive)
  std::uint64_t matched = 0;  // records aggregated
  std::array<std::uint64_t, status_classes> classes{};
  std::optional<latency_percentiles> latency;
  std::vector<stats_bucket> buckets;  // oldest first, every bucket of the range, empty or not
  std::uint64_t route_count = 0;      // distinct routes before `top` (other_route included)
  bool routes_capped = false;         // max_routes was reached: other_route holds the rest
  std::vector<stats_route> routes;    // sorted by options.sort, at most options.top
};

class stats_builder {
 public:
  explicit stats_builder(stats_options opts);
  ~stats_builder();
  stats_builder(const stats_builder&) = delete;
  stats_builder& operator=(const stats_builder&) = delete;

  // Adds one stored record (no newline); `capacity` bytes are readable at line.data(), at least
  // line.size() + simdjson::SIMDJSON_PADDING. Returns false, adding nothing, for a line that is
  // not a stored record. Not thread-safe (it owns a simdjson parser).
  bool add(std::string_view line, std::size_t capacity);

  // The aggregates of everything added. Call once.
  stats_result finish();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace storage
