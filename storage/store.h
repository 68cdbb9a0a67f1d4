// SPDX-License-Identifier: Apache-2.0
//
// The exchange store: a writer thread that turns exchanges into JSON Lines segments under
// `<data-dir>/segments/<UTC date>/exchanges-<UTC time>-<seq>.jsonl`, and an in-memory index
// of what is on disk that answers queries newest first.
//
// Threads: `submit()` is called from the loop thread and never blocks on disk; the writer
// thread serialises and writes; `query()`/`get()` may be called from any thread (the libuv
// thread pool) concurrently with writing.
//
// Index: per segment, 8 bytes per line (offset, length) and 8 bytes of id hash, plus 4 bytes per
// line once the segment is sealed (line numbers sorted by hash, for get()): about 20 bytes per
// stored record, no id bytes. With 1 KiB records that is ~20 MiB of memory per GiB on disk;
// `counters::index_bytes` reports the real figure. Read descriptors are opened on demand and at
// most 64 stay open (least recently used closed first), however many segments there are.
// Start-up reads each segment in 4 MiB chunks, one segment at a time, to rebuild the index.
//
// Cursors: a record's key is (segment number << 32) | (line number in the segment + 1). Segment
// numbers only grow and are in the file names, so a key, and any cursor, stays valid across
// restarts and while retention deletes older segments.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "correlate/types.h"
#include "storage/record.h"

namespace storage {

// When written lines are forced to the disk with fdatasync(2). A kill -9 loses nothing that
// write(2) returned for in any mode; fsync matters for power loss and kernel crashes.
enum class fsync_policy {
  none,      // only when a segment is closed
  interval,  // at most flush_interval_ms after a write (group commit)
  always,    // after every batch the writer takes from the queue
};

// "none" / "interval" / "always".
std::optional<fsync_policy> parse_fsync_policy(std::string_view s);

struct config {
  std::filesystem::path data_dir = "./data";
  std::size_t queue_capacity = 16384;             // exchanges waiting for the writer thread
  std::uint64_t queue_bytes = 64ull << 20;        // and their approximate heap bytes
  std::uint64_t segment_bytes = 64ull << 20;      // rotate a segment past this size (<= 1 GiB)
  std::chrono::seconds segment_age{3600};         // and once it is this old; 0: never
  std::uint64_t retention_bytes = 0;              // delete oldest segments past this; 0: keep
  std::chrono::seconds retention_age{0};          // delete segments older than this; 0: keep
  fsync_policy fsync = fsync_policy::interval;
  int flush_interval_ms = 1000;                   // for fsync_policy::interval
  // Woken for a short queue, the writer first waits this long for more exchanges, so that a
  // light stream is written in batches rather than one wake-up per pair (each costs both
  // threads a futex call and a context switch). flush() and close() cut the wait. 0: none.
  std::chrono::microseconds gather{1000};
};

// Counters; all monotonic except the gauges noted.
struct counters {
  std::uint64_t submitted = 0;      // accepted by submit()
  std::uint64_t dropped = 0;        // refused by submit() because the queue was full (count
                                    // or bytes)
  std::uint64_t stored = 0;         // lines written to a segment
  std::uint64_t bytes_written = 0;
  std::uint64_t write_errors = 0;   // exchanges lost to a failed write
  std::uint64_t segments = 0;       // segments created since start
  std::uint64_t rotations = 0;      // segments closed for size or age
  std::uint64_t deleted_segments = 0;  // removed by retention
  std::uint64_t deleted_records = 0;
  std::uint64_t deleted_bytes = 0;
  std::uint64_t fsyncs = 0;
  std::uint64_t queue_depth = 0;    // gauge
  std::uint64_t queue_bytes = 0;    // gauge
  std::uint64_t indexed = 0;        // gauge: records the index knows (recovered + new - deleted)
  std::uint64_t stored_bytes = 0;   // gauge: bytes in live segments
  std::uint64_t live_segments = 0;  // gauge
  std::uint64_t index_bytes = 0;    // gauge: memory held by the index
};

struct query {
  std::size_t limit = 100;                // 1..1000, the caller clamps
  std::optional<std::uint64_t> before;    // cursor: only records with a key < before
  // Optional predicate over one record: the line (no '\n') and the readable bytes at its
  // data(), at least size + simdjson::SIMDJSON_PADDING (storage::record_matcher fits). When
  // set, query() keeps reading older records until `limit` of them match or the data ends,
  // so a rare match may read the whole store; it is called on the querying thread only.
  std::function<bool(std::string_view line, std::size_t capacity)> match;
  // When not 0, reading stops once this many records were read (matched or not); the result
  // then says `capped`. GET /events/stats bounds its scan with it.
  std::uint64_t max_scanned = 0;
};

struct query_result {
  std::vector<std::string> records;       // JSON objects, no trailing newline, newest first
  // keys[i] is the cursor that continues right after records[i] (GET /events?scope=local
  // hands them to a fleet read, api/fleet.h).
  std::vector<std::uint64_t> keys;
  // Cursor for the following page (key of the last record returned), absent when nothing
  // older is left to look at. With `match`, a page may hold fewer than `limit` records only
  // when it is the last one.
  std::optional<std::uint64_t> next;
  std::uint64_t scanned = 0;              // records read to answer (>= records.size())
  // The read stopped at query::max_scanned with older records left unread. `next` is then
  // absent even though older records exist.
  bool capped = false;
};

class store {
 public:
  // Creates `data_dir/segments` if needed, rebuilds the index from the segments already there
  // (cutting a torn last line), and starts the writer thread.
  // Throws std::runtime_error with a readable message if the directory cannot be used.
  explicit store(config cfg);
  ~store();  // calls close()
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // Hands one exchange to the writer thread. Never blocks; returns false (and counts a drop)
  // when the queue is full (queue_capacity exchanges, or queue_bytes unless it is empty).
  // A shared record may be held by other sinks too: its JSON line is made once for all.
  bool submit(record_ptr r);
  bool submit(correlate::exchange&& x) { return submit(make_record(std::move(x))); }

  // Writes everything queued, fsyncs, stops the writer thread. Idempotent.
  void close();

  // Blocks until everything submitted before the call is written (and visible to query()).
  void flush();

  // Newest-first page of stored records. Thread-safe.
  query_result query(const storage::query& q) const;

  // The newest record with this exchange id, or nothing. Thread-safe.
  std::optional<std::string> get(std::string_view id) const;

  counters stats() const;

  // Readiness: false once the last write to a segment failed (until a later write succeeds)
  // or when the segments directory is no longer writable (one access(2) call). Thread-safe.
  bool writable() const;

  // Path of the segments directory.
  const std::filesystem::path& segments_dir() const;

  // Test seams, for test/storage only; nothing else may call them.
  //
  // While paused, the writer thread takes nothing from the queue, so submit() fills it and then
  // drops. Unpausing lets it drain. close() still drains a paused store; flush() blocks until
  // the writer is unpaused (do not flush a paused store from the thread that would unpause it).
  void testing_pause_writer(bool paused);
  // The next `writes` write() calls to a segment behave like a disk that fills up midway: about
  // half of the bytes reach the file, then the write fails with ENOSPC. The store must cut the
  // segment back to its last whole line and count every exchange of that write as lost.
  void testing_fail_writes(unsigned writes);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace storage
