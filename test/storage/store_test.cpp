// SPDX-License-Identifier: Apache-2.0
#include "storage/store.h"

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/storage/test_util.h"

namespace fs = std::filesystem;
using storage_test::config_for;
using storage_test::make_exchange;
using storage_test::segment_files;
using storage_test::temp_dir;

namespace {

// The exchange numbered `i`: id "x-<i>", and the number again as the response status so a
// duplicate id can be told apart.
correlate::exchange numbered(int i, const std::string& id = "") {
  auto x = make_exchange(id.empty() ? "x-" + std::to_string(i) : id);
  x.response->status = i;
  return x;
}

std::string id_of(const std::string& record) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  REQUIRE(parser.parse(record).get(e) == simdjson::SUCCESS);
  std::string_view id;
  REQUIRE(e["id"].get_string().get(id) == simdjson::SUCCESS);
  return std::string(id);
}

std::int64_t status_of(const std::string& record) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  REQUIRE(parser.parse(record).get(e) == simdjson::SUCCESS);
  std::int64_t status = 0;
  REQUIRE(e["response"]["status"].get_int64().get(status) == simdjson::SUCCESS);
  return status;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every record, newest first, paging with `limit`.
std::vector<std::string> all_ids(const storage::store& s, std::size_t limit = 1000) {
  std::vector<std::string> ids;
  storage::query q;
  q.limit = limit;
  for (;;) {
    auto page = s.query(q);
    for (const auto& r : page.records) ids.push_back(id_of(r));
    if (!page.next) break;
    q.before = page.next;
  }
  return ids;
}

std::vector<std::string> expected_ids(int from, int to_exclusive) {
  std::vector<std::string> ids;
  for (int i = to_exclusive - 1; i >= from; --i) ids.push_back("x-" + std::to_string(i));
  return ids;
}

}  // namespace

TEST_CASE("submit, flush, query newest first", "[storage]") {
  temp_dir dir;
  storage::store s(config_for(dir));
  CHECK(fs::is_directory(s.segments_dir()));
  CHECK(s.query({}).records.empty());
  CHECK_FALSE(s.query({}).next);

  for (int i = 0; i < 10; ++i) REQUIRE(s.submit(numbered(i)));
  s.flush();
  const auto st = s.stats();
  CHECK(st.submitted == 10);
  CHECK(st.stored == 10);
  CHECK(st.indexed == 10);
  CHECK(st.dropped == 0);
  CHECK(st.write_errors == 0);
  CHECK(st.segments == 1);
  CHECK(st.queue_depth == 0);

  storage::query q;
  q.limit = 4;
  auto page = s.query(q);
  REQUIRE(page.records.size() == 4);
  CHECK(id_of(page.records[0]) == "x-9");
  CHECK(id_of(page.records[3]) == "x-6");
  for (const auto& r : page.records) CHECK(r.find('\n') == std::string::npos);
  REQUIRE(page.next);
  CHECK(all_ids(s, 3) == expected_ids(0, 10));

  // The bytes on disk are the records, one per line.
  const auto files = segment_files(s.segments_dir());
  REQUIRE(files.size() == 1);
  const std::string text = slurp(files[0]);
  CHECK(st.bytes_written == text.size());
  CHECK(std::count(text.begin(), text.end(), '\n') == 10);
  CHECK(files[0].filename().string().starts_with("exchanges-"));
  CHECK(files[0].extension() == ".jsonl");
}

TEST_CASE("paging while new records arrive has no duplicates and no gaps", "[storage]") {
  temp_dir dir;
  storage::store s(config_for(dir));
  for (int i = 0; i < 50; ++i) REQUIRE(s.submit(numbered(i)));
  s.flush();

  std::vector<std::string> seen;
  storage::query q;
  q.limit = 7;
  int next_new = 50;
  for (;;) {
    auto page = s.query(q);
    for (const auto& r : page.records) seen.push_back(id_of(r));
    // Three newer records land between every two pages.
    for (int k = 0; k < 3; ++k) REQUIRE(s.submit(numbered(next_new++)));
    s.flush();
    if (!page.next) break;
    q.before = page.next;
  }
  CHECK(seen == expected_ids(0, 50));
  CHECK(all_ids(s).size() == static_cast<std::size_t>(next_new));
}

