// SPDX-License-Identifier: Apache-2.0
#include "storage/stats.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "storage/filter.h"
#include "storage/json.h"
#include "storage/store.h"
#include "test/storage/test_util.h"

namespace {

constexpr std::int64_t s_us = 1'000'000;
constexpr std::int64_t t0 = 1795830240000000;  // 2026-11-28T01:44:00Z, a whole minute

struct spec {
  std::int64_t time_us = t0;
  std::string path = "/items/1";
  int status = 200;  // 0: no response
  std::int64_t latency_us = 1000;
  std::string method = "GET";
  std::string host = "shop.local";
  std::uint64_t req_bytes = 0;
  std::uint64_t res_bytes = 0;
  bool request = true;
};

correlate::exchange make(const spec& s) {
  correlate::exchange x;
  x.id = "x" + std::to_string(s.time_us) + s.path;
  x.complete = s.status != 0 && s.request;
  if (s.request) {
    correlate::request_half rq;
    rq.time_us = s.time_us;
    rq.method = s.method;
    rq.path = s.path;
    rq.version = "1.1";
    if (!s.host.empty()) rq.headers = {{"Host", s.host}};
    rq.body.size = s.req_bytes;
    x.request = std::move(rq);
  }
  if (s.status != 0) {
    correlate::response_half rs;
    rs.time_us = s.time_us + s.latency_us;
    rs.status = s.status;
    rs.version = "1.1";
    rs.body.size = s.res_bytes;
    x.response = std::move(rs);
  }
  return x;
}

void add(storage::stats_builder& b, const spec& s) {
  std::string line;
  storage::append_json_line(make(s), line);
  line.pop_back();
  const std::size_t n = line.size();
  line.resize(n + simdjson::SIMDJSON_PADDING);
  REQUIRE(b.add(std::string_view(line.data(), n), line.size()));
}

const storage::stats_route* route(const storage::stats_result& r, std::string_view key) {
  for (const auto& x : r.routes) {
    if (x.key == key) return &x;
  }
  return nullptr;
}

std::vector<std::string> keys(const storage::stats_result& r) {
  std::vector<std::string> out;
  for (const auto& x : r.routes) out.push_back(x.key);
  return out;
}

}  // namespace

TEST_CASE("fold_route folds numbers, UUIDs and long hex, and keeps words", "[storage][stats]") {
  using storage::fold_route;
  CHECK(fold_route("/items/42") == "/items/{id}");
  CHECK(fold_route("/items/43") == "/items/{id}");
  CHECK(fold_route("/users/7/orders/123456789012345678901") == "/users/{id}/orders/{id}");
  CHECK(fold_route("/o/3f2b8c1e-9a4d-4e6b-8f00-1c2d3e4f5a6b") == "/o/{id}");
  CHECK(fold_route("/o/3F2B8C1E-9A4D-4E6B-8F00-1C2D3E4F5A6B/x") == "/o/{id}/x");
  CHECK(fold_route("/blob/3f2b8c1e9a4d4e6b8f001c2d3e4f5a6b") == "/blob/{id}");
  CHECK(fold_route("/git/da39a3ee5e6b4b0d3255bfef95601890afd80709") == "/git/{id}");
  CHECK(fold_route("/m/507f1f77bcf86cd799439011") == "/m/{id}");
  // Words and short or mixed tokens stay.
  CHECK(fold_route("/api/v2/users") == "/api/v2/users");
  CHECK(fold_route("/cafe/deadbeef/facade") == "/cafe/deadbeef/facade");
  CHECK(fold_route("/deadbeefdeadbeefdeadbeef") == "/deadbeefdeadbeefdeadbeef");  // no digit
  CHECK(fold_route("/a1b2c3") == "/a1b2c3");
  CHECK(fold_route("/items/42abc") == "/items/42abc");
  CHECK(fold_route("/3f2b8c1e-9a4d-4e6b-8f00-1c2d3e4f5a6") ==
        "/3f2b8c1e-9a4d-4e6b-8f00-1c2d3e4f5a6");
  CHECK(fold_route("/3f2b8c1e_9a4d-4e6b-8f00-1c2d3e4f5a6b") ==
        "/3f2b8c1e_9a4d-4e6b-8f00-1c2d3e4f5a6b");
  // Slashes stay where they were.
  CHECK(fold_route("/items/42/") == "/items/{id}/");
  CHECK(fold_route("//42//") == "//{id}//");
  CHECK(fold_route("/") == "/");
  CHECK(fold_route("") == "");
  CHECK(fold_route("42") == "{id}");
}

