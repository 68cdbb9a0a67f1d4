// SPDX-License-Identifier: Apache-2.0
//
// Segment lifecycle: rotation by age, retention by bytes and age, fsync policies, the byte cap
// of the queue, stable cursors across retention and restarts, and the index's memory.
#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"
#include "test/storage/test_util.h"

namespace fs = std::filesystem;
using storage_test::make_exchange;
using storage_test::segment_files;
using storage_test::temp_dir;

namespace {

storage::config small_config(const temp_dir& dir) {
  auto c = storage_test::config_for(dir);
  c.segment_bytes = 4000;  // a few records per segment
  return c;
}

correlate::exchange numbered(int i) { return make_exchange("x-" + std::to_string(i)); }

std::uint64_t bytes_on_disk(const fs::path& segments) {
  std::uint64_t n = 0;
  for (const auto& f : segment_files(segments)) n += fs::file_size(f);
  return n;
}

// The ids of every record, newest first, one page of `limit` at a time.
std::vector<std::string> all_ids(const storage::store& s, std::size_t limit = 7) {
  std::vector<std::string> ids;
  storage::query q;
  q.limit = limit;
  for (;;) {
    auto page = s.query(q);
    for (const auto& r : page.records) {
      const auto at = r.find("\"id\":\"") + 6;
      ids.push_back(r.substr(at, r.find('"', at) - at));
    }
    if (!page.next) break;
    q.before = page.next;
  }
  return ids;
}

void write(storage::store& s, int from, int to) {
  for (int i = from; i < to; ++i) {
    REQUIRE(s.submit(numbered(i)));
    s.flush();  // one line per batch, so rotation happens between records
  }
}

}  // namespace

TEST_CASE("retention by bytes deletes the oldest segments, files and index alike",
          "[storage][retention]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  cfg.retention_bytes = 12000;
  storage::store s(cfg);
  write(s, 0, 100);
  const auto st = s.stats();
  CHECK(st.stored == 100);
  CHECK(st.deleted_segments > 0);
  CHECK(st.deleted_records + st.indexed == 100);
  CHECK(st.live_segments == segment_files(s.segments_dir()).size());
  // Oldest go first; what is left is the newest records, contiguous, within the limit, and no
  // more was deleted than needed (less than one segment, of at most 4000 bytes plus a line).
  CHECK(st.stored_bytes == bytes_on_disk(s.segments_dir()));
  CHECK(st.stored_bytes <= cfg.retention_bytes);
  CHECK(st.stored_bytes + 6000 > cfg.retention_bytes);
  CHECK(st.stored_bytes + st.deleted_bytes == st.bytes_written);
  const auto ids = all_ids(s);
  REQUIRE(ids.size() == st.indexed);
  for (std::size_t i = 0; i < ids.size(); ++i) CHECK(ids[i] == "x-" + std::to_string(99 - i));
  CHECK(s.get("x-99"));
  CHECK_FALSE(s.get("x-0"));
}

TEST_CASE("a cursor stays valid while retention deletes older segments and across a restart",
          "[storage][retention]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  std::optional<std::uint64_t> cursor;
  {
    storage::store s(cfg);
    write(s, 0, 60);
    storage::query q;
    q.limit = 10;
    cursor = s.query(q).next;  // after x-50
    REQUIRE(cursor);
  }
  cfg.retention_bytes = 20000;  // the restart deletes the oldest segments at once
  storage::store s(cfg);
  const auto st = s.stats();
  CHECK(st.deleted_segments > 0);
  storage::query q;
  q.limit = 3;
  q.before = cursor;
  const auto page = s.query(q);
  REQUIRE(page.records.size() == 3);
  CHECK(page.records[0].find("\"id\":\"x-49\"") != std::string::npos);
  CHECK(page.records[2].find("\"id\":\"x-47\"") != std::string::npos);
  // New records continue after the old ones, in a new segment.
  write(s, 60, 61);
  CHECK(all_ids(s).front() == "x-60");
}

