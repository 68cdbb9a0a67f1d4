// SPDX-License-Identifier: Apache-2.0
//
// The routes, over a real storage::store in a temporary directory. Requests go in as bytes
// through request_parser; the serve fixtures (test/fixtures/http/serve/<name>.http ->
// <name>.response) check the exact response bytes for everything that does not depend on
// what storage/ writes, and the tests below parse the JSON of the rest with simdjson.
#include "api/router.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "api/event_stream.h"
#include "test/api/fixture.h"

namespace {

using api::request_parser;

correlate::exchange make_exchange(const std::string& id, int i) {
  correlate::exchange x;
  x.id = id;
  x.complete = true;
  correlate::request_half rq;
  rq.time_us = 1795830243123456 + i * 1000;
  rq.method = "GET";
  rq.path = "/items/" + std::to_string(i);
  rq.version = "1.1";
  rq.headers = {{"host", "shop.local"}};
  rq.body.captured = false;
  x.request = std::move(rq);
  correlate::response_half rs;
  rs.time_us = 1795830243125000 + i * 1000;
  rs.status = 200;
  rs.version = "1.1";
  rs.headers = {{"content-type", "text/plain"}};
  rs.body.data = "ok";
  rs.body.size = 2;
  x.response = std::move(rs);
  x.duration_us = 1544;
  return x;
}

std::vector<api::metric_group> fake_status() {
  return {
      {"spop", {{"connections", 3, true}, {"notify_frames", 120, false}}},
      {"correlator", {{"pending", 7, true}, {"paired", 55, false}}},
      {"storage", {}},
      {"process", {{"uptime_seconds", 42, true}}},
  };
}

// What the agent does with a connection's bytes: parse, route, write; a parse error is
// answered with Connection: close and ends the connection, as does a request with
// keep_alive false.
std::string serve(const api::router& rt, std::string_view in) {
  request_parser p;
  std::string out;
  while (true) {
    const auto r = p.feed(in);
    if (r.what == request_parser::kind::error) {
      auto e = api::error_response(r.status, r.reason);
      e.close = true;
      api::append_response(e, false, out);
      return out;
    }
    in.remove_prefix(r.consumed);
    if (r.what == request_parser::kind::need_more) return out;
    const auto& rq = p.current();
    auto resp = rt.handle(rq);
    out += api::serialize_response(resp, rq.keep_alive);
    if (!rq.keep_alive) return out;
  }
}

api::request parse_one(std::string_view bytes) {
  request_parser p;
  const auto r = p.feed(bytes);
  REQUIRE(r.what == request_parser::kind::request);
  return std::move(p.current());
}

api::request get(const std::string& target, const std::string& method = "GET") {
  return parse_one(method + " " + target + " HTTP/1.1\r\nHost: t\r\n\r\n");
}

struct world {
  api_test::temp_dir dir;
  storage::store store;
  std::vector<correlate::event> ingested;
  bool full = false;  // the ingest sink refuses (pipeline full)
  api::router rt;

  explicit world(api::router_options o = {})
      : store(config(dir.path())), rt(store, fake_status, "1.2.3-test", options(std::move(o))) {}

  api::router_options options(api::router_options o) {
    if (!o.ingest) {
      o.ingest = [this](std::vector<correlate::event>& evs) {
        if (full) return false;
        for (auto& e : evs) ingested.push_back(std::move(e));
        return true;
      };
    }
    o.now_us = [] { return std::int64_t{1795830243000000}; };
    return o;
  }

  static storage::config config(const std::filesystem::path& p) {
    storage::config c;
    c.data_dir = p;
    return c;
  }
};

std::string id_of(int i) { return "7F000001:D13C_5F2A_" + std::to_string(1000 + i); }

// /events answers as {ids newest first, next cursor or ""}.
struct page {
  std::vector<std::string> ids;
  std::string next;  // empty when null
};

page parse_page(const api::response& r) {
  REQUIRE(r.status == 200);
  REQUIRE(r.content_type == "application/json");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(r.body).get(doc) == simdjson::SUCCESS);
  page pg;
  simdjson::dom::array events;
  REQUIRE(doc["events"].get(events) == simdjson::SUCCESS);
  for (auto e : events) {
    std::string_view id;
    REQUIRE(e["id"].get(id) == simdjson::SUCCESS);
    pg.ids.emplace_back(id);
  }
  auto next = doc["next"];
  REQUIRE(next.error() == simdjson::SUCCESS);
  if (!next.is_null()) {
    std::string_view n;
    REQUIRE(next.get(n) == simdjson::SUCCESS);
    REQUIRE(!n.empty());
    pg.next = n;
  }
  return pg;
}