TEST_CASE("the route filter matches folded paths", "[storage][stats][filter]") {
  storage::filter f;
  f.route = "/items/{id}";
  storage::record_matcher m(f);
  auto check = [&](const std::string& path) {
    spec s;
    s.path = path;
    std::string line;
    storage::append_json_line(make(s), line);
    line.pop_back();
    const std::size_t n = line.size();
    line.resize(n + simdjson::SIMDJSON_PADDING);
    return m(std::string_view(line.data(), n), line.size());
  };
  CHECK(check("/items/42"));
  CHECK(check("/items/3f2b8c1e-9a4d-4e6b-8f00-1c2d3e4f5a6b"));
  CHECK_FALSE(check("/items/42/reviews"));
  CHECK_FALSE(check("/items/new"));
  CHECK_FALSE(check("/items"));
  CHECK_FALSE(f.empty());
}

TEST_CASE("parse_bucket, format_bucket and the default bucket", "[storage][stats]") {
  using storage::parse_bucket;
  CHECK(parse_bucket("10s") == 10 * s_us);
  CHECK(parse_bucket("1m") == 60 * s_us);
  CHECK(parse_bucket("5m") == 300 * s_us);
  CHECK(parse_bucket("1h") == 3600 * s_us);
  CHECK(parse_bucket("1d") == 86400 * s_us);
  CHECK(parse_bucket("30d") == 30 * 86400 * s_us);
  for (const char* bad : {"", "s", "0s", "-1m", "+1m", "1.5m", "10", "1w", "31d", "1ms", "m1",
                          "99999999999999999999s", " 1m"}) {
    INFO(bad);
    CHECK_FALSE(parse_bucket(bad));
  }
  CHECK(storage::format_bucket(60 * s_us) == "1m");
  CHECK(storage::format_bucket(90 * s_us) == "90s");
  CHECK(storage::format_bucket(7200 * s_us) == "2h");
  CHECK(storage::format_bucket(86400 * s_us) == "1d");

  using storage::default_bucket;
  CHECK(default_bucket(0) == s_us);
  CHECK(default_bucket(30 * s_us) == s_us);
  CHECK(default_bucket(118 * s_us + 999999) == s_us);  // at worst 120 buckets when unaligned
  CHECK(default_bucket(119 * s_us) == 2 * s_us);
  CHECK(default_bucket(3600 * s_us) == 60 * s_us);         // 60 buckets
  CHECK(default_bucket(86400 * s_us) == 900 * s_us);       // 96 buckets
  CHECK(default_bucket(7 * 86400 * s_us) == 7200 * s_us);  // 84 buckets
  // Any range over 2 minutes gets 30 to 120 buckets, wherever it starts.
  for (std::int64_t range = 121 * s_us; range < 60LL * 86400 * s_us; range = range * 13 / 10) {
    const auto w = default_bucket(range);
    INFO(range << " -> " << w);
    CHECK(range / w + 1 >= 30);
    CHECK(range / w + 2 <= 120);
  }
  // The worst case: 118 min 59 s starting 30 s into a minute touches 120 one-minute buckets.
  storage::stats_options o;
  o.since_us = t0 + 30 * s_us;
  o.until_us = o.since_us.value() + 118 * 60 * s_us + 59 * s_us;
  storage::stats_builder b(o);
  const auto r = b.finish();
  CHECK(r.bucket_us == 60 * s_us);
  CHECK(r.buckets.size() == 120);
}

TEST_CASE("nearest_rank against hand-computed percentiles", "[storage][stats]") {
  using storage::nearest_rank;
  const std::vector<std::int64_t> v = {15, 20, 35, 40, 50};
  CHECK(nearest_rank(v, 5) == 15);   // rank ceil(0.25) = 1
  CHECK(nearest_rank(v, 30) == 20);  // rank ceil(1.5) = 2
  CHECK(nearest_rank(v, 40) == 20);  // rank 2 exactly
  CHECK(nearest_rank(v, 50) == 35);  // rank ceil(2.5) = 3
  CHECK(nearest_rank(v, 90) == 50);  // rank ceil(4.5) = 5
  CHECK(nearest_rank(v, 100) == 50);
  std::vector<std::int64_t> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  CHECK(nearest_rank(hundred, 50) == 50);
  CHECK(nearest_rank(hundred, 99) == 99);
  std::vector<std::int64_t> one = {7};
  CHECK(nearest_rank(one, 1) == 7);
  CHECK(nearest_rank(one, 99) == 7);
}

