// SPDX-License-Identifier: Apache-2.0
#include "correlate/redact.h"

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
