// SPDX-License-Identifier: Apache-2.0
#include "replay/source.h"

#include <catch2/catch.hpp>
#include <string>

#include "storage/json.h"
#include "storage/store.h"
#include "test/storage/test_util.h"

using storage_test::make_exchange;

namespace {

std::string line_of(const correlate::exchange& x) {
  std::string line;
  storage::append_json_line(x, line);
  line.pop_back();
  return line;
}

constexpr std::int64_t t0 = 1795830243123456;  // 2026-11-28T01:44:03.123456Z

}  // namespace

TEST_CASE("a stored record becomes an exchange with its request and response", "[replay]") {
  auto x = make_exchange("7F000001:0001");
  x.request->headers.push_back({"x-bin", "a"});
  x.request->body.data = std::string("\x00\xff\x01 bytes", 9);  // not UTF-8: stored as base64
  x.request->body.size = 9;
  const auto e = replay::parse_record(line_of(x));
  REQUIRE(e);
  CHECK(e->id == "7F000001:0001");
  CHECK(e->request.method == "POST");
  CHECK(e->request.path == "/api/items");
  REQUIRE(e->request.query);
  CHECK(*e->request.query == "page=2");
  REQUIRE(e->request.headers.size() == 3);
  CHECK(e->request.headers[0].name == "host");
  CHECK(e->request.headers[0].value == "shop.local");
  CHECK(e->request.body == std::string("\x00\xff\x01 bytes", 9));
  CHECK(e->request.time_us == t0);
  REQUIRE(e->response);
  CHECK(e->response->status == 201);
  CHECK(e->response->body_captured);
  CHECK(e->response->body == "{\"id\":42,\"name\":\"caf\xC3\xA9\"}");
  CHECK(e->response->headers.size() == 3);
}

TEST_CASE("a record without a query or a response body keeps them absent", "[replay]") {
  auto x = make_exchange("a");
  x.request->query.reset();
  x.response->body = {};
  x.response->body.captured = false;
  x.response->body.size = 12;
  auto e = replay::parse_record(line_of(x));
  REQUIRE(e);
  CHECK_FALSE(e->request.query);
  CHECK_FALSE(e->response->body_captured);

  x.request.reset();
  CHECK_FALSE(replay::parse_record(line_of(x)));
  CHECK_FALSE(replay::parse_record("not json"));
}

TEST_CASE("a data dir is read oldest first with the events filters", "[replay]") {
  storage_test::temp_dir dir;
  auto cfg = storage_test::config_for(dir);
  {
    storage::store s(cfg);
    for (int i = 0; i < 6; ++i) {
      auto x = make_exchange("x" + std::to_string(i));
      x.request->time_us = t0 + i * 1000000;
      x.request->method = i % 2 ? "GET" : "POST";
      x.request->path = i < 3 ? "/api/items/" + std::to_string(i) : "/static/a.js";
      x.response->status = i == 5 ? 503 : 200;
      REQUIRE(s.submit(std::move(x)));
    }
    auto lone = make_exchange("response-only");
    lone.request.reset();
    lone.complete = false;
    REQUIRE(s.submit(std::move(lone)));
    s.close();
  }
  auto ids = [](const replay::load_result& r) {
    std::vector<std::string> v;
    for (const auto& x : r.exchanges) v.push_back(x.id);
    return v;
  };
  auto all = replay::read_data_dir(cfg.data_dir, {});
  CHECK(all.error.empty());
  CHECK(ids(all) == std::vector<std::string>{"x0", "x1", "x2", "x3", "x4", "x5"});
  CHECK(all.skipped == 1);

  replay::filter_options o;
  storage::filter f;
  o.method = "get";
  REQUIRE_FALSE(replay::to_storage_filter(o, f));
  CHECK(ids(replay::read_data_dir(cfg.data_dir, f)) == std::vector<std::string>{"x1", "x3", "x5"});
  o = {};
  o.path = "/api/*";
  o.since = "2026-11-28T01:44:04.123456Z";
  REQUIRE_FALSE(replay::to_storage_filter(o, f));
  CHECK(ids(replay::read_data_dir(cfg.data_dir, f)) == std::vector<std::string>{"x1", "x2"});
  o = {};
  o.status = "5xx";
  REQUIRE_FALSE(replay::to_storage_filter(o, f));
  CHECK(ids(replay::read_data_dir(cfg.data_dir, f)) == std::vector<std::string>{"x5"});
  o = {};
  o.id = "x4";
  o.complete = "true";
  REQUIRE_FALSE(replay::to_storage_filter(o, f));
  CHECK(ids(replay::read_data_dir(cfg.data_dir, f)) == std::vector<std::string>{"x4"});

  CHECK_FALSE(replay::read_data_dir(dir.path() / "nowhere", {}).error.empty());
}

TEST_CASE("command line filters are checked as GET events checks them", "[replay]") {
  replay::filter_options o;
  storage::filter f;
  o.status = "abc";
  REQUIRE(replay::to_storage_filter(o, f));
  CHECK(replay::to_storage_filter(o, f)->starts_with("invalid --status"));
  o = {};
  o.since = "yesterday";
  CHECK(replay::to_storage_filter(o, f) == "invalid --since: expected an RFC 3339 date-time");
  o = {};
  o.complete = "maybe";
  CHECK(replay::to_storage_filter(o, f));
  o = {};
  o.status = "404";
  o.host = "shop.local";
  REQUIRE_FALSE(replay::to_storage_filter(o, f));
  CHECK(f.status == 404);
  CHECK(f.host == "shop.local");

  o = {};
  CHECK(replay::to_query_string(o).empty());
  o.path = "/api/*";
  o.method = "GET";
  o.since = "2026-11-28T01:44:03+02:00";
  CHECK(replay::to_query_string(o) == "since=2026-11-28T01:44:03%2B02:00&method=GET&path=/api/*");
}

