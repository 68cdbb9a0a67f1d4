// SPDX-License-Identifier: Apache-2.0
#include "agent/spop_bridge.h"

#include <catch2/catch.hpp>

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
