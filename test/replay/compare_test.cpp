// SPDX-License-Identifier: Apache-2.0
#include "replay/compare.h"

#include <catch2/catch.hpp>

#include "replay/report.h"

namespace {

replay::captured_response captured(int status, std::string body,
                                   std::vector<replay::header> hs = {}) {
  replay::captured_response c;
  c.status = status;
  c.body = std::move(body);
  c.body_captured = true;
  c.headers = std::move(hs);
  return c;
}

replay::received_response got(int status, std::string body, std::vector<replay::header> hs = {}) {
  return {status, std::move(hs), std::move(body)};
}

replay::compare_options ignoring(std::vector<std::string> paths) {
  replay::compare_options o;
  for (const auto& p : paths) {
    std::string err;
    auto parsed = replay::json_path_pattern::parse(p, err);
    REQUIRE(parsed);
    o.ignore.push_back(*parsed);
  }
  return o;
}

using row = std::tuple<std::string, std::string, std::string, std::string>;

std::vector<row> rows(const std::vector<replay::difference>& ds) {
  std::vector<row> out;
  for (const auto& d : ds) {
    out.emplace_back(std::string(to_string(d.kind)), d.where, d.expected_present ? d.expected : "-",
                     d.actual_present ? d.actual : "-");
  }
  return out;
}

}  // namespace

TEST_CASE("a changed status is a difference", "[replay]") {
  CHECK(rows(replay::compare(captured(200, "ok"), got(500, "ok"), {})) ==
        std::vector<row>{{"status", "", "200", "500"}});
  CHECK(replay::compare(captured(200, "ok"), got(200, "ok"), {}).empty());
}

TEST_CASE("selected headers are compared and others are not", "[replay]") {
  replay::compare_options o;
  o.headers = {"X-Version", "ETag", "Set-Cookie", "X-Gone"};
  const auto c = captured(200, "",
                          {{"x-version", "1"},
                           {"server", "a"},
                           {"etag", "\"1\""},
                           {"set-cookie", "[REDACTED]"},
                           {"x-gone", "v"}});
  const auto g = got(
      200, "", {{"X-Version", "2"}, {"Server", "b"}, {"ETag", "\"1\""}, {"Set-Cookie", "sid=2"}});
  CHECK(rows(replay::compare(c, g, o)) ==
        std::vector<row>{{"header", "x-version", "1", "2"}, {"header", "x-gone", "v", "-"}});
}

TEST_CASE("bodies that are not JSON must be equal byte for byte", "[replay]") {
  CHECK(rows(replay::compare(captured(200, "plain"), got(200, "plain!"), {})) ==
        std::vector<row>{{"body", "", "plain", "plain!"}});
  CHECK(replay::compare(captured(200, std::string("a\0b", 3)), got(200, std::string("a\0b", 3)), {})
            .empty());
  // One side JSON, the other not: bytes.
  CHECK(rows(replay::compare(captured(200, "{\"a\":1}"), got(200, "oops"), {})).size() == 1);
  auto not_captured = captured(200, "");
  not_captured.body_captured = false;
  CHECK(replay::compare(not_captured, got(200, "anything"), {}).empty());
  auto cut = captured(200, "abc");
  cut.truncated = true;
  CHECK(replay::compare(cut, got(200, "abcdef"), {}).empty());
  CHECK(replay::compare(cut, got(200, "abX"), {}).size() == 1);
  replay::compare_options no_body;
  no_body.body = false;
  CHECK(replay::compare(captured(200, "a"), got(200, "b"), no_body).empty());
}

TEST_CASE("JSON bodies are compared by value, keys in any order", "[replay]") {
  CHECK(replay::compare(captured(200, R"({"a":1,"b":[1,2.5,"x",null,true]})"),
                        got(200, R"({ "b" : [1, 2.50, "x", null, true], "a" : 1.0 })"), {})
            .empty());
}

TEST_CASE("a nested changed field is reported with its path", "[replay]") {
  const auto c =
      captured(200, R"({"items":[{"id":1,"price":3},{"id":2,"price":4}],"meta":{"n":2}})");
  const auto g =
      got(200, R"({"items":[{"id":1,"price":3},{"id":2,"price":5,"new":true}],"meta":{}})");
  CHECK(rows(replay::compare(c, g, {})) == std::vector<row>{{"json", "items[1].price", "4", "5"},
                                                            {"json", "items[1].new", "-", "true"},
                                                            {"json", "meta.n", "2", "-"}});
  CHECK(rows(replay::compare(captured(200, "[1,[2,3]]"), got(200, "[1,[2],4]"), {})) ==
        std::vector<row>{{"json", "[1][1]", "3", "-"}, {"json", "[2]", "-", "4"}});
  CHECK(rows(replay::compare(captured(200, R"({"a":{"b":1}})"), got(200, R"({"a":[1]})"), {})) ==
        std::vector<row>{{"json", "a", "{\"b\":1}", "[1]"}});
}

