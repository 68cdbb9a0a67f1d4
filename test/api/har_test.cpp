// SPDX-License-Identifier: Apache-2.0
//
// GET /events filters, NDJSON and HAR export over a real store; /metrics against the
// Prometheus text grammar; /readyz; bearer tokens; JSON body redaction.
#include "api/har.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "api/metrics.h"
#include "api/router.h"
#include "test/api/fixture.h"

namespace {

using api::request_parser;

api::request parse_one(std::string_view bytes) {
  request_parser p;
  const auto r = p.feed(bytes);
  REQUIRE(r.what == request_parser::kind::request);
  return std::move(p.current());
}

api::request get(const std::string& target, const std::string& extra_headers = "") {
  return parse_one("GET " + target + " HTTP/1.1\r\nHost: t\r\n" + extra_headers + "\r\n");
}

constexpr std::int64_t t0 = 1795830243000000;  // 2026-11-28T01:44:03Z

// Exchange i: even i GET /api/items/<i> on shop.local, odd i POST /upload on other.host;
// status 200 for i % 3 == 0, 404 for i % 3 == 1, 503 otherwise; every 5th has no response.
correlate::exchange make(int i) {
  correlate::exchange x;
  x.id = "ex-" + std::to_string(i);
  correlate::request_half rq;
  rq.time_us = t0 + i * 1000000;
  rq.method = i % 2 == 0 ? "GET" : "POST";
  rq.path = i % 2 == 0 ? "/api/items/" + std::to_string(i) : "/upload";
  if (i % 2 == 0) rq.query = "page=" + std::to_string(i) + "&sort";
  rq.version = "1.1";
  rq.headers = {{"host", i % 2 == 0 ? "shop.local" : "other.host:8080"},
                {"cookie", "a=1; b=2"},
                {"content-type", "application/json"}};
  if (i % 2 == 1) {
    rq.body.data = "{\"n\":" + std::to_string(i) + "}";
    rq.body.size = rq.body.data.size();
  } else {
    rq.body.captured = false;
  }
  x.request = std::move(rq);
  if (i % 5 != 0) {
    correlate::response_half rs;
    rs.time_us = t0 + i * 1000000 + 1500;
    rs.status = i % 3 == 0 ? 200 : i % 3 == 1 ? 404 : 503;
    rs.version = "1.1";
    rs.headers = {{"content-type", "text/plain"},
                  {"set-cookie", "s=" + std::to_string(i) + "; Path=/"}};
    if (rs.status == 200) rs.headers.emplace_back("location", "/next");
    rs.body.data = i % 4 == 0 ? std::string("\xff\xfe", 2) : "ok";
    rs.body.size = rs.body.data.size();
    x.response = std::move(rs);
    x.complete = true;
    x.duration_us = 1500;
  }
  return x;
}

struct world {
  api_test::temp_dir dir;
  storage::store store;
  api::router rt;
  explicit world(api::router_options o = {})
      : store(config(dir.path())), rt(store, status, "9.9.9", std::move(o)) {
    for (int i = 1; i <= 30; ++i) REQUIRE(store.submit(make(i)));
    store.flush();
  }
  static storage::config config(const std::filesystem::path& p) {
    storage::config c;
    c.data_dir = p;
    return c;
  }
  static std::vector<api::metric_group> status() {
    return {{"spop", {{"connections_total", 3}, {"connections_active", 1, true}, {"acks", 9}}},
            {"process", {{"uptime_seconds", 5, true}}}};
  }
};

std::string drain(api::response& r) {
  std::string body;
  if (!r.stream) return r.body;
  std::string piece;
  bool more = true;
  int chunks = 0;
  while (more) {
    piece.clear();
    more = r.stream->next(piece);
    body += piece;
    REQUIRE(++chunks < 10000);
  }
  return body;
}

// ids of /events (JSON) and every page after it, following `next`.
std::vector<std::string> all_ids(const api::router& rt, const std::string& query) {
  std::vector<std::string> ids;
  std::string cursor;
  for (int pages = 0; pages < 100; ++pages) {
    auto r = rt.handle(get("/events?" + query + (cursor.empty() ? "" : "&cursor=" + cursor)));
    REQUIRE(r.status == 200);
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    REQUIRE(p.parse(r.body).get(doc) == simdjson::SUCCESS);
    for (auto e : doc["events"].get_array()) ids.emplace_back(std::string_view(e["id"]));
    if (doc["next"].is_null()) break;
    cursor = std::string(std::string_view(doc["next"]));
  }
  return ids;
}

std::vector<std::string> expected_ids(bool (*pred)(int)) {
  std::vector<std::string> ids;
  for (int i = 30; i >= 1; --i) {
    if (pred(i)) ids.push_back("ex-" + std::to_string(i));
  }
  return ids;
}

}  // namespace