std::string error_of(const api::response& r) {
  simdjson::dom::parser parser;
  std::string_view e;
  REQUIRE(parser.parse(r.body)["error"].get(e) == simdjson::SUCCESS);
  return std::string(e);
}

}  // namespace

TEST_CASE("serve fixtures: request bytes in, response bytes out", "[api][router]") {
  world w;
  const auto stems = api_test::fixture_stems(api_test::fixtures_dir("serve"));
  REQUIRE(stems.size() >= 10);
  for (const auto& stem : stems) {
    INFO("fixture " << stem.filename().string());
    const auto in = api_test::read_file(stem.string() + ".http");
    const auto actual = serve(w.rt, in);
    if (!std::filesystem::exists(stem.string() + ".response")) {
      // HEP_WRITE_GOLDEN=1 saves what the router said, for review before it is committed.
      if (std::getenv("HEP_WRITE_GOLDEN") != nullptr) {
        std::ofstream(stem.string() + ".response", std::ios::binary) << actual;
      }
      FAIL_CHECK("no .response; the router says:\n" << api_test::escape(actual));
      continue;
    }
    CHECK(api_test::escape(actual) ==
          api_test::escape(api_test::read_file(stem.string() + ".response")));
  }
}

TEST_CASE("GET /events pages newest first with limit and cursor", "[api][router]") {
  world w;
  for (int i = 1; i <= 5; ++i) REQUIRE(w.store.submit(make_exchange(id_of(i), i)));
  w.store.flush();

  auto all = parse_page(w.rt.handle(get("/events")));
  CHECK(all.ids == std::vector<std::string>{id_of(5), id_of(4), id_of(3), id_of(2), id_of(1)});
  CHECK(all.next.empty());

  auto p1 = parse_page(w.rt.handle(get("/events?limit=2")));
  CHECK(p1.ids == std::vector<std::string>{id_of(5), id_of(4)});
  REQUIRE(!p1.next.empty());
  auto p2 = parse_page(w.rt.handle(get("/events?limit=2&cursor=" + p1.next)));
  CHECK(p2.ids == std::vector<std::string>{id_of(3), id_of(2)});
  REQUIRE(!p2.next.empty());
  // Parameter order does not matter, '+'/percent-encoded names decode, unknown ones are ignored.
  auto p3 = parse_page(w.rt.handle(get("/events?_=17&cursor=" + p2.next + "&%6cimit=2")));
  CHECK(p3.ids == std::vector<std::string>{id_of(1)});
  CHECK(p3.next.empty());

  // The records are spliced as stored: /events and /events/{id} return the same bytes.
  const auto one = w.rt.handle(get("/events?limit=1"));
  const auto rec = w.store.get(id_of(5));
  REQUIRE(rec);
  CHECK(one.body.find(*rec) != std::string::npos);

  // A cursor at the oldest end answers an empty page.
  auto empty = parse_page(w.rt.handle(get("/events?cursor=1")));
  CHECK(empty.ids.empty());
  CHECK(empty.next.empty());
}

