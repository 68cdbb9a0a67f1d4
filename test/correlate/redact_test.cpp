// SPDX-License-Identifier: Apache-2.0
#include "correlate/redact.h"
#include "correlate/correlator.h"
#include "correlate/json_redact.h"

#include <catch2/catch.hpp>

using namespace correlate;

TEST_CASE("default sensitive headers are masked and listed once", "[correlate]") {
  exchange x;
  x.request = request_half{};
  x.request->headers = {{"host", "a"}, {"authorization", "Bearer s3cret"}, {"Cookie", "a=1"},
                        {"cookie", "b=2"}};
  x.response = response_half{};
  x.response->headers = {{"set-cookie", "sid=1"}, {"content-type", "text/plain"}};
  std::vector<std::string> names(std::begin(default_redacted_headers),
                                 std::end(default_redacted_headers));
  redact(x, names);
  CHECK(x.request->headers[0].second == "a");
  CHECK(x.request->headers[1].second == "[REDACTED]");
  CHECK(x.request->headers[2].first == "Cookie");
  CHECK(x.request->headers[2].second == "[REDACTED]");
  CHECK(x.request->headers[3].second == "[REDACTED]");
  CHECK(x.response->headers[0].second == "[REDACTED]");
  CHECK(x.response->headers[1].second == "text/plain");
  CHECK(x.redacted == std::vector<std::string>{"authorization", "cookie", "set-cookie"});
}

TEST_CASE("an empty list redacts nothing", "[correlate]") {
  exchange x;
  x.request = request_half{};
  x.request->headers = {{"authorization", "Basic xyz"}};
  redact(x, {});
  CHECK(x.request->headers[0].second == "Basic xyz");
  CHECK(x.redacted.empty());
}

TEST_CASE("redact_json_text masks named fields at any depth, keeping the rest", "[correlate]") {
  std::vector<std::size_t> hits;
  std::string b =
      R"({"user":"bob", "password" : "hunter2","nested":{"token":{"a":[1,"}"]},"x":1},"list":[{"password":12.5}],"note":"password"})";
  redact_json_text(b, {"password", "token"}, hits);
  CHECK(
      b ==
      R"({"user":"bob", "password" : "[REDACTED]","nested":{"token":"[REDACTED]","x":1},"list":[{"password":"[REDACTED]"}],"note":"password"})");
  CHECK(hits == std::vector<std::size_t>{2, 1});

  std::string cut = R"({"a":1,"password":"hun)";
  redact_json_text(cut, {"password"}, hits);
  CHECK(cut == R"({"a":1,"password":"[REDACTED]")");

  std::string none = R"({"a":"password"})";
  redact_json_text(none, {"password"}, hits);
  CHECK(none == R"({"a":"password"})");
  CHECK(hits[0] == 0);

  correlate::exchange x;
  x.request.emplace();
  x.request->headers = {{"Content-Type", "application/json; charset=utf-8"}};
  x.request->body.data = R"({"password":"p"})";
  x.response.emplace();
  x.response->headers = {{"content-type", "text/plain"}};
  x.response->body.data = R"({"password":"kept: not JSON by content-type"})";
  x.redacted = {"authorization"};
  redact_json_fields(x, {"password", "ssn"});
  CHECK(x.request->body.data == R"({"password":"[REDACTED]"})");
  CHECK(x.response->body.data == R"({"password":"kept: not JSON by content-type"})");
  CHECK(x.redacted == std::vector<std::string>{"authorization", "body:password"});
}

TEST_CASE("a half is masked before it leaves the agent (Kafka pairing), and matched again once paired",
          "[correlate]") {
  request_half r;
  r.headers = {{"Authorization", "Bearer s3cret"}, {"content-type", "application/json"}};
  r.body.data = R"({"user":"a","password":"hunter2"})";
  event e{"id-1", source::spop, std::move(r), {}};
  redact(e, {"authorization"});
  redact_json_fields(e, {"password"});
  const auto& h = std::get<request_half>(e.half);
  CHECK(h.headers[0].second == "[REDACTED]");
  CHECK(h.headers[1].second == "application/json");
  CHECK(h.body.data == R"({"user":"a","password":"[REDACTED]"})");

  // The pair made of it is redacted again when stored: the names are listed, nothing changes.
  auto x = make_incomplete(std::move(e));
  redact(x, {"authorization"});
  redact_json_fields(x, {"password"});
  CHECK(x.request->body.data == R"({"user":"a","password":"[REDACTED]"})");
  CHECK(x.redacted == std::vector<std::string>{"authorization", "body:password"});
}

TEST_CASE("a response half is masked too, and a body that is not JSON is left alone",
          "[correlate]") {
  response_half s;
  s.headers = {{"set-cookie", "sid=1"}, {"content-type", "text/plain"}};
  s.body.data = R"({"password":"x"})";
  event e{"id-2", source::http, std::move(s), {}};
  redact(e, {"set-cookie"});
  redact_json_fields(e, {"password"});
  const auto& h = std::get<response_half>(e.half);
  CHECK(h.headers[0].second == "[REDACTED]");
  CHECK(h.body.data == R"({"password":"x"})");  // text/plain: not scanned
}