TEST_CASE("GET /events filters, alone and together, across pages", "[api][filters]") {
  world w;
  CHECK(all_ids(w.rt, "limit=7") == expected_ids([](int) { return true; }));
  CHECK(all_ids(w.rt, "limit=3&method=get") == expected_ids([](int i) { return i % 2 == 0; }));
  CHECK(all_ids(w.rt, "limit=2&status=404") ==
        expected_ids([](int i) { return i % 5 != 0 && i % 3 == 1; }));
  CHECK(all_ids(w.rt, "limit=4&status=5xx") ==
        expected_ids([](int i) { return i % 5 != 0 && i % 3 == 2; }));
  CHECK(all_ids(w.rt, "complete=false") == expected_ids([](int i) { return i % 5 == 0; }));
  CHECK(all_ids(w.rt, "complete=true&status=2xx") ==
        expected_ids([](int i) { return i % 5 != 0 && i % 3 == 0; }));
  CHECK(all_ids(w.rt, "path=/api/items/1") ==
        expected_ids([](int i) { return i % 2 == 0 && std::to_string(i).starts_with("1"); }));
  CHECK(all_ids(w.rt, "path=/api/*/2*") ==
        expected_ids([](int i) { return i % 2 == 0 && std::to_string(i).starts_with("2"); }));
  CHECK(all_ids(w.rt, "host=OTHER.host") == expected_ids([](int i) { return i % 2 == 1; }));
  CHECK(all_ids(w.rt, "id=ex-17") == std::vector<std::string>{"ex-17"});
  CHECK(all_ids(w.rt, "since=2026-11-28T01:44:13Z&until=2026-11-28T01:44:16Z") ==
        expected_ids([](int i) { return i >= 10 && i <= 13; }));
  CHECK(all_ids(w.rt, "since=2026-11-28T02:44:13%2B01:00&limit=1") ==
        expected_ids([](int i) { return i >= 10; }));
  CHECK(all_ids(w.rt, "method=POST&status=4xx&host=other.host&complete=true") ==
        expected_ids([](int i) { return i % 2 == 1 && i % 5 != 0 && i % 3 == 1; }));
  CHECK(all_ids(w.rt, "method=DELETE").empty());
}

TEST_CASE("cursor paging stays exact while new exchanges arrive", "[api][filters]") {
  world w;
  auto first = w.rt.handle(get("/events?limit=10&method=GET"));
  simdjson::dom::parser p;
  auto doc = p.parse(first.body);
  std::string cursor{std::string_view(doc["next"])};
  // Newer exchanges land between the pages.
  for (int i = 31; i <= 40; ++i) REQUIRE(w.store.submit(make(i)));
  w.store.flush();
  auto second = w.rt.handle(get("/events?limit=10&method=GET&cursor=" + cursor));
  auto doc2 = p.parse(second.body);
  std::vector<std::string> ids;
  for (auto e : doc2["events"].get_array()) ids.emplace_back(std::string_view(e["id"]));
  CHECK(ids == std::vector<std::string>{"ex-10", "ex-8", "ex-6", "ex-4", "ex-2"});
  CHECK(doc2["next"].is_null());
}