TEST_CASE("an events page gives its records and the next cursor", "[replay]") {
  const auto rec = line_of(make_exchange("p1"));
  replay::load_result r;
  auto next = replay::parse_events_page("{\"events\":[" + rec + "],\"next\":\"4294967298\"}", r);
  REQUIRE(next);
  CHECK(*next == "4294967298");
  REQUIRE(r.exchanges.size() == 1);
  CHECK(r.exchanges[0].id == "p1");
  CHECK_FALSE(replay::parse_events_page("{\"events\":[],\"next\":null}", r));
  CHECK(r.error.empty());
  replay::parse_events_page("{\"error\":\"unauthorized\"}", r);
  CHECK_FALSE(r.error.empty());
}

TEST_CASE("a HAR log gives its entries oldest first", "[replay]") {
  const std::string har = R"({"log":{"version":"1.2","entries":[
    {"startedDateTime":"2026-11-28T01:44:05Z","_id":"second",
     "request":{"method":"POST","url":"https://shop.local:8443/api/items?page=2#frag",
       "headers":[{"name":":authority","value":"shop.local"},{"name":"Content-Type","value":"application/octet-stream"}],
       "postData":{"mimeType":"application/octet-stream","text":"AP8B","_encoding":"base64"}},
     "response":{"status":201,"headers":[{"name":"Content-Type","value":"application/json"}],
       "content":{"size":9,"mimeType":"application/json","text":"{\"id\":42}"}}},
    {"startedDateTime":"2026-11-28T01:44:03.5Z",
     "request":{"method":"GET","url":"http://shop.local","headers":[]},
     "response":{"status":0,"headers":[],"content":{"size":0}}},
    {"startedDateTime":"2026-11-28T01:44:04Z","request":{"method":"GET","url":"no-scheme"}}
  ]}})";
  const auto r = replay::read_har(har);
  CHECK(r.error.empty());
  CHECK(r.skipped == 1);
  REQUIRE(r.exchanges.size() == 2);
  const auto& first = r.exchanges[0];
  CHECK(first.request.path == "/");
  CHECK_FALSE(first.request.query);
  CHECK_FALSE(first.response);  // status 0: the browser's aborted request
  const auto& second = r.exchanges[1];
  CHECK(second.id == "second");
  CHECK(second.request.method == "POST");
  CHECK(second.request.path == "/api/items");
  CHECK(second.request.query == "page=2");
  REQUIRE(second.request.headers.size() == 1);
  CHECK(second.request.headers[0].name == "Content-Type");
  CHECK(second.request.body == std::string("\x00\xff\x01", 3));
  REQUIRE(second.response);
  CHECK(second.response->status == 201);
  CHECK(second.response->body == "{\"id\":42}");

  CHECK_FALSE(replay::read_har("[1,2]").error.empty());
  CHECK_FALSE(replay::read_har("{").error.empty());
}

TEST_CASE("HAR entries are filtered by the rules of the record matcher", "[replay]") {
  replay::exchange x;
  x.id = "h1";
  x.request.method = "GET";
  x.request.path = "/api/items/7";
  x.request.headers = {{"Host", "Shop.Local:8443"}};
  x.request.time_us = t0;
  x.response = replay::captured_response{};
  x.response->status = 404;
  auto with = [](auto set) {
    storage::filter f;
    set(f);
    return f;
  };
  CHECK(replay::matches(x, {}));
  CHECK(replay::matches(x, with([](auto& f) { f.host = "shop.local"; })));
  CHECK(replay::matches(x, with([](auto& f) { f.host = "shop.local:8443"; })));
  CHECK_FALSE(replay::matches(x, with([](auto& f) { f.host = "shop"; })));
  CHECK(replay::matches(x, with([](auto& f) { f.path = "/api/*/7"; })));
  CHECK(replay::matches(x, with([](auto& f) { f.path = "/api/"; })));
  CHECK_FALSE(replay::matches(x, with([](auto& f) { f.path = "/api/*/8"; })));
  CHECK(replay::matches(x, with([](auto& f) { f.status_class = 4; })));
  CHECK_FALSE(replay::matches(x, with([](auto& f) { f.status = 200; })));
  CHECK_FALSE(replay::matches(x, with([](auto& f) { f.method = "POST"; })));
  CHECK_FALSE(replay::matches(x, with([](auto& f) { f.since_us = t0 + 1; })));
  CHECK(replay::matches(x, with([](auto& f) { f.until_us = t0; })));
  CHECK_FALSE(replay::matches(x, with([](auto& f) { f.complete = false; })));
  CHECK_FALSE(replay::matches(x, with([](auto& f) { f.id = "h2"; })));
  x.response.reset();
  CHECK_FALSE(replay::matches(x, with([](auto& f) { f.status_class = 4; })));
  CHECK(replay::matches(x, with([](auto& f) { f.complete = false; })));
}