TEST_CASE("a cursor past the end or at the start", "[storage]") {
  temp_dir dir;
  storage::store s(config_for(dir));
  for (int i = 0; i < 5; ++i) REQUIRE(s.submit(numbered(i)));
  s.flush();
  storage::query q;
  q.before = std::numeric_limits<std::uint64_t>::max();
  CHECK(s.query(q).records.size() == 5);
  q.before = 1;
  auto page = s.query(q);
  CHECK(page.records.empty());
  CHECK_FALSE(page.next);
  q.before = 0;
  CHECK(s.query(q).records.empty());
  q.limit = 5;
  q.before.reset();
  CHECK_FALSE(s.query(q).next);  // exactly one full page: nothing remains
}

TEST_CASE("get(id) returns the newest record with that id", "[storage]") {
  temp_dir dir;
  storage::store s(config_for(dir));
  REQUIRE(s.submit(numbered(200, "dup")));
  REQUIRE(s.submit(numbered(1)));
  s.flush();
  REQUIRE(s.submit(numbered(500, "dup")));
  REQUIRE(s.submit(numbered(2)));
  REQUIRE(s.submit(numbered(7, "bad-\xFF-id")));
  s.flush();

  auto dup = s.get("dup");
  REQUIRE(dup);
  CHECK(status_of(*dup) == 500);
  CHECK(dup->find('\n') == std::string::npos);
  auto one = s.get("x-1");
  REQUIRE(one);
  CHECK(status_of(*one) == 1);
  CHECK_FALSE(s.get("nope"));
  CHECK_FALSE(s.get(""));
  // The id was stored with U+FFFD in place of the bad byte; both spellings find it.
  CHECK(s.get("bad-\xFF-id"));
  CHECK(s.get("bad-\xEF\xBF\xBD-id"));
}

TEST_CASE("rotation spreads records over several segments and queries span them", "[storage]") {
  temp_dir dir;
  auto cfg = config_for(dir);
  cfg.segment_bytes = 4000;
  storage::store s(cfg);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(s.submit(numbered(i)));
    if (i % 10 == 9) s.flush();
  }
  s.flush();
  const auto st = s.stats();
  CHECK(st.stored == 100);
  CHECK(st.segments > 5);
  const auto files = segment_files(s.segments_dir());
  CHECK(files.size() == st.segments);
  for (const auto& f : files) {
    const std::string text = slurp(f);
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    // Only the line that crossed the limit may go past it.
    CHECK(text.size() < cfg.segment_bytes + 1000);
  }
  CHECK(all_ids(s, 9) == expected_ids(0, 100));
  CHECK(s.get("x-0"));
  CHECK(s.get("x-99"));
}

TEST_CASE("restart: the index is rebuilt and a torn last line is cut", "[storage]") {
  temp_dir dir;
  auto cfg = config_for(dir);
  cfg.segment_bytes = 5000;
  fs::path newest;
  {
    storage::store s(cfg);
    for (int i = 0; i < 30; ++i) REQUIRE(s.submit(numbered(i, i == 29 ? "dup" : "")));
    REQUIRE(s.submit(numbered(1000, "dup")));
    s.close();
    s.close();  // idempotent
    CHECK_FALSE(s.submit(numbered(99)));
    CHECK(s.stats().stored == 31);
    newest = segment_files(s.segments_dir()).back();
  }
  const std::string before = slurp(newest);
  SECTION("a half line without newline") {
    std::ofstream(newest, std::ios::binary | std::ios::app) << R"({"id":"torn","source":"sp)";
  }
  SECTION("a whole line that is not JSON") {
    std::ofstream(newest, std::ios::binary | std::ios::app) << R"({"id":"torn","sou)" << '\n';
  }
  std::size_t files_before = 0;
  {
    storage::store s(cfg);
    CHECK(slurp(newest) == before);
    const auto st = s.stats();
    CHECK(st.indexed == 31);
    CHECK(st.segments == 0);
    auto ids = all_ids(s, 4);
    REQUIRE(ids.size() == 31);
    CHECK(ids[0] == "dup");  // status 1000
    CHECK(ids[1] == "dup");  // status 29
    CHECK(std::vector<std::string>(ids.begin() + 2, ids.end()) == expected_ids(0, 29));
    CHECK(status_of(*s.get("dup")) == 1000);
    CHECK_FALSE(s.get("torn"));
    files_before = segment_files(s.segments_dir()).size();

    // New writes go to a new segment and continue the order.
    REQUIRE(s.submit(numbered(31)));
    s.flush();
    CHECK(s.stats().segments == 1);
    CHECK(segment_files(s.segments_dir()).size() == files_before + 1);
    CHECK(slurp(newest) == before);
    CHECK(all_ids(s).front() == "x-31");
  }
  {
    storage::store s(cfg);
    CHECK(s.stats().indexed == 32);
    auto ids = all_ids(s, 5);
    CHECK(ids.front() == "x-31");
    CHECK(ids[1] == "dup");
    CHECK(ids.back() == "x-0");
  }
}