TEST_CASE("Accept: application/x-ndjson streams the same records", "[api][filters]") {
  world w;
  auto json = w.rt.handle(get("/events?limit=4&status=404"));
  auto nd = w.rt.handle(get("/events?limit=4&status=404", "Accept: application/x-ndjson\r\n"));
  REQUIRE(nd.status == 200);
  CHECK(nd.content_type == "application/x-ndjson");
  REQUIRE(nd.stream);
  std::string head;
  api::append_response(nd, true, head);
  CHECK(head.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  const auto body = drain(nd);
  simdjson::dom::parser p;
  auto doc = p.parse(json.body);
  std::string joined;
  for (auto e : doc["events"].get_array()) joined += simdjson::minify(e) + "\n";
  CHECK(body == joined);
  REQUIRE(nd.headers.size() == 1);
  CHECK(nd.headers[0].first == "X-Next-Cursor");
  CHECK(nd.headers[0].second == std::string_view(doc["next"]));
}

TEST_CASE("GET /events.har is a valid HAR 1.2 log with every required field", "[api][har]") {
  world w;
  auto r = w.rt.handle(get("/events.har?limit=25"));
  REQUIRE(r.status == 200);
  REQUIRE(r.stream);
  // Streamed: every piece is bounded by a page of records.
  std::vector<std::size_t> pieces;
  std::string body, piece;
  for (bool more = true; more;) {
    piece.clear();
    more = r.stream->next(piece);
    pieces.push_back(piece.size());
    body += piece;
  }
  CHECK(pieces.size() == 1);  // 25 records fit in one page of 100

  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(body).get(doc) == simdjson::SUCCESS);
  auto log = doc["log"];
  CHECK(std::string_view(log["version"]) == "1.2");
  CHECK(std::string_view(log["creator"]["name"]) == "http-event-processor");
  CHECK(std::string_view(log["creator"]["version"]) == "9.9.9");
  simdjson::dom::array entries;
  REQUIRE(log["entries"].get(entries) == simdjson::SUCCESS);
  CHECK(entries.size() == 25);
  int n = 30;
  for (auto e : entries) {
    INFO("entry for ex-" << n);
    CHECK(std::string_view(e["_id"]) == "ex-" + std::to_string(n));
    const std::string_view started(e["startedDateTime"]);
    CHECK(started.size() == 27);
    CHECK(started.ends_with("Z"));
    CHECK(storage::parse_rfc3339(started));
    CHECK(double(e["time"]) >= 0);
    auto rq = e["request"];
    CHECK(std::string_view(rq["method"]) == (n % 2 == 0 ? "GET" : "POST"));
    const std::string url{std::string_view(rq["url"])};
    CHECK(url == (n % 2 == 0 ? "http://shop.local/api/items/" + std::to_string(n) +
                                   "?page=" + std::to_string(n) + "&sort"
                             : std::string("http://other.host:8080/upload")));
    CHECK(std::string_view(rq["httpVersion"]) == "HTTP/1.1");
    CHECK(rq["cookies"].get_array().size() == 2);
    CHECK(std::string_view(rq["cookies"].at(1)["name"]) == "b");
    CHECK(rq["headers"].get_array().size() == 3);
    CHECK(std::string_view(rq["headers"].at(0)["name"]) == "host");
    CHECK(rq["queryString"].get_array().size() == (n % 2 == 0 ? 2u : 0u));
    CHECK(std::int64_t(rq["headersSize"]) == -1);
    if (n % 2 == 1) {
      CHECK(std::string_view(rq["postData"]["mimeType"]) == "application/json");
      CHECK(std::string_view(rq["postData"]["text"]) == "{\"n\":" + std::to_string(n) + "}");
      CHECK(std::int64_t(rq["bodySize"]) ==
            std::int64_t(rq["postData"]["text"].get_string().value().size()));
    } else {
      CHECK(rq["postData"].error() == simdjson::NO_SUCH_FIELD);
    }
    auto rs = e["response"];
    for (const char* f : {"status", "statusText", "httpVersion", "cookies", "headers", "content",
                          "redirectURL", "headersSize", "bodySize"}) {
      INFO(f);
      CHECK(rs[f].error() == simdjson::SUCCESS);
    }
    CHECK(rs["content"]["size"].error() == simdjson::SUCCESS);
    CHECK(rs["content"]["mimeType"].error() == simdjson::SUCCESS);
    if (n % 5 == 0) {
      CHECK(std::int64_t(rs["status"]) == 0);
      CHECK_FALSE(bool(e["_complete"]));
    } else {
      const std::int64_t st = n % 3 == 0 ? 200 : n % 3 == 1 ? 404 : 503;
      CHECK(std::int64_t(rs["status"]) == st);
      CHECK(std::string_view(rs["statusText"]) == (st == 200   ? "OK"
                                                   : st == 404 ? "Not Found"
                                                               : "Service Unavailable"));
      CHECK(std::string_view(rs["redirectURL"]) == (st == 200 ? "/next" : ""));
      CHECK(std::string_view(rs["cookies"].at(0)["value"]) == std::to_string(n));
      CHECK(std::string_view(rs["content"]["mimeType"]) == "text/plain");
      CHECK(std::int64_t(rs["content"]["size"]) == 2);
      if (n % 4 == 0) {
        CHECK(std::string_view(rs["content"]["encoding"]) == "base64");
        CHECK(std::string_view(rs["content"]["text"]) == "//4=");
      } else {
        CHECK(std::string_view(rs["content"]["text"]) == "ok");
        CHECK(rs["content"]["encoding"].error() == simdjson::NO_SUCH_FIELD);
      }
      CHECK(double(e["time"]) == 1.5);
      CHECK(double(e["timings"]["wait"]) == 1.5);
    }
    CHECK(e["cache"].get_object().size() == 0);
    CHECK(double(e["timings"]["send"]) == 0);
    CHECK(double(e["timings"]["receive"]) == 0);
    --n;
  }
}

