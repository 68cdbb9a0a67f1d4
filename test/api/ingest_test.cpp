// SPDX-License-Identifier: Apache-2.0
//
// The legacy ingestion decoder (api/ingest.h): every accepted shape, every 400/422 path, and
// the JSON error offsets.
#include "api/ingest.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace {

constexpr std::int64_t now = 1795830243000000;

api::ingest_result decode(std::string_view body, api::body_format f = api::body_format::json) {
  api::event_decoder d;
  return d.decode(f, body, now);
}

const correlate::request_half& req(const correlate::event& e) {
  return std::get<correlate::request_half>(e.half);
}
const correlate::response_half& res(const correlate::event& e) {
  return std::get<correlate::response_half>(e.half);
}

}  // namespace

TEST_CASE("content types", "[api][ingest]") {
  using f = api::body_format;
  CHECK(api::ingest_format("application/json") == f::json);
  CHECK(api::ingest_format("Application/JSON; charset=utf-8") == f::json);
  CHECK(api::ingest_format("application/vnd.events+json") == f::json);
  CHECK(api::ingest_format("application/x-ndjson") == f::ndjson);
  CHECK(api::ingest_format("application/jsonl") == f::ndjson);
  CHECK(api::ingest_format("application/msgpack") == f::msgpack);
  CHECK(api::ingest_format("application/x-msgpack") == f::msgpack);
  CHECK_FALSE(api::ingest_format(""));
  CHECK_FALSE(api::ingest_format("text/plain"));
  CHECK_FALSE(api::ingest_format("application/jsonx"));
}

TEST_CASE("a request envelope with object headers and a string body", "[api][ingest]") {
  auto r = decode(R"({"type":"request","timestamp":1795830243.25,"data":{"id":"a1",
    "method":"POST","path":"/x?q=1","version":"HTTP/1.0",
    "headers":{"Host":"h","X-Multi":["1","2"],"Content-Length":3},"body":"abc",
    "client_ip":"10.0.0.1","client_port":4444,"frontend":"fe","custom":"kept","n":7,
    "nested":{"dropped":true}}})");
  REQUIRE_FALSE(r.syntax_error);
  REQUIRE_FALSE(r.bad_index);
  REQUIRE(r.events.size() == 1);
  const auto& e = r.events[0];
  CHECK(e.id == "a1");
  CHECK(e.source == correlate::source::http);
  const auto& q = req(e);
  CHECK(q.time_us == 1795830243250000);
  CHECK(q.method == "POST");
  CHECK(q.path == "/x");
  CHECK(q.query == "q=1");
  CHECK(q.version == "1.0");
  CHECK(q.headers ==
        std::vector<correlate::header>{
            {"host", "h"}, {"x-multi", "1"}, {"x-multi", "2"}, {"content-length", "3"}});
  CHECK(q.body.data == "abc");
  CHECK(q.body.captured);
  CHECK(q.body.size == 3);
  CHECK_FALSE(q.body.truncated);
  CHECK(q.client_ip == "10.0.0.1");
  CHECK(q.client_port == 4444);
  CHECK(q.frontend == "fe");
  REQUIRE(e.extra.size() == 2);
  CHECK(e.extra[0].first == "custom");
  CHECK(std::get<std::string>(e.extra[0].second) == "kept");
  CHECK(e.extra[1].first == "n");
}

TEST_CASE("a response envelope with pair headers and a length-only body", "[api][ingest]") {
  auto r = decode(R"({"type":"response","timestamp":1795830243000,"data":{"id":"a1",
    "status":404,"headers":[["Content-Type","text/plain"],["set-cookie","a=1"]],"body":512,
    "backend":"be","server":"s1"}})");
  REQUIRE(r.events.size() == 1);
  const auto& s = res(r.events[0]);
  CHECK(s.time_us == 1795830243000000);  // milliseconds recognised
  CHECK(s.status == 404);
  CHECK(s.version == "1.1");
  CHECK(s.headers ==
        std::vector<correlate::header>{{"content-type", "text/plain"}, {"set-cookie", "a=1"}});
  CHECK_FALSE(s.body.captured);
  CHECK(s.body.size == 512);
  CHECK(s.backend == "be");
  CHECK(s.server == "s1");
}

