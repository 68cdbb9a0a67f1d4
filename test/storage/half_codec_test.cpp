// SPDX-License-Identifier: Apache-2.0
#include "storage/half_codec.h"

#include <catch2/catch.hpp>
#include <string>

#include "test/storage/test_util.h"

using namespace correlate;

namespace {

event request_event() {
  event e{"req-\xff\x00id", source::http, storage_test::make_request(), {}};
  e.extra = {{"nothing", std::monostate{}},
             {"flag", true},
             {"neg", std::int64_t{-7}},
             {"big", std::uint64_t{1} << 63},
             {"raw", std::string("\x00\x01\xfe", 3)}};
  return e;
}

event response_event() {
  return event{"res-1", source::spop, storage_test::make_response(), {}};
}

template <typename H>
void check_same_body(const H& a, const H& b) {
  CHECK(a.body.data == b.body.data);
  CHECK(a.body.size == b.body.size);
  CHECK(a.body.truncated == b.body.truncated);
  CHECK(a.body.captured == b.body.captured);
  CHECK(a.headers == b.headers);
  CHECK(a.version == b.version);
  CHECK(a.time_us == b.time_us);
}

}  // namespace

TEST_CASE("a request half survives encode and decode field for field", "[storage][halves]") {
  auto e = request_event();
  auto& r = std::get<request_half>(e.half);
  r.query = "a=1&b=\xc3\xa9";
  r.body.truncated = true;
  std::string bytes;
  storage::encode_half(e, bytes);
  const auto d = storage::decode_half(bytes);
  REQUIRE(d.event.has_value());
  INFO(d.error);
  CHECK(d.event->id == e.id);
  CHECK(d.event->source == source::http);
  REQUIRE(d.event->kind() == half_kind::request);
  const auto& got = std::get<request_half>(d.event->half);
  CHECK(got.method == r.method);
  CHECK(got.path == r.path);
  CHECK(got.query == r.query);
  CHECK(got.client_ip == r.client_ip);
  CHECK(got.client_port == r.client_port);
  CHECK(got.frontend == r.frontend);
  check_same_body(got, r);
  CHECK(d.event->extra == e.extra);
}

TEST_CASE("a response half survives encode and decode field for field", "[storage][halves]") {
  auto e = response_event();
  auto& s = std::get<response_half>(e.half);
  s.elapsed_us = -1;
  s.body.captured = false;
  s.body.data.clear();
  std::string bytes;
  storage::encode_half(e, bytes);
  const auto d = storage::decode_half(bytes);
  REQUIRE(d.event.has_value());
  REQUIRE(d.event->kind() == half_kind::response);
  const auto& got = std::get<response_half>(d.event->half);
  CHECK(got.status == s.status);
  CHECK(got.backend == s.backend);
  CHECK(got.server == s.server);
  CHECK(got.elapsed_us == -1);
  check_same_body(got, s);
}

TEST_CASE("a request without a query decodes without one", "[storage][halves]") {
  auto e = request_event();
  std::get<request_half>(e.half).query.reset();
  std::string bytes;
  storage::encode_half(e, bytes);
  const auto d = storage::decode_half(bytes);
  REQUIRE(d.event.has_value());
  CHECK_FALSE(std::get<request_half>(d.event->half).query.has_value());
}

TEST_CASE("records that are not halves are refused with the reason", "[storage][halves]") {
  std::string good;
  storage::encode_half(response_event(), good);

  SECTION("empty") { CHECK_FALSE(storage::decode_half("").event.has_value()); }
  SECTION("cut short anywhere") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      INFO("length " << n);
      CHECK_FALSE(storage::decode_half(std::string_view(good).substr(0, n)).event.has_value());
    }
  }
  SECTION("bytes after the value") {
    const auto d = storage::decode_half(good + "x");
    CHECK_FALSE(d.event.has_value());
    CHECK(d.error == "half: 1 bytes after the value");
  }
  SECTION("another format version") {
    auto bad = good;
    REQUIRE(static_cast<unsigned char>(bad[1]) == 1);  // fixarray(6), then positive fixint 1
    bad[1] = 2;
    const auto d = storage::decode_half(bad);
    CHECK_FALSE(d.event.has_value());
    CHECK(d.error == "half: format version 2, this agent reads 1");
  }
  SECTION("a JSON exchange (someone else's record on the topic)") {
    const auto d = storage::decode_half(R"({"id":"x","complete":true})");
    CHECK_FALSE(d.event.has_value());
    CHECK(d.error.starts_with("half: "));
  }
  SECTION("a kind out of range") {
    auto bad = good;
    // [1, bin id, source, kind, ...]: fixarray, 1, bin8 len "res-1", source 0, kind 1
    const std::size_t kind_at = 1 + 1 + 2 + 5 + 1;
    REQUIRE(bad[kind_at] == 1);
    bad[kind_at] = 5;
    const auto d = storage::decode_half(bad);
    CHECK_FALSE(d.event.has_value());
    CHECK(d.error == "half: field kind out of range");
  }
}