TEST_CASE("GET /events.har pages through the store in bounded chunks, with filters", "[api][har]") {
  world w;
  api::har_options o;
  o.page_size = 4;
  o.filter.method = "GET";
  o.creator_version = "x";
  auto prod = api::make_har_producer(w.store, o);
  std::string body, piece;
  int chunks = 0;
  for (bool more = true; more; ++chunks) {
    piece.clear();
    more = prod->next(piece);
    CHECK(piece.size() < 8192);
    body += piece;
  }
  CHECK(chunks == 4);  // 15 GETs: 4 + 4 + 4 + 3
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(body).get(doc) == simdjson::SUCCESS);
  CHECK(doc["log"]["entries"].get_array().size() == 15);

  // Through the router with a filter nothing matches: a valid, empty log.
  auto r = w.rt.handle(get("/events.har?status=301"));
  auto empty = drain(r);
  REQUIRE(p.parse(empty).get(doc) == simdjson::SUCCESS);
  CHECK(doc["log"]["entries"].get_array().size() == 0);
  CHECK(w.rt.handle(get("/events.har?status=3")).status == 400);
  CHECK(w.rt.handle(get("/events.har?limit=0")).status == 400);
}

namespace {

bool is_name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool is_name_char(char c) {
  return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c));
}

// A metric name at the front of `s`; its length, 0 if none.
std::size_t metric_name(std::string_view s) {
  if (s.empty() || !is_name_start(s[0])) return 0;
  std::size_t n = 1;
  while (n < s.size() && is_name_char(s[n])) ++n;
  return n;
}

// {label="value",...} at the front of `s`; its length, npos if malformed.
std::size_t labels(std::string_view s) {
  if (s.empty() || s[0] != '{') return 0;
  std::size_t i = 1;
  while (true) {
    if (i >= s.size() || !(std::isalpha(static_cast<unsigned char>(s[i])) || s[i] == '_')) {
      return std::string_view::npos;
    }
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    if (s.substr(i, 2) != "=\"") return std::string_view::npos;
    i += 2;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\n') return std::string_view::npos;
      i += s[i] == '\\' ? 2u : 1u;
    }
    if (i >= s.size()) return std::string_view::npos;
    ++i;
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i < s.size() && s[i] == '}') return i + 1;
    return std::string_view::npos;
  }
}

// A Prometheus float: Go's ParseFloat forms, "+Inf", "-Inf", "NaN".
bool prom_float(std::string_view s, double& v) {
  if (s == "+Inf" || s == "Inf") {
    v = HUGE_VAL;
    return true;
  }
  if (s == "-Inf" || s == "NaN") return true;
  if (s.empty()) return false;
  std::string str(s);
  char* end = nullptr;
  v = std::strtod(str.c_str(), &end);
  return end == str.c_str() + str.size() &&
         str.find_first_not_of("0123456789+-.eE") == std::string::npos;
}

