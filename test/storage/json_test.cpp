// SPDX-License-Identifier: Apache-2.0
#include "storage/json.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test/storage/test_util.h"

using storage_test::base64_decode;
using storage_test::make_exchange;
using storage_test::make_request;
using storage_test::make_response;

namespace {

// Parses one line (must end in exactly one '\n') and keeps the document alive.
struct parsed {
  simdjson::dom::parser parser;
  simdjson::dom::element root;

  explicit parsed(const std::string& line) {
    REQUIRE(!line.empty());
    REQUIRE(line.back() == '\n');
    REQUIRE(line.find('\n') == line.size() - 1);
    const auto err = parser.parse(line.data(), line.size() - 1).get(root);
    INFO(line);
    REQUIRE(err == simdjson::SUCCESS);
  }
};

std::vector<std::string> keys(simdjson::dom::object o) {
  std::vector<std::string> k;
  for (auto field : o) k.emplace_back(field.key);
  return k;
}

std::string str(simdjson::dom::element e) {
  std::string_view s;
  REQUIRE(e.get_string().get(s) == simdjson::SUCCESS);
  return std::string(s);
}

std::int64_t num(simdjson::dom::element e) {
  std::int64_t v = 0;
  REQUIRE(e.get_int64().get(v) == simdjson::SUCCESS);
  return v;
}

std::uint64_t unum(simdjson::dom::element e) {
  std::uint64_t v = 0;
  REQUIRE(e.get_uint64().get(v) == simdjson::SUCCESS);
  return v;
}

bool boolean(simdjson::dom::element e) {
  bool v = false;
  REQUIRE(e.get_bool().get(v) == simdjson::SUCCESS);
  return v;
}

std::vector<std::pair<std::string, std::string>> headers(simdjson::dom::element e) {
  std::vector<std::pair<std::string, std::string>> out;
  simdjson::dom::array a;
  REQUIRE(e.get_array().get(a) == simdjson::SUCCESS);
  for (auto pair : a) {
    simdjson::dom::array p;
    REQUIRE(pair.get_array().get(p) == simdjson::SUCCESS);
    REQUIRE(p.size() == 2);
    out.emplace_back(str(p.at(0)), str(p.at(1)));
  }
  return out;
}

// What a JSON reader gets back for `s` written by append_json_string().
std::string round_trip(std::string_view s) {
  std::string json;
  storage::append_json_string(s, json);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  INFO("json: " << json);
  REQUIRE(parser.parse(json).get(e) == simdjson::SUCCESS);
  return str(e);
}

std::string line_of(const correlate::exchange& x) {
  std::string line;
  storage::append_json_line(x, line);
  return line;
}

std::string rfc3339(std::int64_t us) {
  std::string s;
  storage::append_rfc3339(us, s);
  return s;
}

}  // namespace

