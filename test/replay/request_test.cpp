// SPDX-License-Identifier: Apache-2.0
#include "replay/request.h"

#include <catch2/catch.hpp>

#include "replay/schedule.h"

namespace {

replay::target local() {
  std::string err;
  return *replay::parse_target("http://127.0.0.1:8081", err);
}

replay::captured_request sample() {
  replay::captured_request r;
  r.method = "POST";
  r.path = "/api/items";
  r.query = "page=2&x=%20";
  r.headers = {{"host", "shop.local"},
               {"content-type", "application/json"},
               {"authorization", "[REDACTED]"},
               {"connection", "keep-alive, x-hop"},
               {"x-hop", "1"},
               {"transfer-encoding", "chunked"},
               {"content-length", "999"},
               {"x-trace", "a"},
               {"x-trace", "b"}};
  r.body = std::string("{\"a\":1}\0\r\n", 10);
  return r;
}

using hv = std::vector<std::pair<std::string, std::string>>;

hv pairs(const replay::outgoing_request& rq) {
  hv out;
  for (const auto& h : rq.headers) out.emplace_back(h.name, h.value);
  return out;
}

}  // namespace

TEST_CASE("hop by hop headers are not sent and the body is sent unchanged", "[replay]") {
  const auto rq = replay::build_request(sample(), local(), {});
  CHECK(rq.method == "POST");
  CHECK(rq.url == "http://127.0.0.1:8081/api/items?page=2&x=%20");
  CHECK(pairs(rq) == hv{{"host", "127.0.0.1:8081"},
                        {"content-type", "application/json"},
                        {"x-trace", "a"},
                        {"x-trace", "b"}});
  CHECK(rq.body == std::string("{\"a\":1}\0\r\n", 10));
}

TEST_CASE("Host is rewritten to the target unless keep host", "[replay]") {
  replay::request_options o;
  o.keep_host = true;
  CHECK(pairs(replay::build_request(sample(), local(), o))[0] ==
        std::pair<std::string, std::string>{"host", "shop.local"});
  auto no_host = sample();
  no_host.headers.erase(no_host.headers.begin());
  const auto rq = replay::build_request(no_host, local(), {});
  CHECK(pairs(rq)[0] == std::pair<std::string, std::string>{"host", "127.0.0.1:8081"});
  std::string err;
  const auto t = *replay::parse_target("https://[::1]:8443/staging/", err);
  const auto rq2 = replay::build_request(sample(), t, {});
  CHECK(rq2.url == "https://[::1]:8443/staging/api/items?page=2&x=%20");
  CHECK(pairs(rq2)[0].second == "[::1]:8443");
}

TEST_CASE("redacted headers are dropped or replaced by a header flag", "[replay]") {
  replay::request_options o;
  o.headers = {*replay::parse_header_arg("Authorization: Bearer real")};
  const auto rq = replay::build_request(sample(), local(), o);
  CHECK(pairs(rq) == hv{{"host", "127.0.0.1:8081"},
                        {"content-type", "application/json"},
                        {"Authorization", "Bearer real"},
                        {"x-trace", "a"},
                        {"x-trace", "b"}});
  auto cookie = sample();
  cookie.headers = {{"cookie", "[REDACTED]"}, {"x-key", "[REDACTED] but more"}};
  CHECK(pairs(replay::build_request(cookie, local(), {})) ==
        hv{{"host", "127.0.0.1:8081"}, {"x-key", "[REDACTED] but more"}});
}

TEST_CASE("header flags replace every header of that name, append, or remove", "[replay]") {
  replay::request_options o;
  o.headers = {*replay::parse_header_arg("X-Trace: z"), *replay::parse_header_arg("X-New: 1"),
               *replay::parse_header_arg("Content-Type:"),
               *replay::parse_header_arg("host: staging.local")};
  CHECK(pairs(replay::build_request(sample(), local(), o)) ==
        hv{{"host", "staging.local"}, {"X-Trace", "z"}, {"X-New", "1"}});
}

TEST_CASE("header flags are parsed as Name colon value", "[replay]") {
  auto h = replay::parse_header_arg("X-A:  spaced value ");
  REQUIRE(h);
  CHECK(h->name == "X-A");
  CHECK(h->value == "spaced value");
  CHECK(replay::parse_header_arg("X-Empty:")->value.empty());
  CHECK_FALSE(replay::parse_header_arg("no colon"));
  CHECK_FALSE(replay::parse_header_arg(": v"));
  CHECK_FALSE(replay::parse_header_arg("bad name: v"));
  CHECK_FALSE(replay::parse_header_arg("X: a\r\nInjected: b"));
}

TEST_CASE("target URLs are parsed with their base path", "[replay]") {
  std::string err;
  auto t = replay::parse_target("HTTP://example.test", err);
  REQUIRE(t);
  CHECK(t->scheme == "http");
  CHECK(t->authority == "example.test");
  CHECK(t->base_path.empty());
  CHECK_FALSE(replay::parse_target("ftp://x", err));
  CHECK_FALSE(replay::parse_target("127.0.0.1:80", err));
  CHECK_FALSE(replay::parse_target("http://", err));
  CHECK_FALSE(replay::parse_target("http://u:p@host", err));
  CHECK_FALSE(replay::parse_target("http://host?q", err));
}

TEST_CASE("rate and speed pacing give each request its due time", "[replay]") {
  replay::schedule s;
  CHECK(s.due_us(5, 123) == 0);
  s.mode = replay::pacing::rate;
  s.rate = 4;
  CHECK(s.due_us(0, 0) == 0);
  CHECK(s.due_us(6, 0) == 1500000);
  s.mode = replay::pacing::speed;
  s.speed = 2;
  s.first_us = 1000000;
  CHECK(s.due_us(3, 3000000) == 1000000);
  CHECK(s.due_us(3, 0) == 0);
  s.speed = 0.5;
  CHECK(s.due_us(3, 1500000) == 1000000);
}