TEST_CASE("stats buckets: boundaries, status classes and latency", "[storage][stats]") {
  storage::stats_options o;
  o.bucket_us = 60 * s_us;
  o.since_us = t0;
  o.until_us = t0 + 3 * 60 * s_us - 1;  // three whole minutes
  storage::stats_builder b(o);
  // Minute 0: five exchanges with the latencies of the hand-computed set (ms), one a 404 and
  // one a 503, and one without a response.
  const std::vector<std::int64_t> ms = {40, 15, 50, 20, 35};
  const std::vector<int> statuses = {200, 201, 404, 503, 302};
  for (std::size_t i = 0; i < ms.size(); ++i) {
    spec s;
    s.time_us = t0 + static_cast<std::int64_t>(i) * s_us;
    s.latency_us = ms[i] * 1000;
    s.status = statuses[i];
    add(b, s);
  }
  spec lost;
  lost.time_us = t0 + 60 * s_us - 1;  // the last microsecond of minute 0
  lost.status = 0;
  add(b, lost);
  // Minute 2, first microsecond: one 1xx ("other"). Minute 1 stays empty.
  spec early;
  early.time_us = t0 + 120 * s_us;
  early.status = 101;
  early.latency_us = 7;
  add(b, early);

  const auto r = b.finish();
  REQUIRE(r.error.empty());
  CHECK(r.bucket_us == 60 * s_us);
  CHECK(r.from_us == t0);
  CHECK(r.to_us == t0 + 180 * s_us);
  CHECK(r.matched == 7);
  REQUIRE(r.buckets.size() == 3);
  const auto& b0 = r.buckets[0];
  CHECK(b0.start_us == t0);
  CHECK(b0.count == 6);
  using sc = storage::status_class;
  auto cls = [](const storage::stats_bucket& bk, sc c) {
    return bk.classes[static_cast<std::size_t>(c)];
  };
  CHECK(cls(b0, sc::s2xx) == 2);
  CHECK(cls(b0, sc::s3xx) == 1);
  CHECK(cls(b0, sc::s4xx) == 1);
  CHECK(cls(b0, sc::s5xx) == 1);
  CHECK(cls(b0, sc::incomplete) == 1);
  REQUIRE(b0.latency);
  CHECK(b0.latency->p50_us == 35000);
  CHECK(b0.latency->p90_us == 50000);
  CHECK(b0.latency->p99_us == 50000);
  CHECK(r.buckets[1].count == 0);
  CHECK_FALSE(r.buckets[1].latency);
  CHECK(r.buckets[2].start_us == t0 + 120 * s_us);
  CHECK(r.buckets[2].count == 1);
  CHECK(cls(r.buckets[2], sc::other) == 1);
  REQUIRE(r.latency);
  CHECK(r.latency->p50_us == 20000);  // {0.007, 15, 20, 35, 40, 50}: rank 3
  CHECK(r.classes[static_cast<std::size_t>(sc::incomplete)] == 1);

  // One route, /items/{id}: errors are the 503 and the incomplete one.
  REQUIRE(r.routes.size() == 1);
  CHECK(r.routes[0].key == "/items/{id}");
  CHECK(r.routes[0].count == 7);
  CHECK(r.routes[0].errors == 2);
}

TEST_CASE("stats without since or until take the data's range and a default bucket",
          "[storage][stats]") {
  storage::stats_builder b({});
  for (int i = 0; i < 118; ++i) {
    spec s;
    s.time_us = t0 + 30 * s_us + i * 60 * s_us;  // one a minute, 30 s into it
    add(b, s);
  }
  const auto r = b.finish();
  REQUIRE(r.error.empty());
  CHECK(r.bucket_us == 60 * s_us);
  CHECK(r.from_us == t0);
  CHECK(r.buckets.size() == 118);  // a range of 117 minutes, unaligned: at most 119 buckets
  for (const auto& bk : r.buckets) CHECK(bk.count == 1);

  storage::stats_builder none({});
  const auto e = none.finish();
  CHECK(e.error.empty());
  CHECK(e.matched == 0);
  CHECK(e.buckets.size() == 1);
  CHECK(e.routes.empty());
}

TEST_CASE("stats refuse a bucket that makes too many buckets", "[storage][stats]") {
  storage::stats_options o;
  o.bucket_us = s_us;
  o.since_us = t0;
  o.until_us = t0 + 86400 * s_us;
  storage::stats_builder b(o);
  const auto r = b.finish();
  CHECK(r.error.starts_with("invalid bucket: 1s makes 86401 buckets"));

  storage::stats_options centuries;  // no bucket: the widest default is still too fine
  centuries.since_us = -200LL * 365 * 86400 * s_us;
  centuries.until_us = t0;
  storage::stats_builder c(centuries);
  CHECK(c.finish().error ==
        "invalid since: the range from since to until (or the data) is longer than 2000 buckets "
        "of 30d");
}