TEST_CASE("GET /events?scope=local reads its own entry of a fleet cursor", "[api][router]") {
  api::router_options o;
  o.instance = "14960360c4a81ea2";
  world w(std::move(o));
  for (int i = 1; i <= 5; ++i) REQUIRE(w.store.submit(make_exchange(id_of(i), i)));
  w.store.flush();
  const auto p1 = parse_page(w.rt.handle(get("/events?scope=local&limit=2")));
  REQUIRE(!p1.next.empty());
  auto fleet = [](api::fleet_cursor c) { return api::encode_fleet_cursor(c); };

  // Its entry: continue below it, as with the local cursor itself.
  const auto mine = fleet({{"14960360c4a81ea2", p1.next}, {"0000000000000002", "done"}});
  auto p2 = parse_page(w.rt.handle(get("/events?scope=local&limit=2&cursor=" + mine)));
  CHECK(p2.ids == std::vector<std::string>{id_of(3), id_of(2)});
  CHECK(p2.next == parse_page(w.rt.handle(get("/events?limit=2&cursor=" + p1.next))).next);
  // No entry, or "": from the newest (a source the cursor does not know yet).
  for (const auto& c : {fleet({{"0000000000000002", "1"}}), fleet({{"14960360c4a81ea2", ""}})}) {
    CHECK(parse_page(w.rt.handle(get("/events?scope=local&limit=2&cursor=" + c))).ids ==
          p1.ids);
  }
  // "done": an empty last page.
  const auto done = fleet({{"14960360c4a81ea2", "done"}});
  const auto r = w.rt.handle(get("/events?scope=local&cursor=" + done));
  CHECK(r.body == "{\"events\":[],\"next\":null,\"cursors\":[]}");
  // An entry that is no cursor, and an agent without an instance id: 400.
  const auto bad = w.rt.handle(
      get("/events?scope=local&cursor=" + fleet({{"14960360c4a81ea2", "Z!"}})));
  CHECK(bad.status == 400);
  CHECK(error_of(bad) == "invalid cursor");
  world anonymous;
  CHECK(anonymous.rt.handle(get("/events?cursor=" + mine)).status == 400);
}

TEST_CASE("GET /events rejects bad limit, cursor and unsupported filters", "[api][router]") {
  world w;
  for (const char* bad :
       {"0", "1001", "abc", "", "-1", "1e2", "2%20", "+5", "99999999999999999999"}) {
    INFO("limit=" << bad);
    const auto r = w.rt.handle(get(std::string("/events?limit=") + bad));
    CHECK(r.status == 400);
    CHECK(error_of(r).find("limit") != std::string::npos);
  }
  CHECK(w.rt.handle(get("/events?limit=1000")).status == 200);
  CHECK(w.rt.handle(get("/events?limit=1")).status == 200);

  for (const char* bad :
       {"", "!!", "ZZ", "00", "-1", "zzzzzzzzzzzzzz", "3w5e11264sgsg", "%zz", "1%00"}) {
    INFO("cursor=" << bad);
    const auto r = w.rt.handle(get(std::string("/events?cursor=") + bad));
    CHECK(r.status == 400);
    CHECK(error_of(r) == "invalid cursor");
  }
  for (const char* bad : {"since=yesterday", "until=2026-11-28", "status=4x", "status=600",
                          "status=abc", "method=G%20T", "method=", "complete=maybe", "path=",
                          "host=", "id="}) {
    INFO(bad);
    const auto r = w.rt.handle(get(std::string("/events?") + bad));
    CHECK(r.status == 400);
    CHECK(error_of(r).starts_with("invalid"));
  }
}

TEST_CASE("GET /events/{id}: hit, percent-decoded hit, miss", "[api][router]") {
  world w;
  for (int i = 1; i <= 3; ++i) REQUIRE(w.store.submit(make_exchange(id_of(i), i)));
  w.store.submit(make_exchange("id with/slash+plus", 9));
  w.store.flush();

  const auto hit = w.rt.handle(get("/events/" + id_of(2)));
  CHECK(hit.status == 200);
  CHECK(hit.body == *w.store.get(id_of(2)));
  simdjson::dom::parser parser;
  std::string_view path;
  REQUIRE(parser.parse(hit.body)["request"]["path"].get(path) == simdjson::SUCCESS);
  CHECK(path == "/items/2");

  const auto encoded = w.rt.handle(get("/events/7F000001%3aD13C%5F5F2A_1003"));
  CHECK(encoded.status == 200);
  CHECK(encoded.body == *w.store.get(id_of(3)));

  // '/' must be encoded to stay one segment; '+' in a path is a plus, not a space.
  const auto odd = w.rt.handle(get("/events/id%20with%2Fslash+plus"));
  CHECK(odd.status == 200);
  CHECK(odd.body == *w.store.get("id with/slash+plus"));

  const auto miss = w.rt.handle(get("/events/nope"));
  CHECK(miss.status == 404);
  CHECK(miss.body == R"({"error":"exchange not found"})");

  const auto bad = w.rt.handle(get("/events/a%2"));
  CHECK(bad.status == 400);
}