TEST_CASE("a complete exchange has every field of the record schema, in order", "[storage]") {
  auto x = make_exchange("7F000001:D13C_0A000007:C85A_6565A1B3_0001:1F2C");
  x.extra = {{"unknown_int", std::int64_t{-7}}, {"flag", true}};
  const std::string line = line_of(x);
  parsed p(line);
  simdjson::dom::object root;
  REQUIRE(p.root.get_object().get(root) == simdjson::SUCCESS);
  CHECK(keys(root) == std::vector<std::string>{"id", "source", "complete", "request", "response",
                                               "duration_us", "redacted", "extra"});
  CHECK(str(root["id"]) == x.id);
  CHECK(str(root["source"]) == "spop");
  CHECK(boolean(root["complete"]));
  CHECK(num(root["duration_us"]) == 1545);
  simdjson::dom::array redacted;
  REQUIRE(root["redacted"].get_array().get(redacted) == simdjson::SUCCESS);
  REQUIRE(redacted.size() == 1);
  CHECK(str(redacted.at(0)) == "authorization");

  simdjson::dom::object req;
  REQUIRE(root["request"].get_object().get(req) == simdjson::SUCCESS);
  CHECK(keys(req) == std::vector<std::string>{"time", "method", "path", "query", "version",
                                              "headers", "body", "body_encoding", "body_bytes",
                                              "body_size", "truncated", "client", "frontend"});
  CHECK(str(req["time"]) == "2026-11-28T01:44:03.123456Z");
  CHECK(str(req["method"]) == "POST");
  CHECK(str(req["path"]) == "/api/items");
  CHECK(str(req["query"]) == "page=2");
  CHECK(str(req["version"]) == "1.1");
  CHECK(headers(req["headers"]) ==
        std::vector<std::pair<std::string, std::string>>{{"host", "shop.local"},
                                                         {"content-type", "application/json"}});
  CHECK(str(req["body"]) == "{\"a\":1}");
  CHECK(str(req["body_encoding"]) == "utf8");
  CHECK(unum(req["body_bytes"]) == 7);
  CHECK(unum(req["body_size"]) == 7);
  CHECK_FALSE(boolean(req["truncated"]));
  simdjson::dom::object client;
  REQUIRE(req["client"].get_object().get(client) == simdjson::SUCCESS);
  CHECK(keys(client) == std::vector<std::string>{"ip", "port"});
  CHECK(str(client["ip"]) == "10.0.0.7");
  CHECK(num(client["port"]) == 51234);
  CHECK(str(req["frontend"]) == "fe_main");

  simdjson::dom::object res;
  REQUIRE(root["response"].get_object().get(res) == simdjson::SUCCESS);
  CHECK(keys(res) == std::vector<std::string>{"time", "status", "version", "headers", "body",
                                              "body_encoding", "body_bytes", "body_size",
                                              "truncated", "backend", "server", "elapsed_us"});
  CHECK(str(res["time"]) == "2026-11-28T01:44:03.125001Z");
  CHECK(num(res["status"]) == 201);
  CHECK(str(res["version"]) == "1.1");
  CHECK(headers(res["headers"]) ==
        std::vector<std::pair<std::string, std::string>>{
            {"content-type", "application/json"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}});
  CHECK(str(res["body"]) == x.response->body.data);
  CHECK(str(res["body_encoding"]) == "utf8");
  CHECK(unum(res["body_bytes"]) == x.response->body.data.size());
  CHECK(unum(res["body_size"]) == x.response->body.size);
  CHECK_FALSE(boolean(res["truncated"]));
  CHECK(str(res["backend"]) == "be_app");
  CHECK(str(res["server"]) == "app1");
  CHECK(num(res["elapsed_us"]) == 1500);

  simdjson::dom::object extra;
  REQUIRE(root["extra"].get_object().get(extra) == simdjson::SUCCESS);
  CHECK(keys(extra) == std::vector<std::string>{"unknown_int", "flag"});
  CHECK(num(extra["unknown_int"]) == -7);
  CHECK(boolean(extra["flag"]));
}

TEST_CASE("the DESIGN.md example line is reproduced byte for byte", "[storage]") {
  auto x = make_exchange("abc");
  x.response->headers = {{"content-type", "application/json"}};
  x.response->body.data = "ok";
  x.response->body.size = 2;
  x.response->elapsed_us = -1;
  CHECK(line_of(x) ==
        R"({"id":"abc","source":"spop","complete":true,)"
        R"("request":{"time":"2026-11-28T01:44:03.123456Z","method":"POST","path":"/api/items",)"
        R"("query":"page=2","version":"1.1","headers":[["host","shop.local"],)"
        R"(["content-type","application/json"]],"body":"{\"a\":1}","body_encoding":"utf8",)"
        R"("body_bytes":7,"body_size":7,"truncated":false,)"
        R"("client":{"ip":"10.0.0.7","port":51234},"frontend":"fe_main"},)"
        R"("response":{"time":"2026-11-28T01:44:03.125001Z","status":201,"version":"1.1",)"
        R"("headers":[["content-type","application/json"]],"body":"ok","body_encoding":"utf8",)"
        R"("body_bytes":2,"body_size":2,"truncated":false,"backend":"be_app","server":"app1"},)"
        R"("duration_us":1545,"redacted":["authorization"]})"
        "\n");
}

