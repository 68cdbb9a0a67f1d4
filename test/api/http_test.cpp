// SPDX-License-Identifier: Apache-2.0
//
// request_parser, append_response and error_response. The parser fixtures are
// test/fixtures/http/parse/<name>.http (raw bytes) + <name>.expected (what the parser reports,
// one line per event; see the runner below for the format). Every fixture is parsed whole,
// one byte at a time and split in two at every offset, and the transcript must not change.
#include "api/http.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "test/api/fixture.h"

namespace {

using api::request_parser;
using api_test::escape;

std::string describe(const api::request& r, std::size_t end) {
  std::string out = "request end=" + std::to_string(end) + " method=" + r.method + " target=\"" +
                    escape(r.target) + "\" path=\"" + escape(r.path) + "\" query=\"" +
                    escape(r.query) + "\" keep_alive=" + (r.keep_alive ? "true" : "false") + "\n";
  for (const auto& [n, v] : r.headers) out += "header " + escape(n) + "=\"" + escape(v) + "\"\n";
  if (!r.body.empty()) out += "body \"" + escape(r.body) + "\"\n";
  return out;
}

// Feeds `pieces` the way the agent does: append to a buffer, parse, drop what was consumed.
// Lines: `request end=<offset after it in the whole input> ...` + its headers and body,
// `error status=<n> reason="<r>"` (then stops), and `incomplete` when the input ends inside a
// request.
std::string transcript(const std::vector<std::string_view>& pieces, api::parser_limits limits) {
  request_parser p(limits);
  std::string out;
  std::string buf;
  std::size_t dropped = 0;
  std::size_t last_end = 0;
  for (auto piece : pieces) {
    buf.append(piece);
    while (true) {
      const auto r = p.feed(buf);
      if (r.what == request_parser::kind::error) {
        out += "error status=" + std::to_string(r.status) + " reason=\"" + std::string(r.reason) +
               "\"\n";
        // Sticky, and the same on every later call.
        const auto again = p.feed("GET / HTTP/1.1\r\n\r\n");
        REQUIRE(again.what == request_parser::kind::error);
        REQUIRE(again.status == r.status);
        REQUIRE(again.reason == r.reason);
        return out;
      }
      REQUIRE(r.consumed <= buf.size());
      dropped += r.consumed;
      buf.erase(0, r.consumed);
      if (r.what == request_parser::kind::need_more) {
        REQUIRE(buf.empty());
        break;
      }
      last_end = dropped;
      out += describe(p.current(), dropped);
    }
  }
  // need_more consumed everything, so bytes after the last request mean one is unfinished.
  if (dropped > last_end) out += "incomplete\n";
  return out;
}

struct fixture {
  std::string name;
  std::string input;
  std::string expected;
  api::parser_limits limits;
};

fixture load(const std::filesystem::path& stem) {
  fixture f;
  f.name = stem.filename().string();
  f.input = api_test::read_file(stem.string() + ".http");
  const auto expected_path = stem.string() + ".expected";
  const auto text = std::filesystem::exists(expected_path)
                        ? api_test::strip_comments(api_test::read_file(expected_path))
                        : std::string();
  // A first line `limits header=<n> body=<n>` sets parser_limits for this fixture.
  std::string rest = text;
  if (rest.rfind("limits ", 0) == 0) {
    const auto nl = rest.find('\n');
    const auto line = rest.substr(0, nl);
    rest.erase(0, nl + 1);
    unsigned long h = 0;
    unsigned long b = 0;
    REQUIRE(std::sscanf(line.c_str(), "limits header=%lu body=%lu", &h, &b) == 2);
    f.limits.max_header_bytes = h;
    f.limits.max_body_bytes = b;
  }
  f.expected = rest;
  return f;
}

}  // namespace

TEST_CASE("parser fixtures: whole, byte by byte, split at every offset", "[api][http]") {
  const auto stems = api_test::fixture_stems(api_test::fixtures_dir("parse"));
  REQUIRE(stems.size() >= 20);
  for (const auto& stem : stems) {
    const auto f = load(stem);
    INFO("fixture " << f.name);
    if (!std::filesystem::exists(stem.string() + ".expected")) {
      FAIL_CHECK("no .expected; the parser says:\n" << transcript({f.input}, f.limits));
      continue;
    }
    const auto whole = transcript({f.input}, f.limits);
    CHECK(whole == f.expected);

    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < f.input.size(); ++i) bytes.push_back({f.input.data() + i, 1});
    CHECK(transcript(bytes, f.limits) == f.expected);

    for (std::size_t cut = 0; cut <= f.input.size(); ++cut) {
      const std::string_view in = f.input;
      INFO("split at " << cut);
      CHECK(transcript({in.substr(0, cut), in.substr(cut)}, f.limits) == f.expected);
    }
  }
}