TEST_CASE("retention by age deletes segments whose newest line is older than the limit",
          "[storage][retention]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  {
    storage::store s(cfg);
    write(s, 0, 30);
  }
  const auto files = segment_files(cfg.data_dir / "segments");
  REQUIRE(files.size() > 3);
  // Age the oldest two segments by two hours.
  const auto two_hours_ago = std::chrono::system_clock::now() - std::chrono::hours(2);
  const timespec ts{std::chrono::system_clock::to_time_t(two_hours_ago), 0};
  const timespec times[2] = {ts, ts};
  for (std::size_t i = 0; i < 2; ++i)
    REQUIRE(::utimensat(AT_FDCWD, files[i].c_str(), times, 0) == 0);

  cfg.retention_age = std::chrono::hours(1);
  storage::store s(cfg);
  CHECK(s.stats().deleted_segments == 2);
  CHECK_FALSE(fs::exists(files[0]));
  CHECK_FALSE(fs::exists(files[1]));
  CHECK(fs::exists(files[2]));
  CHECK(all_ids(s).back() != "x-0");
}

TEST_CASE("a segment older than segment_age is rotated at the next write", "[storage]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  cfg.segment_bytes = 1 << 20;
  cfg.segment_age = std::chrono::seconds(1);
  storage::store s(cfg);
  write(s, 0, 2);
  CHECK(s.stats().segments == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  write(s, 2, 3);
  const auto st = s.stats();
  CHECK(st.segments == 2);
  CHECK(st.rotations == 1);
  CHECK(all_ids(s) == std::vector<std::string>{"x-2", "x-1", "x-0"});
}

TEST_CASE("fsync policies", "[storage]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  cfg.segment_bytes = 1 << 20;
  SECTION("always: one fdatasync per batch") {
    cfg.fsync = storage::fsync_policy::always;
    cfg.flush_interval_ms = 60'000;  // would never come
    storage::store s(cfg);
    for (int i = 0; i < 5; ++i) {
      REQUIRE(s.submit(numbered(i)));
      s.flush();
    }
    CHECK(s.stats().fsyncs == 5);
  }
  SECTION("none: only when the segment is closed") {
    cfg.fsync = storage::fsync_policy::none;
    storage::store s(cfg);
    write(s, 0, 5);
    CHECK(s.stats().fsyncs == 0);
    CHECK(s.stats().stored == 5);
    s.close();
    CHECK(s.stats().fsyncs == 1);
  }
  SECTION("interval: batches within the interval share one fdatasync") {
    cfg.flush_interval_ms = 200;
    storage::store s(cfg);
    for (int i = 0; i < 5; ++i) REQUIRE(s.submit(numbered(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(s.stats().fsyncs == 1);
    CHECK(s.stats().stored == 5);
  }
  CHECK(storage::parse_fsync_policy("always") == storage::fsync_policy::always);
  CHECK(storage::parse_fsync_policy("none") == storage::fsync_policy::none);
  CHECK(storage::parse_fsync_policy("interval") == storage::fsync_policy::interval);
  CHECK_FALSE(storage::parse_fsync_policy("sometimes"));
}

TEST_CASE("the queue's byte cap drops and counts, but always takes one", "[storage]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  const std::size_t one = numbered(0).approx_bytes();
  cfg.queue_bytes = one * 3 + one / 2;
  SECTION("three and a half exchanges' worth") {
    storage::store s(cfg);
    s.testing_pause_writer(true);
    int accepted = 0;
    for (int i = 0; i < 10; ++i) accepted += s.submit(numbered(i)) ? 1 : 0;
    CHECK(accepted == 3);
    CHECK(s.stats().dropped == 7);
    CHECK(s.stats().queue_bytes == 3 * one);
    s.testing_pause_writer(false);
    s.flush();
    CHECK(s.stats().queue_bytes == 0);
    CHECK(s.stats().stored == 3);
  }
  SECTION("an exchange larger than the cap still goes into an empty queue") {
    cfg.queue_bytes = 1;
    storage::store s(cfg);
    s.testing_pause_writer(true);
    CHECK(s.submit(numbered(0)));
    CHECK_FALSE(s.submit(numbered(1)));
    s.testing_pause_writer(false);
    s.flush();
    CHECK(s.stats().stored == 1);
  }
}

TEST_CASE("get() finds ids in sealed and active segments, newest first", "[storage]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  storage::store s(cfg);
  for (int round = 0; round < 3; ++round) {
    auto x = make_exchange("dup");
    x.response->status = 200 + round;
    REQUIRE(s.submit(std::move(x)));
    s.flush();
    write(s, round * 20, round * 20 + 20);  // pushes "dup" into a sealed segment
  }
  CHECK(s.stats().segments > 3);
  const auto dup = s.get("dup");
  REQUIRE(dup);
  CHECK(dup->find("\"status\":202") != std::string::npos);
  for (int i = 0; i < 60; ++i) CHECK(s.get("x-" + std::to_string(i)));
}

TEST_CASE("the index costs about 20 bytes per record", "[storage]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  cfg.segment_bytes = 64 << 10;
  storage::store s(cfg);
  for (int i = 0; i < 5000; ++i) REQUIRE(s.submit(numbered(i)));
  s.close();
  const auto st = s.stats();
  REQUIRE(st.indexed == 5000);
  // 8 (location) + 8 (hash) + 4 (sorted by hash) per record, plus a little per segment and
  // the slack of the active segment's vectors.
  CHECK(st.index_bytes < st.indexed * 24 + st.live_segments * 512);
  CHECK(st.index_bytes >= st.indexed * 20);
}

TEST_CASE("after a size rotation the next segment starts empty and fills up", "[storage]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  storage::store s(cfg);
  // One batch: the writer rotates inside it, several times.
  s.testing_pause_writer(true);
  for (int i = 0; i < 60; ++i) REQUIRE(s.submit(numbered(i)));
  s.testing_pause_writer(false);
  s.flush();
  const auto files = segment_files(s.segments_dir());
  REQUIRE(files.size() > 3);
  // Every segment but the newest was closed because it reached the size: none is a stub.
  for (std::size_t i = 0; i + 1 < files.size(); ++i) {
    INFO(files[i]);
    CHECK(fs::file_size(files[i]) >= cfg.segment_bytes);
  }
  // (The newest was rotated too when the batch's last line happened to cross the size.)
  const auto rotations = s.stats().rotations;
  CHECK((rotations == files.size() - 1 || rotations == files.size()));
}

namespace {

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

TEST_CASE("many segments: read descriptors are opened on demand and capped", "[storage]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  cfg.segment_bytes = 4096;  // a few records each
  const std::size_t before = open_descriptors();
  {
    storage::store s(cfg);
    s.testing_pause_writer(true);
    for (int i = 0; i < 600; ++i) REQUIRE(s.submit(numbered(i)));
    s.testing_pause_writer(false);
    s.flush();
  }
  storage::store s(cfg);                  // recovery opens no descriptor per segment
  REQUIRE(s.stats().live_segments > 80);  // more than the 64 descriptors kept
  CHECK(open_descriptors() <= before + 4);
  for (int i = 0; i < 600; i += 7) CHECK(s.get("x-" + std::to_string(i)));
  const auto ids = all_ids(s, 50);
  REQUIRE(ids.size() == 600);
  CHECK(ids.front() == "x-599");
  CHECK(ids.back() == "x-0");
  // Every segment was read, yet at most 64 keep a descriptor (plus the writer's, the
  // directory listing of this check and the writer thread's).
  CHECK(open_descriptors() <= before + 64 + 4);
}

TEST_CASE("recovery reads big segments in chunks: lines across chunk edges and a torn tail",
          "[storage]") {
  temp_dir dir;
  auto cfg = small_config(dir);
  cfg.segment_bytes = 64 << 20;
  int n = 0;
  {
    storage::store s(cfg);
    // ~10 MiB: lines cross the 4 MiB chunk edges; bodies of varied sizes move the edges.
    while (s.stats().bytes_written < (10u << 20)) {
      for (int k = 0; k < 200; ++k, ++n) {
        auto x = numbered(n);
        x.request->body.data.assign(static_cast<std::size_t>(100 + (n * 37) % 3000), 'b');
        x.request->body.captured = true;
        REQUIRE(s.submit(std::move(x)));
      }
      s.flush();
    }
  }
  const auto files = segment_files(cfg.data_dir / "segments");
  REQUIRE(files.size() == 1);
  const auto whole = fs::file_size(files[0]);
  std::ofstream(files[0], std::ios::binary | std::ios::app) << R"({"id":"torn","sou)";
  storage::store s(cfg);
  CHECK(fs::file_size(files[0]) == whole);
  CHECK(s.stats().indexed == static_cast<std::uint64_t>(n));
  for (int i = 0; i < n; i += 97) CHECK(s.get("x-" + std::to_string(i)));
  CHECK(s.get("x-" + std::to_string(n - 1)));
  CHECK_FALSE(s.get("torn"));
}
