// SPDX-License-Identifier: Apache-2.0
#include "storage/filter.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "storage/json.h"
#include "storage/store.h"
#include "test/storage/test_util.h"

using storage_test::make_exchange;

namespace {

bool matches(const storage::filter& f, const correlate::exchange& x) {
  std::string line;
  storage::append_json_line(x, line);
  line.pop_back();  // the '\n'
  const std::size_t n = line.size();
  line.resize(n + simdjson::SIMDJSON_PADDING);
  storage::record_matcher m(f);
  return m(std::string_view(line.data(), n), line.size());
}

constexpr std::int64_t t0 = 1795830243123456;  // 2026-11-28T01:44:03.123456Z

}  // namespace

TEST_CASE("parse_rfc3339", "[storage][filter]") {
  CHECK(storage::parse_rfc3339("2026-11-28T01:44:03.123456Z") == t0);
  CHECK(storage::parse_rfc3339("2026-11-28T01:44:03Z") == t0 - 123456);
  CHECK(storage::parse_rfc3339("2026-11-28t01:44:03.1234569z") == t0);
  CHECK(storage::parse_rfc3339("2026-11-28T03:44:03.123456+02:00") == t0);
  CHECK(storage::parse_rfc3339("2026-11-27T23:44:03.123456-02:00") == t0);
  CHECK(storage::parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(storage::parse_rfc3339("2024-02-29T00:00:00Z"));
  for (const char* bad :
       {"", "2026-11-28", "2026-11-28T01:44:03", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
        "2026-11-28T24:00:00Z", "2026-11-28T01:44:03.Z", "2026-11-28T01:44:03Zx",
        "2026-11-28 01:44:03Z", "2026-11-28T01:44:03+2", "x026-11-28T01:44:03Z"}) {
    INFO(bad);
    CHECK_FALSE(storage::parse_rfc3339(bad));
  }
}

TEST_CASE("glob_match", "[storage][filter]") {
  CHECK(storage::glob_match("/api/*", "/api/items"));
  CHECK(storage::glob_match("/api/*/edit", "/api/items/7/edit"));
  CHECK(storage::glob_match("*", ""));
  CHECK(storage::glob_match("*.png", "/a/b.png"));
  CHECK_FALSE(storage::glob_match("*.png", "/a/b.png?x"));
  CHECK_FALSE(storage::glob_match("/api/*", "/apx/items"));
  CHECK(storage::glob_match("a**b*c", "axxbyyc"));
  CHECK_FALSE(storage::glob_match("a*b*c", "axxbyy"));
  CHECK(storage::glob_match("/exact", "/exact"));
  CHECK_FALSE(storage::glob_match("/exact", "/exactly"));
}

TEST_CASE("record_matcher checks each filter field", "[storage][filter]") {
  const auto x = make_exchange("id-1");  // POST /api/items, host shop.local, 201, complete
  storage::filter f;
  CHECK(f.empty());
  CHECK(matches(f, x));

  SECTION("id") {
    f.id = "id-1";
    CHECK(matches(f, x));
    f.id = "id-2";
    CHECK_FALSE(matches(f, x));
  }
  SECTION("complete") {
    f.complete = true;
    CHECK(matches(f, x));
    f.complete = false;
    CHECK_FALSE(matches(f, x));
  }
  SECTION("method") {
    f.method = "POST";
    CHECK(matches(f, x));
    f.method = "GET";
    CHECK_FALSE(matches(f, x));
  }
  SECTION("status and class") {
    f.status = 201;
    CHECK(matches(f, x));
    f.status = 200;
    CHECK_FALSE(matches(f, x));
    f.status = 0;
    f.status_class = 2;
    CHECK(matches(f, x));
    f.status_class = 4;
    CHECK_FALSE(matches(f, x));
  }
  SECTION("path prefix and glob") {
    f.path = "/api";
    CHECK(matches(f, x));
    f.path = "/api/*s";
    CHECK(matches(f, x));
    f.path = "/api/*x";
    CHECK_FALSE(matches(f, x));
    f.path = "/other";
    CHECK_FALSE(matches(f, x));
  }
  SECTION("host, case-insensitive, port optional") {
    f.host = "SHOP.local";
    CHECK(matches(f, x));
    auto y = x;
    y.request->headers = {{"Host", "shop.local:8080"}};
    CHECK(matches(f, y));
    f.host = "shop.local:9090";
    CHECK_FALSE(matches(f, y));
    f.host = "shop";
    CHECK_FALSE(matches(f, y));
    y.request->headers.clear();
    f.host = "shop.local";
    CHECK_FALSE(matches(f, y));
  }
  SECTION("since and until are inclusive, on the request time") {
    f.since_us = t0;
    f.until_us = t0;
    CHECK(matches(f, x));
    f.since_us = t0 + 1;
    CHECK_FALSE(matches(f, x));
    f.since_us.reset();
    f.until_us = t0 - 1;
    CHECK_FALSE(matches(f, x));
  }
  SECTION("a response-only record uses the response time; request filters never match it") {
    auto y = x;
    y.request.reset();
    y.complete = false;
    f.since_us = y.response->time_us;
    CHECK(matches(f, y));
    f.since_us = y.response->time_us + 1;
    CHECK_FALSE(matches(f, y));
    f.since_us.reset();
    f.method = "POST";
    CHECK_FALSE(matches(f, y));
  }
  SECTION("a request-only record never matches a status filter") {
    auto y = x;
    y.response.reset();
    f.status_class = 2;
    CHECK_FALSE(matches(f, y));
    f.status_class = 0;
    f.method = "POST";
    CHECK(matches(f, y));
  }
  SECTION("everything at once") {
    f.id = "id-1";
    f.complete = true;
    f.method = "POST";
    f.path = "/api/*";
    f.host = "shop.local";
    f.status = 201;
    f.since_us = t0 - 1000;
    f.until_us = t0 + 1000;
    CHECK(matches(f, x));
  }
  SECTION("garbage never matches") {
    storage::record_matcher m(f);
    std::string junk = "not json";
    junk.resize(junk.size() + simdjson::SIMDJSON_PADDING);
    f.method = "GET";
    storage::record_matcher m2(f);
    CHECK_FALSE(m2(std::string_view(junk.data(), 8), junk.size()));
  }
}

TEST_CASE("store::query with a matcher scans on until limit matches", "[storage][filter]") {
  storage_test::temp_dir dir;
  storage::config c;
  c.data_dir = dir.path() / "data";
  c.flush_interval_ms = 10;
  storage::store s(c);
  // 50 records; every 7th is a GET.
  for (int i = 1; i <= 50; ++i) {
    auto x = make_exchange("x-" + std::to_string(i));
    if (i % 7 == 0) x.request->method = "GET";
    REQUIRE(s.submit(std::move(x)));
  }
  s.flush();
  storage::filter f;
  f.method = "GET";
  auto make_query = [&](std::size_t limit, std::optional<std::uint64_t> before) {
    storage::query q;
    q.limit = limit;
    q.before = before;
    auto m = std::make_shared<storage::record_matcher>(f);
    q.match = [m](std::string_view line, std::size_t cap) { return (*m)(line, cap); };
    return q;
  };
  std::vector<std::string> ids;
  std::optional<std::uint64_t> cursor;
  int pages = 0;
  do {
    auto page = s.query(make_query(2, cursor));
    ++pages;
    simdjson::dom::parser p;
    for (const auto& r : page.records) {
      std::string_view id;
      REQUIRE(p.parse(r)["id"].get(id) == simdjson::SUCCESS);
      ids.emplace_back(id);
    }
    cursor = page.next;
  } while (cursor && pages < 20);
  CHECK(ids == std::vector<std::string>{"x-49", "x-42", "x-35", "x-28", "x-21", "x-14", "x-7"});
  CHECK(pages == 4);  // the last page holds x-7 alone: the scan reached the end

  // A filter nothing matches reads everything and answers an empty last page.
  f.method = "PATCH";
  auto none = s.query(make_query(10, std::nullopt));
  CHECK(none.records.empty());
  CHECK_FALSE(none.next);
  CHECK(none.scanned == 50);
  CHECK(s.writable());
}

TEST_CASE("store::writable follows the last write", "[storage][filter]") {
  storage_test::temp_dir dir;
  storage::config c;
  c.data_dir = dir.path() / "data";
  c.flush_interval_ms = 10;
  storage::store s(c);
  CHECK(s.writable());
  s.testing_fail_writes(1);
  REQUIRE(s.submit(make_exchange("a")));
  s.flush();
  CHECK_FALSE(s.writable());
  REQUIRE(s.submit(make_exchange("b")));
  s.flush();
  CHECK(s.writable());
}