TEST_CASE("unknown paths 404, wrong methods 405 with Allow", "[api][router]") {
  world w;
  for (const char* path : {"/nope", "/events/", "/events/a/b", "/eventsx", "/status/",
                           "/index.html", "/ui/nope", "/ui/app.jsx", "/ui//app.js"}) {
    INFO(path);
    const auto r = w.rt.handle(get(path));
    CHECK(r.status == 404);
    CHECK(r.body == R"({"error":"not found"})");
  }
  for (const char* method : {"POST", "HEAD", "DELETE", "PUT", "OPTIONS"}) {
    for (const char* path : {"/events", "/events/x", "/status", "/healthz", "/readyz", "/metrics",
                             "/events.har", "/events/stream", "/", "/ui/", "/ui/app.js"}) {
      INFO(method << " " << path);
      const auto r = w.rt.handle(get(path, method));
      CHECK(r.status == 405);
      CHECK(r.body == R"({"error":"method not allowed"})");
      REQUIRE(r.headers.size() == 1);
      CHECK(r.headers[0] == api::header{"Allow", "GET"});
    }
  }
}

TEST_CASE("blocking() marks the routes that read the disk", "[api][router]") {
  CHECK(api::router::blocking(get("/events")));
  CHECK(api::router::blocking(get("/events?limit=5")));
  CHECK(api::router::blocking(get("/events/abc")));
  CHECK(api::router::blocking(get("/events/stats?bucket=1m")));
  CHECK_FALSE(api::router::blocking(get("/status")));
  CHECK_FALSE(api::router::blocking(get("/healthz")));
  CHECK_FALSE(api::router::blocking(get("/nope")));
  CHECK_FALSE(api::router::blocking(get("/events/")));
  CHECK_FALSE(api::router::blocking(get("/events", "POST")));
  CHECK_FALSE(api::router::blocking(get("/events/stream")));
  CHECK_FALSE(api::router::blocking(get("/")));
  CHECK_FALSE(api::router::blocking(get("/ui/app.js")));
}

TEST_CASE("GET /status reports version, headline numbers and every group", "[api][router]") {
  world w;
  const auto r = w.rt.handle(get("/status"));
  REQUIRE(r.status == 200);
  simdjson::dom::parser parser;
  simdjson::dom::object doc;
  REQUIRE(parser.parse(r.body).get(doc) == simdjson::SUCCESS);
  std::vector<std::string> keys;
  for (auto [k, v] : doc) keys.emplace_back(k);
  CHECK(keys == std::vector<std::string>{"status", "version", "uptimeSeconds", "pendingEvents",
                                         "spop", "correlator", "storage", "process"});
  CHECK(std::string_view(doc["status"]) == "ok");
  CHECK(std::string_view(doc["version"]) == "1.2.3-test");
  CHECK(std::uint64_t(doc["uptimeSeconds"]) == 42);
  CHECK(std::uint64_t(doc["pendingEvents"]) == 7);
  CHECK(std::uint64_t(doc["spop"]["notify_frames"]) == 120);
  CHECK(std::uint64_t(doc["correlator"]["paired"]) == 55);
  simdjson::dom::object storage_group;
  REQUIRE(doc["storage"].get(storage_group) == simdjson::SUCCESS);
  CHECK(storage_group.size() == 0);

  // Without the process and correlator groups the headline numbers are 0.
  api::router bare(
      w.store, [] { return std::vector<api::metric_group>{}; }, "v\"q");
  const auto b = bare.handle(get("/status"));
  CHECK(b.body == R"({"status":"ok","version":"v\"q","uptimeSeconds":0,"pendingEvents":0})");
}