TEST_CASE("stats routes: group, sort and top", "[storage][stats]") {
  auto build = [](storage::stats_group g, storage::stats_sort so, std::size_t top) {
    storage::stats_options o;
    o.group = g;
    o.sort = so;
    o.top = top;
    storage::stats_builder b(o);
    // /fast/{id}: 4 requests, 1 ms, one 500. /slow: 2 requests, 900 ms and 100 ms.
    // /broken: 1 request, a 502. /client: 3 requests, 404s (4xx are not errors).
    for (int i = 0; i < 4; ++i) {
      spec s;
      s.path = "/fast/" + std::to_string(i);
      s.status = i == 0 ? 500 : 200;
      s.req_bytes = 10;
      s.res_bytes = 100;
      s.host = i < 2 ? "A.example" : "b.example:8080";
      add(b, s);
    }
    for (std::int64_t ms : {900, 100}) {
      spec s;
      s.path = "/slow";
      s.latency_us = ms * 1000;
      s.method = "POST";
      s.host = "";
      add(b, s);
    }
    spec broken;
    broken.path = "/broken";
    broken.status = 502;
    broken.latency_us = 5000;
    add(b, broken);
    for (int i = 0; i < 3; ++i) {
      spec s;
      s.path = "/client";
      s.status = 404;
      s.latency_us = 2000;
      add(b, s);
    }
    spec orphan;  // a response without its request
    orphan.request = false;
    orphan.status = 200;
    add(b, orphan);
    return b.finish();
  };
  using g = storage::stats_group;
  using so = storage::stats_sort;

  const auto by_count = build(g::path, so::count, 20);
  CHECK(keys(by_count) ==
        std::vector<std::string>{"/fast/{id}", "/client", "/slow", "", "/broken"});
  CHECK(by_count.route_count == 5);
  const auto* fast = route(by_count, "/fast/{id}");
  REQUIRE(fast);
  CHECK(fast->errors == 1);
  CHECK(fast->error_share() == 0.25);
  CHECK(fast->bytes == 440);
  REQUIRE(fast->latency);
  CHECK(fast->latency->p99_us == 1000);
  const auto* slow = route(by_count, "/slow");
  REQUIRE(slow);
  REQUIRE(slow->latency);
  CHECK(slow->latency->p50_us == 100000);
  CHECK(slow->latency->p99_us == 900000);
  CHECK(route(by_count, "/client")->errors == 0);
  CHECK_FALSE(route(by_count, "")->latency);  // response only: not timed

  CHECK(keys(build(g::path, so::p99, 20)) ==
        std::vector<std::string>{"/slow", "/broken", "/client", "/fast/{id}", ""});
  CHECK(keys(build(g::path, so::errors, 20)) ==
        std::vector<std::string>{"/broken", "/fast/{id}", "/client", "/slow", ""});
  const auto top2 = build(g::path, so::p99, 2);
  CHECK(keys(top2) == std::vector<std::string>{"/slow", "/broken"});
  CHECK(top2.route_count == 5);

  // Hosts are lower-cased and keep their port; no Host header is "".
  CHECK(keys(build(g::host, so::count, 20)) ==
        std::vector<std::string>{"shop.local", "", "a.example", "b.example:8080"});
  CHECK(keys(build(g::method, so::count, 20)) == std::vector<std::string>{"GET", "POST", ""});
}

TEST_CASE("store::query stops at max_scanned and says capped", "[storage][stats]") {
  storage_test::temp_dir dir;
  storage::store st(storage_test::config_for(dir));
  for (int i = 0; i < 10; ++i) {
    spec s;
    s.time_us = t0 + i * s_us;
    REQUIRE(st.submit(make(s)));
  }
  st.flush();
  std::size_t seen = 0;
  storage::query q;
  q.limit = 1;
  q.max_scanned = 4;
  q.match = [&](std::string_view, std::size_t) {
    ++seen;
    return false;
  };
  auto r = st.query(q);
  CHECK(r.capped);
  CHECK(r.scanned == 4);
  CHECK(seen == 4);
  CHECK(r.records.empty());

  q.max_scanned = 10;  // exactly what is there: not capped
  seen = 0;
  r = st.query(q);
  CHECK_FALSE(r.capped);
  CHECK(r.scanned == 10);
  q.max_scanned = 0;
  r = st.query(q);
  CHECK_FALSE(r.capped);
  CHECK(r.scanned == 10);
}

TEST_CASE("stats bound the distinct routes", "[storage][stats]") {
  storage::stats_options o;
  o.max_routes = 3;
  storage::stats_builder b(o);
  for (const char* p : {"/a", "/b", "/a", "/c", "/d", "/e", "/b", "/d"}) {
    spec s;
    s.path = p;
    add(b, s);
  }
  const auto r = b.finish();
  CHECK(r.routes_capped);
  // /a, /b, /c, then the other routes: /d, /e, /d.
  CHECK(r.route_count == 4);
  CHECK(keys(r) == std::vector<std::string>{std::string(storage::other_route), "/a", "/b", "/c"});
  CHECK(route(r, storage::other_route)->count == 3);
  CHECK(r.matched == 8);
}