TEST_CASE("ignore paths skip the fields they name and everything under them", "[replay]") {
  const auto c =
      captured(200, R"({"meta":{"ts":1,"n":2},"items":[{"id":1,"at":"x"}],"m":[[1,2]]})");
  const auto g = got(200, R"({"meta":{"ts":9,"n":3},"items":[{"id":7,"at":"y"}],"m":[[1,3]]})");
  CHECK(rows(replay::compare(c, g, ignoring({"meta.ts", "items[].id", "items[0].at", "m[][1]"}))) ==
        std::vector<row>{{"json", "meta.n", "2", "3"}});
  CHECK(replay::compare(c, g, ignoring({"meta", "items", "m"})).empty());
  CHECK(replay::compare(c, g, ignoring({"*.ts", "*.n", "*[]", "m[0]"})).empty());
  CHECK(replay::compare(captured(200, R"([{"id":1}])"), got(200, R"([{"id":2}])"),
                        ignoring({"[].id"}))
            .empty());
  // An ignored key that is added or removed is not reported either.
  CHECK(
      replay::compare(captured(200, R"({"a":1})"), got(200, R"({"a":1,"ts":5})"), ignoring({"ts"}))
          .empty());
}

TEST_CASE("ignore path syntax errors are reported", "[replay]") {
  std::string err;
  for (const char* bad : {"", "a..b", "a.", ".a", "a[x]", "a[", "a]b", "a[1"}) {
    INFO(bad);
    CHECK_FALSE(replay::json_path_pattern::parse(bad, err));
    CHECK_FALSE(err.empty());
  }
  CHECK(replay::json_path_pattern::parse("a[]", err));
  CHECK(replay::json_path_pattern::parse("[3].x[].y", err));
}

TEST_CASE("a redacted captured value matches anything", "[replay]") {
  CHECK(replay::compare(captured(200, R"({"password":"[REDACTED]","a":1})"),
                        got(200, R"({"password":{"hash":"x"},"a":1})"), {})
            .empty());
}

TEST_CASE("differences become report lines and the summary counts outcomes", "[replay]") {
  replay::exchange x;
  x.id = "id-1";
  x.request.method = "GET";
  x.request.path = "/b";
  x.response = captured(200, "");
  replay::outgoing_request rq{"GET", "http://t/b?q", {}, ""};
  std::string out;
  const std::vector<replay::difference> ds{
      {replay::difference_kind::status, "", "200", "500", true, true},
      {replay::difference_kind::json, "items[1].price", "4", "", true, false},
      {replay::difference_kind::header, "x-v", "1", "2", true, true}};
  replay::append_report_lines(x, rq, replay::outcome::changed, ds, "", out);
  CHECK(out ==
        "{\"id\":\"id-1\",\"method\":\"GET\",\"url\":\"http://t/b?q\",\"outcome\":\"changed\","
        "\"kind\":\"status\",\"where\":\"\",\"expected\":200,\"actual\":500}\n"
        "{\"id\":\"id-1\",\"method\":\"GET\",\"url\":\"http://t/b?q\",\"outcome\":\"changed\","
        "\"kind\":\"json\",\"where\":\"items[1].price\",\"expected\":4,\"actual\":null,"
        "\"actual_present\":false}\n"
        "{\"id\":\"id-1\",\"method\":\"GET\",\"url\":\"http://t/b?q\",\"outcome\":\"changed\","
        "\"kind\":\"header\",\"where\":\"x-v\",\"expected\":\"1\",\"actual\":\"2\"}\n");
  out.clear();
  replay::append_report_lines(x, rq, replay::outcome::failed, {}, "Timeout was reached", out);
  CHECK(out ==
        "{\"id\":\"id-1\",\"method\":\"GET\",\"url\":\"http://t/b?q\",\"outcome\":\"failed\","
        "\"kind\":\"error\",\"error\":\"Timeout was reached\"}\n");

  replay::summary s;
  s.add(x, replay::outcome::same);
  s.add(x, replay::outcome::changed);
  x.request.path = "/a";
  s.add(x, replay::outcome::failed);
  CHECK(s.same() == 1);
  CHECK(s.changed() == 1);
  CHECK(s.failed() == 1);
  const auto table = s.table();
  CHECK(table.find("200 GET /b") < table.find("200 GET /a"));  // most exchanges first
  CHECK(table.find("total") != std::string::npos);
}