TEST_CASE("no timestamp takes now, and body_size marks truncation", "[api][ingest]") {
  auto r = decode(
      R"({"type":"request","data":{"id":"t","method":"GET","path":"/","body":"ab","body_size":10}})");
  REQUIRE(r.events.size() == 1);
  CHECK(req(r.events[0]).time_us == now);
  CHECK(req(r.events[0]).body.truncated);
  CHECK(req(r.events[0]).body.size == 10);
}

TEST_CASE("a batch keeps every valid item and names the first bad one", "[api][ingest]") {
  auto r = decode(R"([
    {"type":"request","data":{"id":"1","method":"GET","path":"/"}},
    {"type":"request","data":{"method":"GET","path":"/"}},
    {"type":"response","data":{"id":"1","status":"200"}},
    {"type":"response","data":{"id":"1","status":200}}])");
  REQUIRE_FALSE(r.syntax_error);
  CHECK(r.items == 4);
  CHECK(r.events.size() == 2);
  REQUIRE(r.bad_index == 1u);
  CHECK(r.bad_field == "data.id");
  CHECK(r.message == "missing field \"data.id\"");
  CHECK(r.bad_items == 2);
}

TEST_CASE("each field problem is a 422 naming the field", "[api][ingest]") {
  struct tc {
    const char* body;
    const char* field;
  };
  for (
      const auto& [body, field] : std::vector<tc>{
          {R"(42)", "(envelope)"},
          {R"({"data":{}})", "type"},
          {R"({"type":"req","data":{}})", "type"},
          {R"({"type":"request","timestamp":"now","data":{}})", "timestamp"},
          {R"({"type":"request","timestamp":-1,"data":{}})", "timestamp"},
          {R"({"type":"request"})", "data"},
          {R"({"type":"request","data":[]})", "data"},
          {R"({"type":"request","data":{"id":""}})", "data.id"},
          {R"({"type":"request","data":{"id":5}})", "data.id"},
          {R"({"type":"request","data":{"id":"x","path":"/"}})", "data.method"},
          {R"({"type":"request","data":{"id":"x","method":"GET"}})", "data.path"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":1}})", "data.path"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":"/","query":1}})",
           "data.query"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":"/","headers":"h"}})",
           "data.headers"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":"/","headers":{"a":{}}}})",
           "data.headers.a"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":"/","headers":[["a"]]}})",
           "data.headers[0]"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":"/","body":-1}})",
           "data.body"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":"/","body":true}})",
           "data.body"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":"/","body":"abc","body_size":1}})",
           "data.body_size"},
          {R"({"type":"request","data":{"id":"x","method":"GET","path":"/","client_port":70000}})",
           "data.client_port"},
          {R"({"type":"response","data":{"id":"x"}})", "data.status"},
          {R"({"type":"response","data":{"id":"x","status":99}})", "data.status"},
          {R"({"type":"response","data":{"id":"x","status":200,"server":1}})", "data.server"},
      }) {
    INFO(body);
    auto r = decode(body);
    CHECK_FALSE(r.syntax_error);
    CHECK(r.events.empty());
    REQUIRE(r.bad_index == 0u);
    CHECK(r.bad_field == field);
    CHECK(r.message.find(field) != std::string::npos);
  }
}

TEST_CASE("bad JSON is a 400 with simdjson's message and the offset", "[api][ingest]") {
  auto r = decode(R"({"type":"request","data":{"id":"x",}})");
  CHECK(r.syntax_error);
  CHECK(r.events.empty());
  CHECK_FALSE(r.message.empty());
  CHECK(r.offset == 35);  // the '}' after the trailing comma
  CHECK(decode("").syntax_error);
  CHECK(decode("[1,2").syntax_error);
}