// Checks `text` against the Prometheus text format 0.0.4 grammar: comment lines
// "# HELP name text" / "# TYPE name counter|gauge|histogram|summary|untyped", and sample lines
// "name{label="value",...} value"; every sample's family has a TYPE before it; counters end in
// _total; histogram buckets are cumulative and end with le="+Inf" equal to _count.
// Returns the samples by full name (labels included).
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, std::string> types;
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::string last_bucket_family;
  double last_bucket = -1;
  const std::set<std::string> kinds = {"counter", "gauge", "histogram", "summary", "untyped"};
  while (std::getline(in, line)) {
    INFO(line);
    std::string_view l = line;
    if (l.starts_with("# HELP ")) {
      l.remove_prefix(7);
      const auto n = metric_name(l);
      REQUIRE(n > 0);
      REQUIRE(l.size() > n);
      CHECK(l[n] == ' ');
      continue;
    }
    if (l.starts_with("# TYPE ")) {
      l.remove_prefix(7);
      const auto n = metric_name(l);
      REQUIRE(n > 0);
      REQUIRE(l.size() > n + 1);
      REQUIRE(l[n] == ' ');
      const std::string name(l.substr(0, n)), kind(l.substr(n + 1));
      REQUIRE(kinds.count(kind) == 1);
      REQUIRE(types.count(name) == 0);
      types[name] = kind;
      continue;
    }
    REQUIRE_FALSE(l.starts_with("#"));
    const auto n = metric_name(l);
    REQUIRE(n > 0);
    const std::string name(l.substr(0, n));
    const auto lab = labels(l.substr(n));
    REQUIRE(lab != std::string_view::npos);
    const std::string label_text(l.substr(n, lab));
    REQUIRE(l.size() > n + lab + 1);
    REQUIRE(l[n + lab] == ' ');
    double v = 0;
    REQUIRE(prom_float(l.substr(n + lab + 1), v));
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!types.count(family) && family.ends_with(suffix)) {
        family.resize(family.size() - std::string_view(suffix).size());
      }
    }
    REQUIRE(types.count(family) == 1);
    if (types[family] == "counter") CHECK(name.ends_with("_total"));
    if (name.ends_with("_bucket")) {
      REQUIRE(types[family] == "histogram");
      REQUIRE(label_text.starts_with("{le=\""));
      if (family != last_bucket_family) last_bucket = -1;
      CHECK(v >= last_bucket);
      last_bucket = v;
      last_bucket_family = family;
    }
    samples[name + label_text] = v;
  }
  for (const auto& [family, type] : types) {
    if (type != "histogram") continue;
    INFO(family);
    REQUIRE(samples.count(family + "_bucket{le=\"+Inf\"}") == 1);
    CHECK(samples[family + "_bucket{le=\"+Inf\"}"] == samples[family + "_count"]);
  }
  return samples;
}

}  // namespace

TEST_CASE("GET /metrics is Prometheus text that parses", "[api][metrics]") {
  api::router_options o;
  o.histograms = [] {
    std::vector<api::named_histogram> hs(2);
    hs[0].name = "hep_spop_ack_latency_seconds";
    hs[0].help = "Time from reading a NOTIFY to handing its ACK to the socket.";
    hs[0].h.observe(3e-6, 5);
    hs[0].h.observe(0.002);
    hs[0].h.observe(42);
    hs[1].name = "hep_correlator_pair_delay_seconds";
    hs[1].help = "Time a request half waited for its response.";
    return hs;
  };
  world w(o);
  auto r = w.rt.handle(get("/metrics"));
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  const auto s = parse_prometheus(r.body);
  CHECK(s.at("hep_spop_connections_total") == 3);
  CHECK(s.at("hep_spop_connections_active") == 1);
  CHECK(s.at("hep_spop_acks_total") == 9);
  CHECK(s.at("hep_process_uptime_seconds") == 5);
  CHECK(s.at("hep_spop_ack_latency_seconds_count") == 7);
  CHECK(s.at("hep_spop_ack_latency_seconds_bucket{le=\"5e-06\"}") == 5);
  CHECK(s.at("hep_spop_ack_latency_seconds_bucket{le=\"0.0025\"}") == 6);
  CHECK(s.at("hep_spop_ack_latency_seconds_bucket{le=\"10\"}") == 6);
  CHECK(s.at("hep_spop_ack_latency_seconds_bucket{le=\"+Inf\"}") == 7);
  CHECK(s.at("hep_correlator_pair_delay_seconds_count") == 0);
  CHECK(r.body.find("# TYPE hep_spop_connections_active gauge\n") != std::string::npos);
}

