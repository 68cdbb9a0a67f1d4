// SPDX-License-Identifier: Apache-2.0
//
// storage::record: the exchange the sinks share, whose JSON line is made once.
#include "storage/record.h"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/json.h"
#include "test/storage/test_util.h"

using storage_test::make_exchange;

namespace {

std::string line_of(const correlate::exchange& x) {
  std::string s;
  storage::append_json_line(x, s);
  return s;
}

bool inside(std::string_view view, const std::string& buf) {
  return view.data() >= buf.data() && view.data() < buf.data() + buf.size();
}

}  // namespace

TEST_CASE("record: the JSON line is append_json_line's, made once and kept", "[storage]") {
  auto x = make_exchange("rec-1");
  const auto expected = line_of(x);
  const auto r = storage::make_record(std::move(x));
  CHECK(r->exchange().id == "rec-1");
  CHECK(r->approx_bytes() == r->exchange().approx_bytes());
  const auto a = r->json_line();
  const auto b = r->json_line();
  CHECK(a == expected);
  CHECK(a.data() == b.data());  // the same bytes, not made again
}

TEST_CASE("record: a sole owner makes the line in its own buffer, a sharer uses the cache",
          "[storage]") {
  const auto expected = line_of(make_exchange("rec-2"));

  SECTION("alone: written into the caller's buffer, nothing cached") {
    auto r = storage::make_record(make_exchange("rec-2"));
    std::string scratch;
    const auto v = storage::record::json_line(r, scratch);
    CHECK(v == expected);
    CHECK(inside(v, scratch));
    std::string out = "prefix:";
    storage::record::append_json_line(r, out);
    CHECK(out == "prefix:" + expected);
  }
  SECTION("shared: made once in the record, and both holders see the same bytes") {
    auto r = storage::make_record(make_exchange("rec-2"));
    const auto other = r;  // the other sink's reference
    std::string scratch;
    const auto v = storage::record::json_line(r, scratch);
    CHECK(v == expected);
    CHECK_FALSE(inside(v, scratch));
    CHECK(v.data() == other->json_line().data());
    std::string out;
    storage::record::append_json_line(other, out);
    CHECK(out == expected);
  }
  SECTION("made already: even a sole owner takes the cached line") {
    auto r = storage::make_record(make_exchange("rec-2"));
    const auto cached = r->json_line();
    std::string scratch;
    CHECK(storage::record::json_line(r, scratch).data() == cached.data());
  }
}

TEST_CASE("record: threads asking at once all get the one line", "[storage]") {
  auto x = make_exchange("rec-3");
  x.request->body.data.assign(64 * 1024, 'b');  // long enough for the threads to overlap
  const auto expected = line_of(x);
  for (int round = 0; round < 20; ++round) {
    const auto r = storage::make_record(correlate::exchange(x));
    std::vector<std::string_view> seen(4);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < seen.size(); ++t) {
      threads.emplace_back([&r, &seen, t] { seen[t] = r->json_line(); });
    }
    for (auto& t : threads) t.join();
    for (const auto& v : seen) {
      CHECK(v.data() == seen[0].data());
      CHECK(v == expected);
    }
  }
}