TEST_CASE("percent_decode and parse_query", "[api][router]") {
  CHECK(api::percent_decode("a%3Ab%3ac", false) == "a:b:c");
  CHECK(api::percent_decode("a+b", false) == "a+b");
  CHECK(api::percent_decode("a+b", true) == "a b");
  CHECK(api::percent_decode("%2B", true) == "+");
  CHECK(api::percent_decode("%00", false) == std::string(1, '\0'));
  CHECK_FALSE(api::percent_decode("%", false));
  CHECK_FALSE(api::percent_decode("%4", false));
  CHECK_FALSE(api::percent_decode("%g0", false));
  CHECK(api::percent_decode("", false) == "");

  using q = std::vector<std::pair<std::string, std::string>>;
  CHECK(api::parse_query("") == q{});
  CHECK(api::parse_query("a=1&&b=x+y&c&d=&%65=%3D") ==
        q{{"a", "1"}, {"b", "x y"}, {"c", ""}, {"d", ""}, {"e", "="}});
  CHECK(api::parse_query("k=%zz") == q{{"k", "%zz"}});
  CHECK(api::parse_query("a=b=c") == q{{"a", "b=c"}});
}

TEST_CASE("cursor encoding round-trips and is strict", "[api][router]") {
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{35}, std::uint64_t{36},
                          std::uint64_t{123456789}, ~std::uint64_t{0}}) {
    INFO(v);
    CHECK(api::decode_cursor(api::encode_cursor(v)) == v);
  }
  CHECK(api::encode_cursor(35) == "z");
  CHECK(api::encode_cursor(~std::uint64_t{0}) == "3w5e11264sgsf");
  CHECK_FALSE(api::decode_cursor("3w5e11264sgsg"));  // 2^64
  CHECK_FALSE(api::decode_cursor("Z"));
  CHECK_FALSE(api::decode_cursor("01"));
  CHECK_FALSE(api::decode_cursor(""));
  CHECK_FALSE(api::decode_cursor("+1"));
  CHECK_FALSE(api::decode_cursor(" 1"));
}

TEST_CASE("the web viewer is served from the binary, without a token", "[api][router][ui]") {
  api::router_options o;
  o.api_token = "s3cret";
  world w(std::move(o));
  const auto page = w.rt.handle(get("/"));
  REQUIRE(page.status == 200);
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK(page.body.find("<script src=\"/ui/app.js\"") != std::string::npos);
  CHECK(page.body.find("/ui/style.css") != std::string::npos);
  for (const char* same : {"/ui", "/ui/", "/ui/index.html", "/?status=4xx"}) {
    INFO(same);
    CHECK(w.rt.handle(get(same)).body == page.body);
  }
  auto header = [](const api::response& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return v;
    }
    return std::string();
  };
  const auto csp = header(page, "Content-Security-Policy");
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("connect-src 'self'") != std::string::npos);
  CHECK(csp.find("unsafe") == std::string::npos);
  CHECK(header(page, "X-Content-Type-Options") == "nosniff");
  CHECK(header(page, "Cache-Control") == "no-cache");

  const auto js = w.rt.handle(get("/ui/app.js"));
  CHECK(js.status == 200);
  CHECK(js.content_type == "text/javascript; charset=utf-8");
  CHECK(js.body.find("'use strict'") != std::string::npos);
  const auto css = w.rt.handle(get("/ui/style.css"));
  CHECK(css.status == 200);
  CHECK(css.content_type == "text/css; charset=utf-8");
  CHECK(header(css, "Content-Security-Policy").empty());

  // ETags: one per file, quoted; If-None-Match with it (or a list holding it) answers 304.
  const auto etag = header(js, "ETag");
  REQUIRE(etag.size() == 18);
  CHECK(etag.front() == '"');
  CHECK(etag != header(css, "ETag"));
  for (const auto& inm : {etag, "\"x\", W/" + etag, std::string("*")}) {
    INFO(inm);
    auto r =
        w.rt.handle(parse_one("GET /ui/app.js HTTP/1.1\r\nIf-None-Match: " + inm + "\r\n\r\n"));
    CHECK(r.status == 304);
    CHECK(r.body.empty());
    const auto bytes = api::serialize_response(r, true);
    CHECK(bytes.find("Content-Length") == std::string::npos);
    CHECK(bytes.find("ETag: " + etag + "\r\n") != std::string::npos);
    CHECK(bytes.ends_with("\r\n\r\n"));
  }
  CHECK(w.rt.handle(parse_one("GET /ui/app.js HTTP/1.1\r\nIf-None-Match: \"old\"\r\n\r\n"))
            .status == 200);

  // The data stays behind the token.
  CHECK(w.rt.handle(get("/events")).status == 401);
  CHECK(w.rt.handle(get("/events/stream")).status == 401);
}