TEST_CASE("GET /readyz follows the agent and the store", "[api][router]") {
  std::string why;
  api::router_options o;
  o.ready = [&why] { return why; };
  world w(o);
  auto r = w.rt.handle(get("/readyz"));
  CHECK(r.status == 200);
  CHECK(r.body == R"({"status":"ready"})");
  why = "spop listener down";
  r = w.rt.handle(get("/readyz"));
  CHECK(r.status == 503);
  CHECK(r.body == R"({"status":"not ready","reason":"spop listener down"})");
  why.clear();
  w.store.testing_fail_writes(1);
  REQUIRE(w.store.submit(make(99)));
  w.store.flush();
  r = w.rt.handle(get("/readyz"));
  CHECK(r.status == 503);
  CHECK(r.body.find("storage not writable") != std::string::npos);
}

TEST_CASE("bearer tokens guard the API and ingestion separately", "[api][auth]") {
  api::router_options o;
  o.api_token = "s3cret";
  o.ingest_token = "in-token";
  std::size_t taken = 0;
  o.ingest = [&taken](std::vector<correlate::event>& evs) {
    taken += evs.size();
    return true;
  };
  world w(o);
  for (const char* path : {"/events", "/events/ex-1", "/events.har", "/metrics"}) {
    INFO(path);
    auto r = w.rt.handle(get(path));
    CHECK(r.status == 401);
    CHECK(r.body == R"({"error":"unauthorized"})");
    REQUIRE(r.headers.size() == 1);
    CHECK(r.headers[0] == api::header{"WWW-Authenticate", "Bearer realm=\"http-event-processor\""});
    CHECK(w.rt.handle(get(path, "Authorization: Bearer wrong\r\n")).status == 401);
    CHECK(w.rt.handle(get(path, "Authorization: Bearer s3cre\r\n")).status == 401);
    CHECK(w.rt.handle(get(path, "Authorization: Bearer s3cret0\r\n")).status == 401);
    CHECK(w.rt.handle(get(path, "Authorization: Basic s3cret\r\n")).status == 401);
    CHECK(w.rt.handle(get(path, "Authorization: Bearer in-token\r\n")).status == 401);
    CHECK(w.rt.handle(get(path, "Authorization: Bearer s3cret\r\n")).status == 200);
    CHECK(w.rt.handle(get(path, "Authorization: bearer s3cret\r\n")).status == 200);
  }
  for (const char* path : {"/status", "/healthz", "/readyz"}) {
    INFO(path);
    CHECK(w.rt.handle(get(path)).status == 200);
  }
  const std::string body = R"({"type":"request","data":{"id":"a","method":"GET","path":"/"}})";
  auto post = [&](const std::string& auth) {
    return w.rt.handle(parse_one("POST /http-events HTTP/1.1\r\nHost: t\r\n" + auth +
                                 "Content-Type: application/json\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body));
  };
  CHECK(post("").status == 401);
  CHECK(post("Authorization: Bearer s3cret\r\n").status == 401);
  CHECK(post("Authorization: Bearer in-token\r\n").status == 202);
  CHECK(taken == 1);
  CHECK(w.rt.stats().unauthorized > 0);

  CHECK(api::bearer_matches("Bearer abc", "abc"));
  CHECK(api::bearer_matches("BEARER   abc", "abc"));
  CHECK_FALSE(api::bearer_matches("Bearer ", ""));
  CHECK_FALSE(api::bearer_matches("Bearer abcd", "abc"));
  CHECK_FALSE(api::bearer_matches("Bearerabc", "abc"));
}

TEST_CASE("POST /http-events answers 503 with Retry-After when the sink is full", "[api][ingest]") {
  api::router_options o;
  o.ingest = [](std::vector<correlate::event>&) { return false; };
  world w(o);
  const std::string body = R"({"type":"request","data":{"id":"a","method":"GET","path":"/"}})";
  auto r = w.rt.handle(
      parse_one("POST /http-events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body));
  CHECK(r.status == 503);
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0] == api::header{"Retry-After", "1"});
  CHECK(w.rt.stats().ingest_full == 1);
}
