// SPDX-License-Identifier: Apache-2.0
#include "agent/spop_bridge.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "spop/encoder.h"

using agent::bridge_error;
using agent::decode_header_block;
using agent::to_event;

namespace {

// HAProxy's req.hdrs_bin encoding: (len name, len value)* then two empty strings.
std::string header_block(const std::vector<std::pair<std::string, std::string>>& hs) {
  std::vector<std::byte> out;
  for (const auto& [n, v] : hs) {
    spop::encode_name(out, n);
    spop::encode_name(out, v);
  }
  spop::encode_name(out, "");
  spop::encode_name(out, "");
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

spop::message msg(std::string_view name, const std::vector<spop::kv>& args) {
  return spop::message{name, std::span<const spop::kv>(args.data(), args.size())};
}

}  // namespace

TEST_CASE("header blocks decode to ordered pairs, repeats kept", "[agent]") {
  const auto block = header_block({{"host", "a.test"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"},
                                   {"x-long", std::string(300, 'v')}});
  std::vector<correlate::header> hs;
  REQUIRE(decode_header_block(block, hs));
  REQUIRE(hs.size() == 4);
  CHECK(hs[0] == correlate::header{"host", "a.test"});
  CHECK(hs[2] == correlate::header{"set-cookie", "b=2"});
  CHECK(hs[3].second.size() == 300);
}

TEST_CASE("a truncated header block is rejected and appends nothing", "[agent]") {
  auto block = header_block({{"host", "a.test"}, {"accept", "*/*"}});
  std::vector<correlate::header> hs;
  CHECK_FALSE(decode_header_block(block.substr(0, block.size() - 3), hs));
  CHECK(hs.empty());
  CHECK_FALSE(decode_header_block(std::string("\x05" "ab", 3), hs));
  CHECK(hs.empty());
}

TEST_CASE("a request message becomes a request half", "[agent]") {
  const auto hdrs = header_block({{"host", "shop.local"}, {"content-type", "application/json"}});
  const std::string body = "{\"a\":1}";
  std::vector<spop::kv> args = {
      {"unique_id", spop::make_string("7F000001:D13C_1")},
      {"method", spop::make_string("POST")},
      {"path", spop::make_string("/api/items")},
      {"query", spop::make_string("page=2")},
      {"version", spop::make_string("1.1")},
      {"req_hdrs", spop::make_binary(hdrs)},
      {"req_body", spop::make_binary(body)},
      {"req_body_len", spop::make_int64(7)},
      {"req_body_size", spop::make_int64(7)},
      {"client_ip", spop::make_ipv4({10, 0, 0, 7})},
      {"client_port", spop::make_int64(51234)},
      {"frontend", spop::make_string("fe_main")},
      {"ts_us", spop::make_int64(1'700'000'000'123'456)},
      {"tenant", spop::make_string("acme")},
  };
  auto r = to_event(msg("http-req", args), 5);
  REQUIRE(r.error == bridge_error::none);
  REQUIRE(r.event);
  const auto& e = *r.event;
  CHECK(e.id == "7F000001:D13C_1");
  REQUIRE(e.kind() == correlate::half_kind::request);
  const auto& q = std::get<correlate::request_half>(e.half);
  CHECK(q.method == "POST");
  CHECK(q.path == "/api/items");
  CHECK(q.query == std::optional<std::string>("page=2"));
  CHECK(q.version == "1.1");
  CHECK(q.headers.size() == 2);
  CHECK(q.body.data == body);
  CHECK(q.body.size == 7);
  CHECK_FALSE(q.body.truncated);
  CHECK(q.client_ip == "10.0.0.7");
  CHECK(q.client_port == 51234);
  CHECK(q.frontend == "fe_main");
  CHECK(q.time_us == 1'700'000'000'123'456);
  REQUIRE(e.extra.size() == 1);
  CHECK(e.extra[0].first == "tenant");
  CHECK(std::get<std::string>(e.extra[0].second) == "acme");
}

TEST_CASE("a NULL query means no '?', and the receive time stands in for ts_us", "[agent]") {
  std::vector<spop::kv> args = {{"id", spop::make_string("x")},
                                {"method", spop::make_string("GET")},
                                {"path", spop::make_string("/")},
                                {"query", spop::make_null()},
                                {"client_ip", spop::make_ipv6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                               0, 0, 0, 1})}};
  auto r = to_event(msg("req", args), 42);
  REQUIRE(r.event);
  const auto& q = std::get<correlate::request_half>(r.event->half);
  CHECK_FALSE(q.query.has_value());
  CHECK(q.time_us == 42);
  CHECK(q.client_ip == "::1");
  CHECK_FALSE(q.body.captured);
}

TEST_CASE("a response whose body HAProxy cut is flagged truncated with its real size", "[agent]") {
  const std::string part(15000, 'x');
  std::vector<spop::kv> args = {{"unique_id", spop::make_string("u")},
                                {"status", spop::make_int64(200)},
                                {"version", spop::make_string("1.1")},
                                {"res_body", spop::make_binary(part)},
                                {"res_body_len", spop::make_int64(15000)},
                                {"res_body_size", spop::make_int64(65536)},
                                {"backend", spop::make_string("be_app")},
                                {"server", spop::make_string("app1")},
                                {"elapsed_us", spop::make_int64(1545)}};
  auto r = to_event(msg("http-res", args), 0);
  REQUIRE(r.event);
  const auto& s = std::get<correlate::response_half>(r.event->half);
  CHECK(s.status == 200);
  CHECK(s.body.data.size() == 15000);
  CHECK(s.body.size == 65536);
  CHECK(s.body.truncated);
  CHECK(s.backend == "be_app");
  CHECK(s.server == "app1");
  CHECK(s.elapsed_us == 1545);
}

TEST_CASE("unusable messages are reported, not turned into events", "[agent]") {
  SECTION("no unique id") {
    std::vector<spop::kv> args = {{"method", spop::make_string("GET")}};
    auto r = to_event(msg("m", args), 0);
    CHECK_FALSE(r.event);
    CHECK(r.error == bridge_error::missing_id);
  }
  SECTION("empty unique id") {
    std::vector<spop::kv> args = {{"unique_id", spop::make_string("")},
                                  {"status", spop::make_int64(200)}};
    CHECK(to_event(msg("m", args), 0).error == bridge_error::missing_id);
  }
  SECTION("neither method nor status") {
    std::vector<spop::kv> args = {{"unique_id", spop::make_string("a")}};
    CHECK(to_event(msg("m", args), 0).error == bridge_error::not_http);
  }
  SECTION("status of the wrong type") {
    std::vector<spop::kv> args = {{"unique_id", spop::make_string("a")},
                                  {"status", spop::make_string("200")}};
    auto r = to_event(msg("m", args), 0);
    CHECK(r.error == bridge_error::bad_argument);
    CHECK(r.argument == "status");
  }
  SECTION("malformed header block") {
    std::vector<spop::kv> args = {{"unique_id", spop::make_string("a")},
                                  {"method", spop::make_string("GET")},
                                  {"req_hdrs", spop::make_binary("\x09truncated")}};
    auto r = to_event(msg("m", args), 0);
    CHECK(r.error == bridge_error::bad_headers);
    CHECK(r.argument == "req_hdrs");
  }
}

TEST_CASE("a fallback id stands in for a missing unique id, and is reported", "[agent]") {
  std::vector<spop::kv> args = {{"method", spop::make_string("GET")}};
  auto r = to_event(msg("m", args), 0, "engine:e1:42");
  REQUIRE(r.event);
  CHECK(r.event->id == "engine:e1:42");
  CHECK(r.error == bridge_error::missing_id);
  std::vector<spop::kv> with_id = {{"unique_id", spop::make_string("real")},
                                   {"method", spop::make_string("GET")}};
  auto r2 = to_event(msg("m", with_id), 0, "engine:e1:42");
  REQUIRE(r2.event);
  CHECK(r2.event->id == "real");
  CHECK(r2.error == bridge_error::none);
}

TEST_CASE("IPv4 addresses are written as inet_ntop writes them", "[agent]") {
  char expected[INET_ADDRSTRLEN];
  for (int v = 0; v < 256; ++v) {
    for (int pos = 0; pos < 4; ++pos) {
      std::uint8_t a[4] = {1, 20, 255, 0};
      a[pos] = static_cast<std::uint8_t>(v);
      std::string out(1, 'x');  // appended to, not assigned
      agent::append_ipv4(a, out);
      REQUIRE(inet_ntop(AF_INET, a, expected, sizeof expected) != nullptr);
      if (out != std::string("x") + expected) FAIL(out << " != " << expected);
    }
  }
  std::vector<spop::kv> args = {{"unique_id", spop::make_string("u")},
                                {"method", spop::make_string("GET")},
                                {"src", spop::make_ipv4({192, 168, 100, 7})}};
  auto r = to_event(msg("req", args), 0);
  REQUIRE(r.event);
  CHECK(std::get<correlate::request_half>(r.event->half).client_ip == "192.168.100.7");
}

TEST_CASE("every argument name and alias lands in its field and in its own half only", "[agent]") {
  const auto hdrs = header_block({{"host", "h"}});
  SECTION("request: bare, req_ and short forms") {
    for (const std::string prefix : {"", "req_"}) {
      // spop::kv names are views: keep the prefixed names alive.
      const std::string h = prefix + "hdrs", b = prefix + "body", bl = prefix + "body_len",
                        bs = prefix + "body_size";
      std::vector<spop::kv> args = {{"id", spop::make_string("i")},
                                    {"method", spop::make_string("PUT")},
                                    {"path", spop::make_string("/p")},
                                    {"query", spop::make_string("q=1")},
                                    {"version", spop::make_string("2.0")},
                                    {h, spop::make_binary(hdrs)},
                                    {b, spop::make_binary("abc")},
                                    {bl, spop::make_int64(3)},
                                    {bs, spop::make_int64(10)},
                                    {"src", spop::make_ipv4({10, 1, 2, 3})},
                                    {"src_port", spop::make_int64(80)},
                                    {"fe_name", spop::make_string("fe")},
                                    {"ts_us", spop::make_int64(99)}};
      auto r = to_event(msg("req", args), 0);
      REQUIRE(r.error == bridge_error::none);
      REQUIRE(r.event);
      CHECK(r.event->id == "i");
      CHECK(r.event->extra.empty());
      const auto& q = std::get<correlate::request_half>(r.event->half);
      CHECK(q.method == "PUT");
      CHECK(q.path == "/p");
      CHECK(q.query == std::optional<std::string>("q=1"));
      CHECK(q.version == "2.0");
      CHECK(q.headers == std::vector<correlate::header>{{"host", "h"}});
      CHECK(q.body.data == "abc");
      CHECK(q.body.size == 10);
      CHECK(q.body.truncated);
      CHECK(q.client_ip == "10.1.2.3");
      CHECK(q.client_port == 80);
      CHECK(q.frontend == "fe");
      CHECK(q.time_us == 99);
    }
  }
  SECTION("response: bare, res_ and short forms") {
    for (const std::string prefix : {"", "res_"}) {
      const std::string h = prefix + "hdrs", b = prefix + "body", bl = prefix + "body_len",
                        bs = prefix + "body_size";
      std::vector<spop::kv> args = {{"unique_id", spop::make_string("i")},
                                    {"status", spop::make_int64(404)},
                                    {h, spop::make_binary(hdrs)},
                                    {b, spop::make_binary("abc")},
                                    {bl, spop::make_int64(5)},
                                    {bs, spop::make_null()},
                                    {"be_name", spop::make_string("be")},
                                    {"srv_name", spop::make_string("s1")},
                                    {"elapsed_us", spop::make_int64(7)}};
      auto r = to_event(msg("res", args), 0);
      REQUIRE(r.error == bridge_error::none);
      REQUIRE(r.event);
      CHECK(r.event->extra.empty());
      const auto& s = std::get<correlate::response_half>(r.event->half);
      CHECK(s.status == 404);
      CHECK(s.headers == std::vector<correlate::header>{{"host", "h"}});
      CHECK(s.body.data == "abc");
      CHECK(s.body.size == 5);
      CHECK(s.backend == "be");
      CHECK(s.server == "s1");
      CHECK(s.elapsed_us == 7);
    }
  }
  SECTION("names of the other half, or with a prefix they do not take, are kept as extra") {
    std::vector<spop::kv> req = {{"unique_id", spop::make_string("i")},
                                 {"method", spop::make_string("GET")},
                                 {"res_hdrs", spop::make_binary(hdrs)},
                                 {"backend", spop::make_string("be")},
                                 {"elapsed_us", spop::make_int64(1)},
                                 {"req_version", spop::make_string("1.0")},
                                 {"req_ts_us", spop::make_int64(5)},
                                 {"", spop::make_int64(6)},
                                 {"Method", spop::make_string("x")},
                                 {"req_bodY_len", spop::make_int64(8)},
                                 {"req_body_len_and_more", spop::make_int64(9)}};
    auto r = to_event(msg("req", req), 0);
    REQUIRE(r.event);
    std::vector<std::string> extra;
    for (const auto& [name, value] : r.event->extra) extra.push_back(name);
    CHECK(extra == std::vector<std::string>{"res_hdrs", "backend", "elapsed_us", "req_version",
                                            "req_ts_us", "", "Method", "req_bodY_len",
                                            "req_body_len_and_more"});
    const auto& q = std::get<correlate::request_half>(r.event->half);
    CHECK(q.headers.empty());
    CHECK(q.version.empty());

    std::vector<spop::kv> res = {{"unique_id", spop::make_string("i")},
                                 {"status", spop::make_int64(200)},
                                 {"req_body", spop::make_binary("b")},
                                 {"path", spop::make_string("/")},
                                 {"src", spop::make_ipv4({1, 2, 3, 4})},
                                 {"frontend", spop::make_string("fe")}};
    auto s = to_event(msg("res", res), 0);
    REQUIRE(s.event);
    extra.clear();
    for (const auto& [name, value] : s.event->extra) extra.push_back(name);
    CHECK(extra == std::vector<std::string>{"req_body", "path", "src", "frontend"});
    CHECK(std::get<std::string>(s.event->extra[2].second) == "1.2.3.4");
    CHECK_FALSE(std::get<correlate::response_half>(s.event->half).body.captured);
  }
  SECTION("repeated arguments: the last id counts, header blocks add up") {
    const auto more = header_block({{"a", "1"}});  // spop values are views: keep it alive
    std::vector<spop::kv> args = {{"unique_id", spop::make_string("first")},
                                  {"method", spop::make_string("GET")},
                                  {"hdrs", spop::make_binary(hdrs)},
                                  {"req_hdrs", spop::make_binary(more)},
                                  {"id", spop::make_string("last")}};
    auto r = to_event(msg("req", args), 0);
    REQUIRE(r.event);
    CHECK(r.event->id == "last");
    CHECK(std::get<correlate::request_half>(r.event->half).headers ==
          std::vector<correlate::header>{{"host", "h"}, {"a", "1"}});
  }
}

TEST_CASE("a header block appends to headers already there, or leaves them alone", "[agent]") {
  std::vector<correlate::header> hs = {{"x", "1"}};
  REQUIRE(decode_header_block(header_block({{"a", std::string(40, 'v')}, {"b", ""}}), hs));
  CHECK(hs == std::vector<correlate::header>{{"x", "1"}, {"a", std::string(40, 'v')}, {"b", ""}});
  const auto good = header_block({{"c", "3"}});
  CHECK_FALSE(decode_header_block(good.substr(0, good.size() - 1), hs));
  CHECK(hs.size() == 3);
  CHECK(decode_header_block(header_block({}), hs));
  CHECK(hs.size() == 3);
}

TEST_CASE("arguments past the 32nd are named like the first ones", "[agent]") {
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back(std::to_string(i) + "_x");
  std::vector<spop::kv> args;
  for (const auto& n : names) args.push_back({n, spop::make_int64(1)});
  args.push_back({"path", spop::make_string("/late")});
  args.push_back({"method", spop::make_string("GET")});
  args.push_back({"unique_id", spop::make_string("late-id")});
  args.push_back({"res_hdrs", spop::make_null()});
  auto r = to_event(msg("req", args), 0);
  REQUIRE(r.event);
  CHECK(r.event->id == "late-id");
  CHECK(std::get<correlate::request_half>(r.event->half).path == "/late");
  REQUIRE(r.event->extra.size() == 41);
  CHECK(r.event->extra.back().first == "res_hdrs");
}

TEST_CASE("header blocks of 31 to 70 headers decode in order, and a bad tail rejects all",
          "[agent]") {
  for (std::size_t n : {31u, 32u, 33u, 70u}) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (std::size_t i = 0; i < n; ++i) {
      pairs.emplace_back(std::to_string(i) + "-name", std::string(i, 'v'));
    }
    const auto block = header_block(pairs);
    std::vector<correlate::header> hs;
    REQUIRE(decode_header_block(block, hs));
    REQUIRE(hs.size() == n);
    for (std::size_t i = 0; i < n; ++i) CHECK(hs[i] == pairs[i]);
    // Cut inside the last pair: nothing is appended.
    hs.clear();
    CHECK_FALSE(decode_header_block(block.substr(0, block.size() - 4), hs));
    CHECK(hs.empty());
  }
}