TEST_CASE("GET /events/stream: the filters of /events, then a live body", "[api][router]") {
  world w;
  auto r = w.rt.handle(get("/events/stream?method=post&status=2xx&path=/api/*&limit=5"));
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "text/event-stream");
  REQUIRE(r.live);
  CHECK_FALSE(r.stream);
  const auto head = api::serialize_response(r, true);
  CHECK(head.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(head.find("Cache-Control: no-store\r\n") != std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  CHECK(head.ends_with("\r\n\r\n"));

  // The filter is the request's: a POST 201 on /api/x passes, the GET does not.
  std::string out;
  r.live->take(out);
  CHECK(out.find("event: ready") != std::string::npos);
  auto x = make_exchange("a", 1);
  api::stream_record rec;
  rec.assign(x);
  CHECK_FALSE(r.live->offer(rec, 1 << 20));
  x.request->method = "POST";
  x.request->path = "/api/x";
  x.response->status = 201;
  rec.assign(x);
  CHECK(r.live->offer(rec, 1 << 20));

  for (const char* bad : {"status=abc", "since=yesterday", "method=", "limit=0", "cursor=!"}) {
    INFO(bad);
    const auto e = w.rt.handle(get(std::string("/events/stream?") + bad));
    CHECK(e.status == 400);
    CHECK_FALSE(e.live);
  }
  // An exchange whose id is "stream" is still reachable, escaped.
  w.store.submit(make_exchange("stream", 3));
  w.store.flush();
  CHECK(w.rt.handle(get("/events/%73tream")).status == 200);
}

namespace {

// An exchange at `t_us` on `path` answered `status` after `latency_us` (status 0: none).
correlate::exchange stats_exchange(int i, std::int64_t t_us, const std::string& path, int status,
                                   std::int64_t latency_us) {
  auto x = make_exchange(id_of(i), 0);
  x.request->time_us = t_us;
  x.request->path = path;
  if (status == 0) {
    x.response.reset();
    x.complete = false;
  } else {
    x.response->time_us = t_us + latency_us;
    x.response->status = status;
  }
  return x;
}

simdjson::dom::element parse_json(simdjson::dom::parser& parser, const api::response& r) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(r.content_type == "application/json");
  simdjson::dom::element doc;
  REQUIRE(parser.parse(r.body).get(doc) == simdjson::SUCCESS);
  return doc;
}

constexpr std::int64_t minute0 = 1795830240000000;  // 2026-11-28T01:44:00Z

}  // namespace