TEST_CASE("a full queue drops and counts", "[storage]") {
  temp_dir dir;
  auto cfg = config_for(dir);
  cfg.queue_capacity = 4;
  storage::store s(cfg);
  s.testing_pause_writer(true);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += s.submit(numbered(i)) ? 1 : 0;
  CHECK(accepted == 4);
  auto st = s.stats();
  CHECK(st.submitted == 4);
  CHECK(st.dropped == 6);
  CHECK(st.queue_depth == 4);
  CHECK(st.stored == 0);
  s.testing_pause_writer(false);
  s.flush();
  st = s.stats();
  CHECK(st.stored == 4);
  CHECK(st.queue_depth == 0);
  CHECK(all_ids(s) == expected_ids(0, 4));
}

TEST_CASE("close drains a paused writer", "[storage]") {
  temp_dir dir;
  auto cfg = config_for(dir);
  {
    storage::store s(cfg);
    s.testing_pause_writer(true);
    for (int i = 0; i < 3; ++i) REQUIRE(s.submit(numbered(i)));
    s.close();
    CHECK(s.stats().stored == 3);
    s.flush();  // returns at once on a closed store
  }
  storage::store s(cfg);
  CHECK(all_ids(s) == expected_ids(0, 3));
}

TEST_CASE("a failed write loses that batch only and leaves whole lines", "[storage]") {
  temp_dir dir;
  auto cfg = config_for(dir);
  {
    storage::store s(cfg);
    for (int i = 0; i < 2; ++i) REQUIRE(s.submit(numbered(i)));
    s.flush();
    // Paused, so the five land in one batch, hence one write() that fails.
    s.testing_pause_writer(true);
    s.testing_fail_writes(1);
    for (int i = 2; i < 7; ++i) REQUIRE(s.submit(numbered(i)));
    s.testing_pause_writer(false);
    s.flush();
    auto st = s.stats();
    CHECK(st.write_errors == 5);
    CHECK(st.stored == 2);
    CHECK(st.indexed == 2);
    // The writer is still alive: the next batch lands.
    for (int i = 7; i < 10; ++i) REQUIRE(s.submit(numbered(i)));
    s.flush();
    st = s.stats();
    CHECK(st.stored == 5);
    CHECK(st.write_errors == 5);
    CHECK(st.segments == 1);
    const std::vector<std::string> expected = {"x-9", "x-8", "x-7", "x-1", "x-0"};
    CHECK(all_ids(s, 2) == expected);

    // The segment holds exactly the five good lines, each valid JSON.
    const auto files = segment_files(s.segments_dir());
    REQUIRE(files.size() == 1);
    const std::string text = slurp(files[0]);
    CHECK(std::count(text.begin(), text.end(), '\n') == 5);
    CHECK(text.size() == st.bytes_written);
    simdjson::dom::parser parser;
    simdjson::dom::document_stream docs;
    REQUIRE(parser.parse_many(text).get(docs) == simdjson::SUCCESS);
    std::size_t n = 0;
    for (auto doc : docs) {
      CHECK(doc.error() == simdjson::SUCCESS);
      ++n;
    }
    CHECK(n == 5);
  }
  storage::store s(cfg);
  CHECK(s.stats().indexed == 5);
}