TEST_CASE("incomplete exchanges write the missing half as null", "[storage]") {
  SECTION("request only") {
    correlate::exchange x;
    x.id = "req-only";
    x.source = correlate::source::http;
    x.request = make_request();
    x.request->query.reset();
    parsed p(line_of(x));
    simdjson::dom::object root;
    REQUIRE(p.root.get_object().get(root) == simdjson::SUCCESS);
    CHECK(keys(root) == std::vector<std::string>{"id", "source", "complete", "request", "response",
                                                 "duration_us", "redacted"});
    CHECK(str(root["source"]) == "http");
    CHECK_FALSE(boolean(root["complete"]));
    CHECK(root["response"].is_null());
    CHECK(root["duration_us"].is_null());
    CHECK(root["request"]["query"].is_null());
    simdjson::dom::array redacted;
    REQUIRE(root["redacted"].get_array().get(redacted) == simdjson::SUCCESS);
    CHECK(redacted.size() == 0);
  }
  SECTION("response only, without elapsed_us") {
    correlate::exchange x;
    x.id = "res-only";
    x.response = make_response();
    x.response->elapsed_us = -1;
    parsed p(line_of(x));
    simdjson::dom::object root;
    REQUIRE(p.root.get_object().get(root) == simdjson::SUCCESS);
    CHECK(root["request"].is_null());
    simdjson::dom::object res;
    REQUIRE(root["response"].get_object().get(res) == simdjson::SUCCESS);
    CHECK(num(res["status"]) == 201);
    CHECK(res["elapsed_us"].error() == simdjson::NO_SUCH_FIELD);
  }
}

TEST_CASE("bodies: UTF-8 as text, anything else as base64, missing as null", "[storage]") {
  SECTION("binary body is base64 and decodes to the original bytes") {
    auto x = make_exchange("bin");
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(255 - i));
    x.response->body.data = bytes;
    x.response->body.size = 100000;
    x.response->body.truncated = true;
    parsed p(line_of(x));
    auto res = p.root["response"];
    CHECK(str(res["body_encoding"]) == "base64");
    std::string decoded;
    REQUIRE(base64_decode(str(res["body"]), decoded));
    CHECK(decoded == bytes);
    CHECK(unum(res["body_bytes"]) == 256);
    CHECK(unum(res["body_size"]) == 100000);
    CHECK(boolean(res["truncated"]));
  }
  SECTION("every single byte as a body round-trips") {
    for (int b = 0; b < 256; ++b) {
      auto x = make_exchange("b");
      x.request->body.data = std::string(1, static_cast<char>(b));
      parsed p(line_of(x));
      auto req = p.root["request"];
      const std::string enc = str(req["body_encoding"]);
      std::string back = str(req["body"]);
      if (b < 0x80) {
        CHECK(enc == "utf8");
      } else {
        CHECK(enc == "base64");
        std::string decoded;
        REQUIRE(base64_decode(back, decoded));
        back = decoded;
      }
      CHECK(back == x.request->body.data);
    }
  }
  SECTION("a UTF-8 body with characters to escape comes back unchanged") {
    auto x = make_exchange("esc");
    std::string body = "line1\nline2\t\"quoted\" \\ caf\xC3\xA9 \xF0\x9F\x98\x80";
    for (int c = 0; c < 0x80; ++c) body.push_back(static_cast<char>(c));
    x.request->body.data = body;
    parsed p(line_of(x));
    CHECK(str(p.root["request"]["body_encoding"]) == "utf8");
    CHECK(str(p.root["request"]["body"]) == body);
  }
  SECTION("a body that was not captured") {
    auto x = make_exchange("nc");
    x.request->body = correlate::body{};
    x.request->body.captured = false;
    x.request->body.size = 1234;
    parsed p(line_of(x));
    auto req = p.root["request"];
    CHECK(req["body"].is_null());
    CHECK(req["body_encoding"].is_null());
    CHECK(unum(req["body_bytes"]) == 0);
    CHECK(unum(req["body_size"]) == 1234);
  }
  SECTION("an empty captured body is an empty string") {
    auto x = make_exchange("empty");
    x.request->body = correlate::body{};
    parsed p(line_of(x));
    CHECK(str(p.root["request"]["body"]).empty());
    CHECK(str(p.root["request"]["body_encoding"]) == "utf8");
  }
}