TEST_CASE("GET /events/stats: buckets, totals and routes over the /events filters",
          "[api][router][stats]") {
  world w;
  // Minute 0: /items/1 200 10 ms, /items/2 503 30 ms, /items/3 no response.
  // Minute 2: /slow 200 900 ms. Minute 1 is empty.
  REQUIRE(w.store.submit(stats_exchange(1, minute0 + 1000000, "/items/1", 200, 10000)));
  REQUIRE(w.store.submit(stats_exchange(2, minute0 + 2000000, "/items/2", 503, 30000)));
  REQUIRE(w.store.submit(stats_exchange(3, minute0 + 3000000, "/items/3", 0, 0)));
  REQUIRE(w.store.submit(stats_exchange(4, minute0 + 125000000, "/slow", 200, 900000)));
  w.store.flush();

  simdjson::dom::parser parser;
  auto doc = parse_json(parser, w.rt.handle(get("/events/stats?bucket=1m&since=2026-11-28T01:44:00Z"
                                                "&until=2026-11-28T01:46:59Z&sort=p99")));
  CHECK(std::string_view(doc["from"]) == "2026-11-28T01:44:00.000000Z");
  CHECK(std::string_view(doc["to"]) == "2026-11-28T01:47:00.000000Z");
  CHECK(std::string_view(doc["bucket"]) == "1m");
  CHECK(std::int64_t(doc["bucket_seconds"]) == 60);
  CHECK(std::int64_t(doc["matched"]) == 4);
  CHECK(std::int64_t(doc["scanned"]) == 4);
  CHECK(bool(doc["partial"]) == false);
  CHECK(std::int64_t(doc["totals"]["count"]) == 4);
  CHECK(std::int64_t(doc["totals"]["incomplete"]) == 1);
  CHECK(std::int64_t(doc["totals"]["5xx"]) == 1);
  CHECK(std::int64_t(doc["totals"]["p50_us"]) == 30000);
  simdjson::dom::array buckets = doc["buckets"];
  REQUIRE(buckets.size() == 3);
  CHECK(std::int64_t(buckets.at(0)["count"]) == 3);
  CHECK(std::int64_t(buckets.at(0)["2xx"]) == 1);
  CHECK(std::int64_t(buckets.at(0)["p99_us"]) == 30000);
  CHECK(std::int64_t(buckets.at(1)["count"]) == 0);
  CHECK(buckets.at(1)["p50_us"].is_null());
  CHECK(std::string_view(buckets.at(2)["start"]) == "2026-11-28T01:46:00.000000Z");
  CHECK(std::string_view(doc["group"]) == "path");
  CHECK(std::string_view(doc["sort"]) == "p99");
  CHECK(std::int64_t(doc["route_count"]) == 2);
  simdjson::dom::array routes = doc["routes"];
  REQUIRE(routes.size() == 2);
  CHECK(std::string_view(routes.at(0)["route"]) == "/slow");
  CHECK(std::string_view(routes.at(1)["route"]) == "/items/{id}");
  CHECK(std::int64_t(routes.at(1)["count"]) == 3);
  CHECK(std::int64_t(routes.at(1)["errors"]) == 2);
  CHECK(double(routes.at(1)["error_share"]) == Approx(0.6667));

  // The filters of /events narrow it; route= matches the folded path.
  auto items = parse_json(parser, w.rt.handle(get("/events/stats?route=/items/%7Bid%7D")));
  CHECK(std::int64_t(items["matched"]) == 3);
  auto five = parse_json(parser, w.rt.handle(get("/events/stats?status=5xx&group=method")));
  CHECK(std::int64_t(five["matched"]) == 1);
  CHECK(std::string_view(five["routes"].at(0)["route"]) == "GET");
  // /events takes route= too.
  CHECK(parse_page(w.rt.handle(get("/events?route=%2Fitems%2F%7Bid%7D"))).ids.size() == 3);
  // Without since/until the range is the data's: 01:44:01 to 01:46:05 (124 s), so 2 s buckets.
  auto dflt = parse_json(parser, w.rt.handle(get("/events/stats")));
  CHECK(std::string_view(dflt["bucket"]) == "2s");
  CHECK(simdjson::dom::array(dflt["buckets"]).size() == 63);
}

TEST_CASE("GET /events/stats stops at stats_max_records and says partial",
          "[api][router][stats]") {
  api::router_options o;
  o.stats_max_records = 3;
  world w(std::move(o));
  for (int i = 0; i < 5; ++i) {
    REQUIRE(w.store.submit(stats_exchange(i, minute0 + i * 1000000, "/a", 200, 1000)));
  }
  w.store.flush();
  simdjson::dom::parser parser;
  auto doc = parse_json(parser, w.rt.handle(get("/events/stats?top=1")));
  CHECK(bool(doc["partial"]) == true);
  CHECK(std::int64_t(doc["scanned"]) == 3);
  CHECK(std::int64_t(doc["matched"]) == 3);
  CHECK(std::int64_t(doc["max_records"]) == 3);
  CHECK(simdjson::dom::array(doc["routes"]).size() == 1);
}