TEST_CASE("a big batch is written in pieces: a failed write loses its piece only",
          "[storage]") {
  // 200 exchanges of ~8 KiB taken in one batch are ~1.6 MiB: the writer hands them to the
  // kernel about 256 KiB at a time, so one failed write() costs a few dozen, not all 200.
  temp_dir dir;
  auto cfg = config_for(dir);
  storage::store s(cfg);
  s.testing_pause_writer(true);
  s.testing_fail_writes(1);
  constexpr int n = 200;
  for (int i = 0; i < n; ++i) {
    auto x = numbered(i);
    x.response->body.data.assign(8 * 1024, 'b');
    REQUIRE(s.submit(std::move(x)));
  }
  s.testing_pause_writer(false);
  s.flush();
  const auto st = s.stats();
  CHECK(st.write_errors > 0);
  CHECK(st.write_errors < 64);  // one piece of ~256 KiB holds ~31 of these
  CHECK(st.stored + st.write_errors == n);
  // The lost piece is the first one; every later exchange is stored, in order, whole.
  const auto ids = all_ids(s);
  REQUIRE(ids.size() == st.stored);
  CHECK(ids == expected_ids(static_cast<int>(st.write_errors), n));
  const auto files = segment_files(s.segments_dir());
  REQUIRE(files.size() == 1);
  const std::string text = slurp(files[0]);
  CHECK(static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n')) == st.stored);
}

TEST_CASE("the writer gathers a short queue, and flush() and close() cut the wait", "[storage]") {
  using clock = std::chrono::steady_clock;
  temp_dir dir;
  auto cfg = config_for(dir);
  cfg.gather = std::chrono::seconds(10);  // far longer than anything below may take
  const auto start = clock::now();
  {
    storage::store s(cfg);
    for (int i = 0; i < 3; ++i) REQUIRE(s.submit(numbered(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(s.stats().stored == 0);  // woken by the first, still waiting for company
    s.flush();
    CHECK(s.stats().stored == 3);
    REQUIRE(s.submit(numbered(3)));
  }  // close() writes the last one without waiting either
  CHECK(clock::now() - start < std::chrono::seconds(5));
  storage::store s(cfg);
  CHECK(all_ids(s) == expected_ids(0, 4));
}

TEST_CASE("readers run concurrently with the writer", "[storage]") {
  temp_dir dir;
  auto cfg = config_for(dir);
  cfg.segment_bytes = 20000;
  storage::store s(cfg);
  std::atomic<bool> done{false};
  std::atomic<std::size_t> pages{0};
  std::thread reader([&] {
    while (!done.load()) {
      storage::query q;
      q.limit = 10;
      auto page = s.query(q);
      // Newest first, consecutive: x-N, x-(N-1), ...
      for (std::size_t i = 1; i < page.records.size(); ++i) {
        const int a = std::stoi(id_of(page.records[i - 1]).substr(2));
        const int b = std::stoi(id_of(page.records[i]).substr(2));
        if (a != b + 1) FAIL("out of order: " << a << " then " << b);
      }
      (void)s.get("x-1");
      pages.fetch_add(1);
    }
  });
  for (int i = 0; i < 2000; ++i) {
    while (!s.submit(numbered(i))) std::this_thread::yield();
  }
  s.flush();
  done = true;
  reader.join();
  CHECK(pages.load() > 0);
  CHECK(s.stats().stored == 2000);
  CHECK(all_ids(s, 1000) == expected_ids(0, 2000));
}

TEST_CASE("an unusable data directory throws", "[storage]") {
  temp_dir dir;
  std::ofstream(dir.path() / "file") << "x";
  storage::config cfg;
  cfg.data_dir = dir.path() / "file";
  CHECK_THROWS_AS(storage::store(cfg), std::runtime_error);
}