TEST_CASE("extra values: null, bool, numbers, strings, binary as {base64}", "[storage]") {
  auto x = make_exchange("extra");
  x.extra = {{"n", std::monostate{}},
             {"b", false},
             {"i", std::numeric_limits<std::int64_t>::min()},
             {"u", std::numeric_limits<std::uint64_t>::max()},
             {"s", std::string("t\"ext\n")},
             {"bin", std::string("\x00\xFF\x80", 3)}};
  parsed p(line_of(x));
  auto extra = p.root["extra"];
  CHECK(extra["n"].is_null());
  CHECK_FALSE(boolean(extra["b"]));
  CHECK(num(extra["i"]) == std::numeric_limits<std::int64_t>::min());
  CHECK(unum(extra["u"]) == std::numeric_limits<std::uint64_t>::max());
  CHECK(str(extra["s"]) == "t\"ext\n");
  std::string decoded;
  REQUIRE(base64_decode(str(extra["bin"]["base64"]), decoded));
  CHECK(decoded == std::string("\x00\xFF\x80", 3));
}

TEST_CASE("escaping: every byte and every pair of bytes parses back", "[storage]") {
  SECTION("single bytes") {
    for (int b = 0; b < 256; ++b) {
      const std::string s(1, static_cast<char>(b));
      INFO("byte " << b);
      CHECK(round_trip(s) == (b < 0x80 ? s : std::string("\xEF\xBF\xBD")));
    }
  }
  SECTION("pairs of bytes") {
    simdjson::dom::parser parser;
    std::string json;
    std::size_t valid = 0;
    for (int a = 0; a < 256; ++a) {
      for (int b = 0; b < 256; ++b) {
        const char s[2] = {static_cast<char>(a), static_cast<char>(b)};
        const std::string_view in(s, 2);
        json.clear();
        storage::append_json_string(in, json);
        simdjson::dom::element e;
        std::string_view back;
        if (parser.parse(json).get(e) != simdjson::SUCCESS ||
            e.get_string().get(back) != simdjson::SUCCESS) {
          FAIL("bytes " << a << "," << b << " gave " << json);
        }
        if (storage::is_utf8(in)) {
          ++valid;
          if (back != in) FAIL("bytes " << a << "," << b << " came back different");
        } else {
          std::string expected;
          storage::append_valid_utf8(in, expected);
          if (back != expected) FAIL("bytes " << a << "," << b << " replaced wrongly");
        }
      }
    }
    // 128*128 ASCII pairs plus the 30*64 two-byte sequences C2..DF 80..BF.
    CHECK(valid == 128 * 128 + 30 * 64);
  }
  SECTION("control characters use the short forms where JSON has them") {
    std::string json;
    storage::append_json_string(std::string_view("\b\f\n\r\t\x01\x1f\"\\/\x7f", 11), json);
    CHECK(json == "\"\\b\\f\\n\\r\\t\\u0001\\u001f\\\"\\\\/\x7f\"");
  }
  SECTION("invalid UTF-8 in strings: each bad byte becomes U+FFFD") {
    const std::string r = "\xEF\xBF\xBD";
    CHECK(round_trip("a\xFF"
                     "b") == "a" + r + "b");
    CHECK(round_trip("\xC0\xAF") == r + r);                  // overlong '/'
    CHECK(round_trip("\xED\xA0\x80") == r + r + r);          // a surrogate
    CHECK(round_trip("\xE2\x82") == r + r);                  // truncated sequence
    CHECK(round_trip("\xF4\x90\x80\x80") == r + r + r + r);  // above U+10FFFF
    CHECK(round_trip("\xF0\x9F\x98\x80") == "\xF0\x9F\x98\x80");
    CHECK(round_trip("caf\xC3\xA9\xE9") == "caf\xC3\xA9" + r);
  }
  SECTION("invalid UTF-8 in a header value keeps the line valid JSON") {
    auto x = make_exchange("id-\xFF");
    x.request->headers.emplace_back("x-bin", std::string("\x00\x80\xFE", 3));
    parsed p(line_of(x));
    CHECK(str(p.root["id"]) == "id-\xEF\xBF\xBD");
    CHECK(headers(p.root["request"]["headers"]).back().second ==
          std::string("\0\xEF\xBF\xBD\xEF\xBF\xBD", 7));
  }
}