TEST_CASE("GET /events/stats rejects bad bucket, group, sort, top and filters",
          "[api][router][stats]") {
  world w;
  for (const char* bad : {"bucket=0s", "bucket=1w", "bucket=1.5m", "bucket=", "bucket=60"}) {
    INFO(bad);
    const auto r = w.rt.handle(get(std::string("/events/stats?") + bad));
    CHECK(r.status == 400);
    CHECK(error_of(r).starts_with("invalid bucket"));
  }
  const auto many = w.rt.handle(
      get("/events/stats?bucket=1s&since=2026-11-28T00:00:00Z&until=2026-11-29T00:00:00Z"));
  CHECK(many.status == 400);
  CHECK(error_of(many).starts_with("invalid bucket: 1s makes 86401 buckets"));
  const auto long_ago =
      w.rt.handle(get("/events/stats?since=1800-01-01T00:00:00Z&until=2026-01-01T00:00:00Z"));
  CHECK(long_ago.status == 400);
  CHECK(error_of(long_ago).starts_with("invalid since"));
  for (const char* bad : {"group=url", "group=", "sort=p50", "sort=", "top=0", "top=1001",
                          "top=x", "status=6xx", "since=now", "route=items", "limit=0"}) {
    INFO(bad);
    const auto r = w.rt.handle(get(std::string("/events/stats?") + bad));
    CHECK(r.status == 400);
    const auto name = std::string(bad).substr(0, std::string(bad).find('='));
    CHECK(error_of(r).starts_with("invalid " + name));
  }
  CHECK(w.rt.handle(get("/events/stats?top=1000&sort=errors&group=host&bucket=30d")).status ==
        200);
  CHECK(w.rt.handle(get("/events/stats", "POST")).status == 405);
}

TEST_CASE("GET /events/stats needs the API token like /events", "[api][router][stats]") {
  api::router_options o;
  o.api_token = "s3cret";
  world w(std::move(o));
  const auto denied = w.rt.handle(get("/events/stats"));
  CHECK(denied.status == 401);
  CHECK(error_of(denied) == "unauthorized");
  const auto ok = w.rt.handle(parse_one(
      "GET /events/stats HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\n\r\n"));
  CHECK(ok.status == 200);
}

namespace {

// Peers a stream route never asks: it only tells the agent what to open on them.
class unasked_peers final : public api::peer_client {
 public:
  std::vector<std::string> peers() override { return {"10.0.0.2:8080"}; }
  std::vector<api::peer_reply> fetch(const std::vector<api::peer_call>& calls, bool) override {
    asked += calls.size();
    return {};
  }
  const std::string& instance() const override { return id; }
  void mark_self(const std::string&) override {}
  std::size_t asked = 0;
  std::string id = "inst-a";
};

// The start of GET /events/stats on an agent without peers.
std::string alone_stats_prefix() {
  world alone;
  return alone.rt.handle(get("/events/stats")).body.substr(0, 8);
}

}  // namespace

TEST_CASE("GET /events/stream with peers is a fleet stream, unless scope=local",
          "[api][router][fleet]") {
  auto peers = std::make_shared<unasked_peers>();
  api::router_options o;
  o.peers = peers;
  o.instance = "inst-a";
  world w(std::move(o));

  auto r = w.rt.handle(get("/events/stream?method=post&status=2xx"));
  REQUIRE(r.status == 200);
  REQUIRE(r.live);
  // The peers are asked the same filters for themselves only; the scope given is replaced.
  CHECK(r.live->fleet_target() == "/events/stream?method=post&status=2xx&scope=local");
  CHECK(api::serialize_response(r, true).find("X-HEP-Instance: inst-a\r\n") != std::string::npos);
  r = w.rt.handle(get("/events/stream?scope=fleet&path=/a%20b"));
  REQUIRE(r.live);
  CHECK(r.live->fleet_target() == "/events/stream?path=/a%20b&scope=local");
  r = w.rt.handle(get("/events/stream?scope=local&method=get"));
  REQUIRE(r.live);
  CHECK(r.live->fleet_target().empty());
  CHECK(w.rt.handle(get("/events/stream?scope=all")).status == 400);
  // The stats are this replica's, and say so.
  CHECK(w.rt.handle(get("/events/stats")).body.starts_with("{\"replica_only\":true,\"from\":"));
  CHECK(alone_stats_prefix() == "{\"from\":");
  CHECK(peers->asked == 0);

  // Without peers, a stream is this agent's only, whatever the scope.
  world alone;
  r = alone.rt.handle(get("/events/stream?scope=fleet"));
  REQUIRE(r.live);
  CHECK(r.live->fleet_target().empty());
}