TEST_CASE("json_error_offset", "[api][ingest]") {
  CHECK_FALSE(api::json_error_offset(R"({"a":[1,2.5e-3,true,false,null,"\u00e9\n"]})"));
  CHECK_FALSE(api::json_error_offset(" [] "));
  CHECK(api::json_error_offset("") == 0u);
  CHECK(api::json_error_offset("{") == 1u);
  CHECK(api::json_error_offset("[1,]") == 3u);
  CHECK(api::json_error_offset("{\"a\" 1}") == 5u);
  CHECK(api::json_error_offset("[01]") == 2u);
  CHECK(api::json_error_offset("[1] x") == 4u);
  CHECK(api::json_error_offset("\"a\x01\"") == 2u);
  CHECK(api::json_error_offset("\"\xff\"") == 1u);
  CHECK(api::json_error_offset("[tru]") == 1u);
  CHECK(api::json_error_offset(std::string(1025, '[')) == 1024u);
}

TEST_CASE("NDJSON: one envelope per line, blank lines skipped", "[api][ingest]") {
  const std::string line1 = R"({"type":"request","data":{"id":"n1","method":"GET","path":"/"}})";
  const std::string line2 = R"({"type":"response","data":{"id":"n1","status":200}})";
  auto r = decode(line1 + "\n\n  \r\n" + line2 + "\n", api::body_format::ndjson);
  CHECK(r.events.size() == 2);
  CHECK_FALSE(r.bad_index);

  auto bad = decode(line1 + "\n{oops}\n" + line2, api::body_format::ndjson);
  CHECK(bad.syntax_error);
  CHECK(bad.events.empty());
  CHECK(bad.offset == line1.size() + 2);

  auto invalid =
      decode(line1 + "\n{\"type\":\"response\",\"data\":{}}\n" + line2, api::body_format::ndjson);
  CHECK(invalid.events.size() == 2);
  CHECK(invalid.bad_index == 1u);
}

namespace {

// A minimal MessagePack writer for the tests (fixstr/str8, fixmap, fixarray, bin8, ints).
struct mp {
  std::string out;
  mp& map(std::size_t n) {
    out += static_cast<char>(0x80 | n);
    return *this;
  }
  mp& arr(std::size_t n) {
    out += static_cast<char>(0x90 | n);
    return *this;
  }
  mp& str(std::string_view s) {
    if (s.size() < 32) {
      out += static_cast<char>(0xa0 | s.size());
    } else {
      out += '\xd9';
      out += static_cast<char>(s.size());
    }
    out += s;
    return *this;
  }
  mp& bin(std::string_view s) {
    out += '\xc4';
    out += static_cast<char>(s.size());
    out += s;
    return *this;
  }
  mp& uint(std::uint8_t v) {
    out += '\xcc';
    out += static_cast<char>(v);
    return *this;
  }
  mp& u16(std::uint16_t v) {
    out += '\xcd';
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xff);
    return *this;
  }
};

}  // namespace

TEST_CASE("MessagePack: same shape, BIN bodies, arrays and back-to-back values", "[api][ingest]") {
  mp m;
  m.map(2).str("type").str("request").str("data").map(4);
  m.str("id").str("m1").str("method").str("PUT").str("path").str("/bin");
  m.str("body").bin(std::string("\x00\xff\x01", 3));
  m.arr(1).map(2).str("type").str("response").str("data").map(2);
  m.str("id").str("m1").str("status").u16(201);
  auto r = decode(m.out, api::body_format::msgpack);
  REQUIRE_FALSE(r.syntax_error);
  REQUIRE(r.events.size() == 2);
  CHECK(req(r.events[0]).body.data == std::string("\x00\xff\x01", 3));
  CHECK(res(r.events[1]).status == 201);

  auto cut = decode(m.out.substr(0, m.out.size() - 2), api::body_format::msgpack);
  CHECK(cut.syntax_error);
  CHECK(cut.message.starts_with("msgpack:"));
  CHECK(cut.events.empty());

  mp bad;
  bad.map(1).str("type").uint(1);
  auto b = decode(bad.out, api::body_format::msgpack);
  CHECK(b.bad_index == 0u);
  CHECK(b.bad_field == "type");

  // A length prefix far beyond the body must not allocate it.
  const std::string huge = "\xdd\xff\xff\xff\xff";  // array32 of 4 billion
  CHECK(decode(huge, api::body_format::msgpack).syntax_error);
}