TEST_CASE("base64 matches the RFC 4648 test vectors", "[storage]") {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, expected] : vectors) {
    std::string out = "x";
    storage::append_base64(in, out);
    CHECK(out == std::string("x") + expected);
  }
}

TEST_CASE("RFC 3339 UTC times with microseconds", "[storage]") {
  CHECK(rfc3339(0) == "1970-01-01T00:00:00.000000Z");
  CHECK(rfc3339(1) == "1970-01-01T00:00:00.000001Z");
  CHECK(rfc3339(999'999) == "1970-01-01T00:00:00.999999Z");
  CHECK(rfc3339(1795830243123456) == "2026-11-28T01:44:03.123456Z");
  CHECK(rfc3339(1795830243000010) == "2026-11-28T01:44:03.000010Z");
  CHECK(rfc3339(1709251199'500000) == "2024-02-29T23:59:59.500000Z");
  CHECK(rfc3339(951868800'000000) == "2000-03-01T00:00:00.000000Z");
  CHECK(rfc3339(253402300799'999999) == "9999-12-31T23:59:59.999999Z");
  // Before 1970 is not expected from HAProxy, but still counts down correctly.
  CHECK(rfc3339(-1) == "1969-12-31T23:59:59.999999Z");
  CHECK(rfc3339(-2208988800'000000) == "1900-01-01T00:00:00.000000Z");
}

namespace {

// The escaping rules of append_json_string() written out byte by byte, as plainly as possible,
// with simdjson deciding what is well-formed UTF-8: the fast writer must match it exactly.
std::string reference_json_string(std::string_view s) {
  std::string out = "\"";
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      const char* forms = "\b\f\n\r\t";
      const char* letters = "bfnrt";
      if (const char* f = std::strchr(forms, c); f != nullptr && c != 0) {
        out += '\\';
        out += letters[f - forms];
      } else {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", c);
        out += esc;
      }
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (c >= 0xC2 && i + len <= s.size() && storage::is_utf8(s.substr(i, len))) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        out += "\xEF\xBF\xBD";
        ++i;
      }
    }
  }
  return out + "\"";
}

// Random strings over bytes that exercise every path: plain ASCII (long runs of it too),
// escapes, 2- to 4-byte sequences, and bytes that are not UTF-8.
std::string random_string(std::mt19937& rng, std::size_t n) {
  static const std::string_view pieces[] = {
      "a", "b", "plain text run ", "0123456789abcdef", "\"", "\\", "\n", "\t", "\x01", "\x1f",
      "\x7f", "/", "\xC3\xA9", "\xE2\x9C\x93", "\xF0\x9F\x98\x80", "\xFF", "\xC0", "\xED\xA0",
      "\xE2\x82", "\xF4\x90"};
  std::string s;
  while (s.size() < n) s += pieces[rng() % std::size(pieces)];
  s.resize(n);
  return s;
}

}  // namespace

TEST_CASE("escaping matches the byte-by-byte reference at every length and offset",
          "[storage]") {
  std::mt19937 rng(6);
  SECTION("random strings, lengths 0 to 80 (the scalar, 8- and 16-byte paths)") {
    for (int k = 0; k < 20000; ++k) {
      const std::string s = random_string(rng, rng() % 81);
      std::string out = "prefix";
      storage::append_json_string(s, out);
      if (out != "prefix" + reference_json_string(s)) FAIL("differs for " << s);
    }
  }
  SECTION("one special byte at each position of ASCII runs of 0 to 40 bytes") {
    for (const std::string_view special : {"\"", "\\", "\n", "\x05", "\x7f", "\xC3\xA9", "\xFF",
                                           "\xE2\x82", "\xF0\x9F\x98\x80"}) {
      for (std::size_t len = 0; len <= 40; ++len) {
        for (std::size_t pos = 0; pos <= len; ++pos) {
          std::string s(len, 'x');
          s.insert(pos, special);
          std::string out;
          storage::append_json_string(s, out);
          if (out != reference_json_string(s)) FAIL("differs for " << s);
        }
      }
    }
  }
  SECTION("long strings: sequences and escapes across the writer's 8 KiB steps") {
    for (std::size_t n : {8191u, 8192u, 8193u, 8195u, 20000u, 70000u}) {
      const std::string s = random_string(rng, n);
      std::string out;
      storage::append_json_string(s, out);
      CHECK(out == reference_json_string(s));
      // A 4-byte sequence and an escape straddling each step boundary.
      std::string t(n, 'y');
      for (std::size_t at = 8190; at + 4 < n; at += 8192) t.replace(at, 4, "\xF0\x9F\x98\x80");
      for (std::size_t at = 8191 * 2; at < n; at += 8192) t[at] = '"';
      out.clear();
      storage::append_json_string(t, out);
      CHECK(out == reference_json_string(t));
    }
  }
}

TEST_CASE("JSON lines: bodies and headers of every size are written as the reference says",
          "[storage]") {
  std::mt19937 rng(7);
  for (std::size_t n : {0u, 1u, 7u, 8u, 15u, 16u, 17u, 500u, 8192u, 20000u, 100000u}) {
    auto x = make_exchange("id-" + std::to_string(n));
    // A valid UTF-8 body (random_string minus the bytes that are not UTF-8).
    std::string body = random_string(rng, n);
    std::string valid;
    storage::append_valid_utf8(body, valid);
    x.request->body.data = valid;
    x.request->body.size = valid.size();
    x.response->headers.emplace_back("x-random", random_string(rng, n % 300));
    x.response->body.data = random_string(rng, n) + "\xFF";  // not UTF-8: base64
    const std::string line = line_of(x);
    INFO("n = " << n);
    const std::string req_body = ",\"body\":" + reference_json_string(valid) + ",";
    CHECK(line.find(req_body) != std::string::npos);
    const std::string hdr = ",[\"x-random\"," +
                            reference_json_string(x.response->headers.back().second) + "]]";
    CHECK(line.find(hdr) != std::string::npos);
    parsed p(line);
    std::string decoded;
    REQUIRE(base64_decode(str(p.root["response"]["body"]), decoded));
    CHECK(decoded == x.response->body.data);
    CHECK(str(p.root["request"]["body"]) == valid);
  }
  SECTION("a line larger than the per-thread staging buffer, then a small one") {
    auto big = make_exchange("big");
    big.request->body.data = std::string(3 * 1024 * 1024, 'z') + "\"end\"";
    std::string line = line_of(big);
    parsed p(line);
    CHECK(str(p.root["request"]["body"]) == big.request->body.data);
    auto small = make_exchange("abc");
    std::string two = "keep:";
    storage::append_json_line(small, two);
    storage::append_json_line(small, two);
    CHECK(two == "keep:" + line_of(small) + line_of(small));
  }
}

TEST_CASE("RFC 3339 years outside 0000-9999 are written with a wider year", "[storage]") {
  CHECK(rfc3339(253402300800'000000) == "10000-01-01T00:00:00.000000Z");
  CHECK(rfc3339(-62167219200'000001) == "-001-12-31T23:59:59.999999Z");
  std::string out = "t=";
  storage::append_rfc3339(-62167219200'000001, out);
  CHECK(out == "t=-001-12-31T23:59:59.999999Z");
}

TEST_CASE("base64 decoding accepts padding and rejects the malformed", "[storage][json]") {
  std::string out;
  CHECK(storage::base64_decode("aGVsbG8=", out));
  CHECK(out == "hello");
  out.clear();
  CHECK(storage::base64_decode("", out));
  CHECK(out.empty());
  CHECK_FALSE(storage::base64_decode("aGVsbG8", out));
  CHECK_FALSE(storage::base64_decode("a=GV", out));
  CHECK_FALSE(storage::base64_decode("aG!s", out));
  // The inverse of append_base64, for every byte value.
  std::string all, enc, back;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  storage::append_base64(all, enc);
  REQUIRE(storage::base64_decode(enc, back));
  CHECK(back == all);
}
