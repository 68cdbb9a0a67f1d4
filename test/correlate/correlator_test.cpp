// SPDX-License-Identifier: Apache-2.0
#include "correlate/correlator.h"

#include <catch2/catch.hpp>

using namespace correlate;

namespace {

constexpr std::int64_t minute_us = 60ll * 1000 * 1000;

event request(std::string id, std::int64_t t = 1000, std::string path = "/") {
  request_half r;
  r.time_us = t;
  r.method = "GET";
  r.path = std::move(path);
  r.version = "1.1";
  r.headers = {{"host", "example.test"}};
  return event{std::move(id), source::spop, std::move(r), {}};
}

event response(std::string id, std::int64_t t = 2500, int status = 200) {
  response_half r;
  r.time_us = t;
  r.status = status;
  r.version = "1.1";
  return event{std::move(id), source::spop, std::move(r), {}};
}

}  // namespace

TEST_CASE("a request then its response make one complete exchange", "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  c.add(request("a"), 0, out);
  REQUIRE(out.empty());
  REQUIRE(c.pending() == 1);
  c.add(response("a"), 0, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].complete);
  CHECK(out[0].id == "a");
  CHECK(out[0].request->path == "/");
  CHECK(out[0].response->status == 200);
  CHECK(out[0].duration_us == 1500);
  CHECK(c.pending() == 0);
  CHECK(c.pending_bytes() == 0);
  CHECK(c.stats().paired == 1);
}

TEST_CASE("a response may arrive before its request", "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  c.add(response("b", 9000, 404), 0, out);
  c.add(request("b", 4000), 0, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].complete);
  CHECK(out[0].request->time_us == 4000);
  CHECK(out[0].response->status == 404);
  CHECK(out[0].duration_us == 5000);
}

TEST_CASE("HAProxy's elapsed time wins over the difference of timestamps", "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  auto res = response("e", 9000);
  std::get<response_half>(res.half).elapsed_us = 777;
  c.add(request("e", 1000), 0, out);
  c.add(std::move(res), 0, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].duration_us == 777);
}

TEST_CASE("halves with different ids do not pair", "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  c.add(request("x"), 0, out);
  c.add(response("y"), 0, out);
  CHECK(out.empty());
  CHECK(c.pending() == 2);
}

TEST_CASE("expired halves are emitted incomplete, younger ones stay", "[correlate]") {
  correlator c(config{.ttl_us = 30 * minute_us});
  std::vector<exchange> out;
  c.add(request("old"), 0, out);
  c.add(response("young"), 20 * minute_us, out);
  c.expire(29 * minute_us, out);
  CHECK(out.empty());
  c.expire(30 * minute_us, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].id == "old");
  CHECK_FALSE(out[0].complete);
  CHECK(out[0].request.has_value());
  CHECK_FALSE(out[0].response.has_value());
  CHECK(out[0].duration_us == -1);
  CHECK(c.stats().expired == 1);
  c.expire(50 * minute_us, out);
  REQUIRE(out.size() == 2);
  CHECK(out[1].id == "young");
  CHECK(out[1].response.has_value());
  CHECK(c.pending() == 0);
}

TEST_CASE("paired halves leave the expiry order", "[correlate]") {
  correlator c(config{.ttl_us = minute_us});
  std::vector<exchange> out;
  c.add(request("p"), 0, out);
  c.add(request("q"), 10, out);
  c.add(response("p"), 20, out);
  out.clear();
  c.expire(2 * minute_us, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].id == "q");
}

TEST_CASE("a duplicate half emits the older one incomplete and keeps the newer", "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  c.add(request("d", 1, "/first"), 0, out);
  c.add(request("d", 2, "/second"), 0, out);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].complete);
  CHECK(out[0].request->path == "/first");
  CHECK(c.stats().duplicates == 1);
  c.add(response("d", 5), 0, out);
  REQUIRE(out.size() == 2);
  CHECK(out[1].complete);
  CHECK(out[1].request->path == "/second");
}