TEST_CASE("pipelined requests in one buffer come out one per feed", "[api][http]") {
  const std::string in =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /b?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";
  request_parser p;
  auto r = p.feed(in);
  REQUIRE(r.what == request_parser::kind::request);
  CHECK(r.consumed == 28);
  CHECK(p.current().path == "/a");
  const auto first = std::move(p.current());
  r = p.feed(std::string_view(in).substr(28));
  REQUIRE(r.what == request_parser::kind::request);
  CHECK(r.consumed == in.size() - 28);
  CHECK(p.current().path == "/b");
  CHECK(p.current().query == "x=1");
  CHECK(first.target == "/a");
  r = p.feed("");
  CHECK(r.what == request_parser::kind::need_more);
  CHECK(r.consumed == 0);
}

TEST_CASE("header_value finds the first header by lower-case name", "[api][http]") {
  request_parser p;
  REQUIRE(p.feed("GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\nHost: h\r\n\r\n").what ==
          request_parser::kind::request);
  const auto& r = p.current();
  CHECK(r.header_value("x-a") == "1");
  CHECK(r.header_value("host") == "h");
  CHECK(r.header_value("missing").empty());
}

TEST_CASE("reset clears a sticky error", "[api][http]") {
  request_parser p;
  auto r = p.feed("BAD\x01 / HTTP/1.1\r\n\r\n");
  REQUIRE(r.what == request_parser::kind::error);
  CHECK(r.status == 400);
  CHECK(p.feed("").what == request_parser::kind::error);
  p.reset();
  r = p.feed("GET /healthz HTTP/1.1\r\n\r\n");
  REQUIRE(r.what == request_parser::kind::request);
  CHECK(p.current().path == "/healthz");
}

TEST_CASE("a request may be moved out and the next one still parses", "[api][http]") {
  request_parser p;
  REQUIRE(p.feed("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab").what ==
          request_parser::kind::request);
  api::request taken = std::move(p.current());
  CHECK(taken.body == "ab");
  REQUIRE(p.feed("GET /x HTTP/1.1\r\n\r\n").what == request_parser::kind::request);
  CHECK(p.current().body.empty());
  CHECK(p.current().headers.empty());
  CHECK(p.current().path == "/x");
}

TEST_CASE("reason_phrase", "[api][http]") {
  CHECK(api::reason_phrase(200) == "OK");
  CHECK(api::reason_phrase(404) == "Not Found");
  CHECK(api::reason_phrase(405) == "Method Not Allowed");
  CHECK(api::reason_phrase(413) == "Content Too Large");
  CHECK(api::reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(api::reason_phrase(299) == "Unknown");
}

TEST_CASE("append_response writes status line, headers and body", "[api][http]") {
  api::response r;
  r.body = "{\"status\":\"ok\"}";
  std::string out = "prefix|";
  api::append_response(r, true, out);
  CHECK(out ==
        "prefix|HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
        "Connection: keep-alive\r\n\r\n{\"status\":\"ok\"}");

  out.clear();
  api::append_response(r, false, out);
  CHECK(out.find("Connection: close\r\n") != std::string::npos);

  auto e = api::error_response(405, "method not allowed");
  e.headers.emplace_back("Allow", "GET");
  e.close = true;
  out.clear();
  api::append_response(e, true, out);
  CHECK(out ==
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n"
        "Content-Length: 30\r\nConnection: close\r\nAllow: GET\r\n\r\n"
        "{\"error\":\"method not allowed\"}");
}

TEST_CASE("error_response escapes its message as JSON", "[api][http]") {
  CHECK(api::error_response(400, "missing field \"id\"").body ==
        R"({"error":"missing field \"id\""})");
  CHECK(api::error_response(400, "a\\b\nc\td\x01").body == R"({"error":"a\\b\nc\td\u0001"})");
  CHECK(api::error_response(400, "caf\xc3\xa9").body == "{\"error\":\"caf\xc3\xa9\"}");
  // Not UTF-8: bytes >= 0x80 become \u00XX so the body stays valid JSON.
  CHECK(api::error_response(400, "caf\xe9").body == R"({"error":"caf\u00e9"})");
  CHECK(api::error_response(413, "x").status == 413);
  CHECK(api::error_response(413, "x").content_type == "application/json");
}
