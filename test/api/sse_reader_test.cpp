// SPDX-License-Identifier: Apache-2.0
//
// api::sse_reader: the parsing rules of the HTML standard's "Interpreting an event stream",
// whatever the line endings and however the bytes are split, and its bound.
#include "api/sse_reader.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace {

struct seen {
  std::string type, data, id;
  bool operator==(const seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const seen& s) {
  return os << "{" << s.type << "|" << s.data << "|" << s.id << "}";
}

// Feeds `in` in pieces of `step` bytes (0: at once).
std::vector<seen> read_all(api::sse_reader& r, std::string_view in, std::size_t step = 0,
                           bool* ok = nullptr) {
  std::vector<seen> out;
  auto on = [&](const api::sse_event& e) {
    out.push_back({std::string(e.type), std::string(e.data), std::string(e.id)});
  };
  bool good = true;
  if (step == 0) {
    good = r.feed(in, on);
  } else {
    for (std::size_t i = 0; i < in.size() && good; i += step) good = r.feed(in.substr(i, step), on);
  }
  if (ok != nullptr) *ok = good;
  return out;
}

}  // namespace

TEST_CASE("sse_reader reads the agent's own stream: retry, ready, exchanges, comments",
          "[api][sse]") {
  const std::string in =
      "retry: 3000\n\nevent: ready\ndata: {}\n\n: keepalive\n\n"
      "event: exchange\ndata: {\"id\":\"a\"}\n\n"
      "event: dropped\ndata: {\"dropped\":2,\"total\":2}\n\n";
  for (std::size_t step : {0u, 1u, 2u, 7u}) {
    CAPTURE(step);
    api::sse_reader r;
    const auto got = read_all(r, in, step);
    REQUIRE(got.size() == 3);
    CHECK(got[0] == seen{"ready", "{}", ""});
    CHECK(got[1] == seen{"exchange", "{\"id\":\"a\"}", ""});
    CHECK(got[2] == seen{"dropped", "{\"dropped\":2,\"total\":2}", ""});
    CHECK(r.retry_ms() == 3000u);
    CHECK(r.error().empty());
  }
}

TEST_CASE("sse_reader takes CRLF, LF and CR line ends, even split between feeds", "[api][sse]") {
  const std::string in = "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\rdata: 3\n\n";
  for (std::size_t step : {0u, 1u, 3u}) {
    CAPTURE(step);
    api::sse_reader r;
    const auto got = read_all(r, in, step);
    REQUIRE(got.size() == 3);
    CHECK(got[0] == seen{"a", "1", ""});
    CHECK(got[1] == seen{"b", "2", ""});
    CHECK(got[2] == seen{"message", "3", ""});
  }
}

TEST_CASE("sse_reader joins data lines, keeps one space only, and follows the field rules",
          "[api][sse]") {
  api::sse_reader r;
  const auto got = read_all(r,
                            "data:one\ndata:  two\ndata\n\n"   // no space, two spaces, no colon
                            "event: x\n\n"                    // no data: nothing, type reset
                            "id: 7\ndata: after id\n\n"
                            "data: id carries over\nunknown: field\n\n"
                            "retry: soon\ndata: bad retry ignored\n\n");
  REQUIRE(got.size() == 4);
  CHECK(got[0] == seen{"message", "one\n two\n", ""});
  CHECK(got[1] == seen{"message", "after id", "7"});
  CHECK(got[2] == seen{"message", "id carries over", "7"});
  CHECK(got[3] == seen{"message", "bad retry ignored", "7"});
  CHECK_FALSE(r.retry_ms().has_value());
}

TEST_CASE("sse_reader skips a leading byte order mark, even split, and nothing else",
          "[api][sse]") {
  const std::string bom = "\xEF\xBB\xBF";
  for (std::size_t step : {0u, 1u, 2u}) {
    CAPTURE(step);
    api::sse_reader r;
    const auto got = read_all(r, bom + "data: x\n\n", step);
    REQUIRE(got.size() == 1);
    CHECK(got[0].data == "x");
  }
  // Bytes that only begin like one are the stream's own: "\xEF" then "data" is a field
  // named "\xEFdata", ignored, and the next event still reads.
  api::sse_reader r;
  const auto got = read_all(r, "\xEF" "data: x\n\ndata: y\n\n", 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].data == "y");
}

TEST_CASE("sse_reader refuses an event past its bound, and stays failed until reset",
          "[api][sse]") {
  api::sse_reader r(64);
  bool ok = true;
  auto got = read_all(r, "data: " + std::string(100, 'x') + "\n\n", 0, &ok);
  CHECK_FALSE(ok);
  CHECK(got.empty());
  CHECK(r.error() == "event larger than 64 bytes");
  got = read_all(r, "data: small\n\n", 0, &ok);
  CHECK_FALSE(ok);
  CHECK(got.empty());
  // Many data lines add up to the bound too, and a line without its end yet counts.
  r.reset();
  std::string many;
  for (int i = 0; i < 20; ++i) many += "data: 12345\n";
  read_all(r, many, 5, &ok);
  CHECK_FALSE(ok);
  r.reset();
  read_all(r, std::string(80, 'y'), 10, &ok);
  CHECK_FALSE(ok);
  r.reset();
  got = read_all(r, "data: small\n\n", 0, &ok);
  CHECK(ok);
  REQUIRE(got.size() == 1);
  CHECK(got[0].data == "small");
}