TEST_CASE("the pending count cap evicts the oldest halves", "[correlate]") {
  correlator c(config{.max_pending = 3});
  std::vector<exchange> out;
  for (int i = 0; i < 5; ++i) c.add(request("r" + std::to_string(i)), i, out);
  CHECK(c.pending() == 3);
  REQUIRE(out.size() == 2);
  CHECK(out[0].id == "r0");
  CHECK(out[1].id == "r1");
  CHECK(c.stats().evicted == 2);
}

TEST_CASE("the pending bytes cap evicts until the new half fits", "[correlate]") {
  const std::size_t one = request("r0").approx_bytes();
  correlator c(config{.max_pending_bytes = one * 2 + one / 2});
  std::vector<exchange> out;
  for (int i = 0; i < 4; ++i) c.add(request("r" + std::to_string(i)), i, out);
  CHECK(c.pending() == 2);
  CHECK(c.pending_bytes() <= one * 2 + one / 2);
  CHECK(out.size() == 2);
  CHECK(c.stats().evicted == 2);
}

TEST_CASE("drain emits everything still pending, oldest first", "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  c.add(request("1"), 0, out);
  c.add(response("2"), 1, out);
  c.drain(out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].id == "1");
  CHECK(out[1].id == "2");
  CHECK(c.pending() == 0);
  CHECK(c.pending_bytes() == 0);
  CHECK(c.stats().drained == 2);
}

TEST_CASE("extra fields of both halves are kept", "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  auto req = request("z");
  req.extra.emplace_back("tenant", std::string("acme"));
  auto res = response("z");
  res.extra.emplace_back("retries", std::int64_t{2});
  c.add(std::move(req), 0, out);
  c.add(std::move(res), 0, out);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].extra.size() == 2);
  CHECK(out[0].extra[0].first == "tenant");
  CHECK(std::get<std::int64_t>(out[0].extra[1].second) == 2);
}

TEST_CASE("oldest_tag is the tag of the half that has waited longest", "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  CHECK_FALSE(c.oldest_tag().has_value());
  c.add(request("a"), 10, out, 100);
  c.add(request("b"), 11, out, 101);
  c.add(response("c"), 12, out, 102);
  CHECK(c.oldest_tag() == 100);
  c.add(response("a"), 13, out, 103);  // pairs a: b waits longest now
  REQUIRE(out.size() == 1);
  CHECK(c.oldest_tag() == 101);
  // A duplicate of b displaces the older b; c (102) is now the oldest.
  c.add(request("b"), 14, out, 104);
  CHECK(c.oldest_tag() == 102);
  c.add(request("c"), 15, out, 105);
  CHECK(c.oldest_tag() == 104);
  c.drain(out);
  CHECK_FALSE(c.oldest_tag().has_value());
}

TEST_CASE("take_oldest takes the longest-waiting half out unemitted, and only when old enough",
          "[correlate]") {
  correlator c;
  std::vector<exchange> out;
  c.add(request("a"), 100, out, 7);
  c.add(request("b"), 200, out, 8);
  correlator::taken t;
  CHECK_FALSE(c.take_oldest(99, t));
  REQUIRE(c.take_oldest(150, t));
  CHECK(t.half.id == "a");
  CHECK(t.arrived_us == 100);
  CHECK(t.tag == 7);
  CHECK(c.pending() == 1);
  CHECK(c.oldest_tag() == 8);
  CHECK(out.empty());
  CHECK(c.stats().expired + c.stats().evicted + c.stats().drained == 0);
  CHECK_FALSE(c.take_oldest(150, t));
  // The partner of what was taken now waits alone.
  c.add(response("a"), 300, out, 9);
  CHECK(out.empty());
  c.add(response("b"), 300, out, 10);
  REQUIRE(out.size() == 1);
  CHECK(c.last_pair_tag() == 8);
}
