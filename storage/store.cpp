// SPDX-License-Identifier: Apache-2.0
//
// Layout of the store, in brief:
// - Queue: a vector guarded by queue_mu_. The writer swaps the whole vector out per batch,
//   serialises it into one buffer and issues one write() (two when the batch crosses a
//   rotation).
// - Segments (`segments_`, oldest first, guarded by index_mu_, a shared_mutex): each one owns
//   its index: `lines` (offset and length of every line, 8 bytes) and `hashes` (a 64-bit hash
//   of each line's exchange id). When a segment is sealed (closed for writing) the writer adds
//   `by_hash`, the line numbers sorted by hash, so get() does one binary search per segment;
//   the one active segment is searched linearly, newest line first. A sealed segment's index
//   never changes again and is read without the lock. get() checks the id it reads back, so a
//   hash collision costs a pread, never a wrong answer. No id bytes are kept in memory.
// - The writer holds the lock exclusively only to append to the active segment's index after
//   a successful write, to add or seal a segment, and to drop segments for retention; readers
//   hold it shared only to copy what they need, and pread outside it. Read descriptors are
//   opened on demand (reader()) and cached for the 64 most recently read segments; a reader
//   holds a shared_ptr to the descriptor while it reads, so neither the cache nor retention
//   (which unlinks files) closes one under a pread. The active segment also has an
//   O_WRONLY|O_APPEND descriptor owned by the writer.
// - Keys (cursors) are (segment number << 32) | (line + 1), see store.h.
#include "storage/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

#include "storage/json.h"

namespace storage {

namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

struct line_loc {
  std::uint32_t offset;  // of the line in its segment
  std::uint32_t length;  // of the line without its '\n'
};

constexpr std::uint64_t max_segment_bytes = 1ull << 30;  // keeps offsets in 32 bits
constexpr std::uint64_t line_mask = 0xffffffffull;
// The writer hands the kernel a batch in pieces of about this size, so that write(2) copies
// lines that are still in the CPU cache, and the buffer stays this small however many
// exchanges the writer takes from the queue at once.
constexpr std::size_t write_chunk_bytes = 256u << 10;
// A queue this long is written at once, without waiting config::gather for more.
constexpr std::size_t gather_enough = 256;

// An O_RDONLY descriptor, closed when the last reader using it lets go.
struct file_handle {
  int fd;
  explicit file_handle(int f) : fd(f) {}
  ~file_handle() { ::close(fd); }
  file_handle(const file_handle&) = delete;
  file_handle& operator=(const file_handle&) = delete;
};
using handle_ptr = std::shared_ptr<const file_handle>;

struct segment : std::enable_shared_from_this<segment> {
  fs::path path;
  std::uint64_t number = 0;  // the <seq> of the file name

  // Read descriptor, opened on demand and cached (impl::reader(), under impl::fd_mu_).
  handle_ptr handle;
  std::uint64_t last_used = 0;

  // Index. While the segment is active the writer appends under index_mu_ (exclusive) and
  // readers copy under index_mu_ (shared); once `sealed` it never changes again.
  std::vector<line_loc> lines;
  std::vector<std::uint64_t> hashes;   // hashes[i]: id hash of line i
  std::vector<std::uint32_t> by_hash;  // sealed only: line numbers ordered by (hash, line)
  bool sealed = false;
  std::uint64_t bytes = 0;        // whole lines
  std::int64_t last_write_s = 0;  // unix time of the newest line (mtime at recovery)

  segment(fs::path p, std::uint64_t n) : path(std::move(p)), number(n) {}
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;

  std::uint64_t key(std::size_t line) const { return (number << 32) | (line + 1); }

  std::size_t index_bytes() const {
    return lines.capacity() * sizeof(line_loc) + hashes.capacity() * sizeof(std::uint64_t) +
           by_hash.capacity() * sizeof(std::uint32_t);
  }

  // Builds by_hash; called by the writer (or recovery) before the segment is shared as sealed.
  std::vector<std::uint32_t> sorted_by_hash() const {
    std::vector<std::uint32_t> order(hashes.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
    std::sort(order.begin(), order.end(), [this](std::uint32_t a, std::uint32_t b) {
      return hashes[a] != hashes[b] ? hashes[a] < hashes[b] : a < b;
    });
    return order;
  }
};

using segment_ptr = std::shared_ptr<segment>;

std::uint64_t id_hash(std::string_view id) {
  if (is_utf8(id)) return std::hash<std::string_view>{}(id);
  std::string valid;
  append_valid_utf8(id, valid);
  return std::hash<std::string_view>{}(valid);
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The "id" of one line, unescaped; the view lives in `parser` until its next iterate().
// `capacity` counts the readable bytes from `line`, at least size + SIMDJSON_PADDING.
std::optional<std::string_view> extract_id(simdjson::ondemand::parser& parser,
                                           std::string_view line, std::size_t capacity) {
  simdjson::ondemand::document doc;
  if (parser.iterate(simdjson::padded_string_view(line.data(), line.size(), capacity)).get(doc)) {
    return std::nullopt;
  }
  std::string_view id;
  if (doc.find_field("id").get_string().get(id)) return std::nullopt;
  return id;
}

bool read_all(int fd, char* p, std::size_t n, std::uint64_t offset) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
  return true;
}

// Parses the number out of "exchanges-HHMMSS-<number>.jsonl".
std::optional<std::uint64_t> segment_number(std::string_view name) {
  constexpr std::string_view prefix = "exchanges-";
  constexpr std::string_view suffix = ".jsonl";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix)) {
    return std::nullopt;
  }
  name.remove_suffix(suffix.size());
  const auto dash = name.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == name.size()) return std::nullopt;
  std::uint64_t n = 0;
  const char* first = name.data() + dash + 1;
  const char* last = name.data() + name.size();
  const auto r = std::from_chars(first, last, n);
  if (r.ec != std::errc{} || r.ptr != last) return std::nullopt;
  return n;
}

}  // namespace

std::optional<fsync_policy> parse_fsync_policy(std::string_view s) {
  if (s == "none") return fsync_policy::none;
  if (s == "interval") return fsync_policy::interval;
  if (s == "always") return fsync_policy::always;
  return std::nullopt;
}

struct store::impl {
  explicit impl(config c) : cfg_(std::move(c)), segments_dir_(cfg_.data_dir / "segments") {
    cfg_.segment_bytes = std::clamp<std::uint64_t>(cfg_.segment_bytes, 1, max_segment_bytes);
  }

  config cfg_;
  fs::path segments_dir_;

  // Queue and writer control, guarded by queue_mu_.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // wakes the writer
  std::condition_variable done_cv_;   // wakes flush()
  std::vector<record_ptr> queue_;
  std::uint64_t queued_bytes_ = 0;
  bool closed_ = false;  // submit() refuses
  bool stop_ = false;    // the writer drains and exits
  bool paused_ = false;  // test seam
  bool flush_requested_ = false;
  bool writer_done_ = false;
  std::uint64_t enqueued_ = 0;  // exchanges accepted, ever
  std::uint64_t synced_ = 0;    // exchanges written (or lost) and fsynced, ever

  std::mutex close_mu_;
  std::thread writer_;

  // The segments, oldest first, guarded by index_mu_.
  mutable std::shared_mutex index_mu_;
  std::deque<segment_ptr> segments_;

  // Read descriptors: at most max_open_readers segments keep one open, least recently used
  // closed first (a reader still using one keeps it until it is done).
  static constexpr std::size_t max_open_readers = 64;
  mutable std::mutex fd_mu_;
  mutable std::vector<std::weak_ptr<segment>> open_readers_;
  mutable std::uint64_t fd_clock_ = 0;

  // Writer-thread state (set up by the constructor before the thread starts).
  int write_fd_ = -1;
  segment_ptr active_;  // the segment write_fd_ appends to
  steady::time_point active_since_;
  std::uint64_t write_size_ = 0;  // bytes of whole lines in the active segment
  std::uint64_t next_segment_number_ = 1;
  bool dirty_ = false;  // written but not fsynced
  steady::time_point dirty_since_;
  std::string buf_;
  struct pending {
    std::size_t offset;  // in buf_
    std::uint32_t length;
    std::uint64_t hash;
  };
  std::vector<pending> pending_;

  std::atomic<unsigned> fail_writes_{0};
  std::atomic<bool> write_ok_{true};  // the last write_out() succeeded

  std::atomic<std::uint64_t> submitted_{0}, dropped_{0}, stored_{0}, bytes_written_{0},
      write_errors_{0}, segments_created_{0}, rotations_{0}, deleted_segments_{0},
      deleted_records_{0}, deleted_bytes_{0}, fsyncs_{0}, queue_depth_{0}, queue_bytes_{0},
      indexed_{0}, stored_bytes_{0}, live_segments_{0}, index_bytes_{0};

  void recover();
  void recover_segment(const fs::path& path, std::uint64_t number, simdjson::ondemand::parser& od,
                       simdjson::dom::parser& dom);
  void run();
  steady::time_point next_wake(steady::time_point now) const;
  void write_batch(std::vector<record_ptr>& batch);
  void write_out();
  bool write_all(const char* p, std::size_t n);
  bool open_segment();
  void close_segment();
  void sync();
  void add_lines();
  void enforce_retention();
  void update_gauges();  // index_mu_ held (either way)
  std::vector<segment_ptr> snapshot() const;
  handle_ptr reader(segment& seg) const;  // null if the file cannot be opened (deleted)
};

// ---- recovery ----

void store::impl::recover() {
  std::vector<std::pair<std::uint64_t, fs::path>> found;
  std::error_code ec;
  for (fs::directory_iterator day(segments_dir_, ec), end; !ec && day != end; day.increment(ec)) {
    std::error_code ec2;
    if (!day->is_directory(ec2)) continue;
    for (fs::directory_iterator f(day->path(), ec2); !ec2 && f != end; f.increment(ec2)) {
      std::error_code ec3;
      if (!f->is_regular_file(ec3)) continue;
      if (auto n = segment_number(f->path().filename().native())) {
        found.emplace_back(*n, f->path());
      }
    }
    if (ec2) {
      throw std::runtime_error(
          fmt::format("storage: cannot list {}: {}", day->path().native(), ec2.message()));
    }
  }
  if (ec) {
    throw std::runtime_error(
        fmt::format("storage: cannot list {}: {}", segments_dir_.native(), ec.message()));
  }
  std::sort(found.begin(), found.end());
  simdjson::ondemand::parser od;
  simdjson::dom::parser dom;
  for (const auto& [number, path] : found) {
    next_segment_number_ = std::max(next_segment_number_, number + 1);
    recover_segment(path, number, od, dom);
  }
  std::unique_lock lk(index_mu_);
  update_gauges();
}

void store::impl::recover_segment(const fs::path& path, std::uint64_t number,
                                  simdjson::ondemand::parser& od, simdjson::dom::parser& dom) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(
        fmt::format("storage: cannot open {}: {}", path.native(), std::strerror(err)));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);

  // Index every whole line; a tail without '\n', or a last line that is not JSON, is what a
  // crash mid-write leaves behind and is cut. The file is read in chunks, so start-up memory
  // does not grow with --segment-bytes (a line longer than a chunk grows the buffer).
  constexpr std::size_t chunk = 4u << 20;
  auto seg = std::make_shared<segment>(path, number);
  seg->last_write_s = st.st_mtim.tv_sec;
  std::string buf;         // file bytes [base, base + have), then padding
  std::uint64_t base = 0;  // file offset of buf[0]
  std::size_t have = 0;
  std::uint64_t good = 0;  // end of the last line we keep
  bool torn = false;
  while (!torn) {
    std::size_t pos = 0;
    while (pos < have) {
      const void* nl = std::memchr(buf.data() + pos, '\n', have - pos);
      if (nl == nullptr) break;
      const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
      const std::string_view line(buf.data() + pos, end - pos);
      if (base + end + 1 == size) {  // the last line must be whole JSON
        simdjson::dom::element ignored;
        if (dom.parse(line.data(), line.size(), false).get(ignored)) {
          torn = true;
          break;
        }
      }
      good = base + end + 1;
      // Lines in the middle that are not ours are skipped, not cut: what follows is good.
      const std::uint64_t at = base + pos;
      if (auto id = extract_id(od, line, buf.size() - pos);
          id && at <= line_mask && line.size() <= line_mask) {
        seg->lines.push_back(
            line_loc{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(line.size())});
        seg->hashes.push_back(std::hash<std::string_view>{}(*id));
      }
      pos = end + 1;
    }
    if (torn || base + have >= size) break;  // a tail without '\n' is left: torn
    // Keep the incomplete tail at the front and read the next chunk after it.
    buf.erase(0, pos);
    base += pos;
    have -= pos;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, size - base - have));
    buf.resize(have + n + simdjson::SIMDJSON_PADDING, '\0');
    if (!read_all(fd, buf.data() + have, n, base + have)) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(
          fmt::format("storage: cannot read {}: {}", path.native(), std::strerror(err)));
    }
    have += n;
  }
  if (good != size) {
    if (::ftruncate(fd, static_cast<off_t>(good)) != 0 || ::fsync(fd) != 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(fmt::format("storage: cannot cut the torn tail of {}: {}",
                                           path.native(), std::strerror(err)));
    }
  }
  ::close(fd);
  if (seg->lines.empty()) {
    // Nothing of ours: an empty file (a segment whose first write failed) is removed.
    if (good == 0) {
      std::error_code ec;
      fs::remove(path, ec);
    }
    return;
  }

  seg->bytes = good;
  seg->lines.shrink_to_fit();
  seg->hashes.shrink_to_fit();
  seg->by_hash = seg->sorted_by_hash();
  seg->sealed = true;
  segments_.push_back(std::move(seg));
}

// ---- writer thread ----

steady::time_point store::impl::next_wake(steady::time_point now) const {
  auto wake = steady::time_point::max();
  if (dirty_ && cfg_.fsync == fsync_policy::interval) {
    wake = dirty_since_ + std::chrono::milliseconds(std::max(cfg_.flush_interval_ms, 0));
  }
  // Age limits are checked once a second; they are in seconds at best.
  if (cfg_.retention_age.count() > 0 || (cfg_.segment_age.count() > 0 && active_)) {
    wake = std::min(wake, now + std::chrono::seconds(1));
  }
  return wake;
}

void store::impl::run() {
  std::vector<record_ptr> batch;
  std::uint64_t taken = 0;  // exchanges taken from the queue, ever
  const auto interval = std::chrono::milliseconds(std::max(cfg_.flush_interval_ms, 0));
  for (;;) {
    bool do_sync = false;
    bool stopping = false;
    {
      std::unique_lock lk(queue_mu_);
      const auto ready = [this] {
        return stop_ || (!paused_ && (!queue_.empty() || flush_requested_));
      };
      const auto wake = next_wake(steady::now());
      if (wake == steady::time_point::max()) {
        queue_cv_.wait(lk, ready);
      } else {
        queue_cv_.wait_until(lk, wake, ready);
      }
      if (cfg_.gather.count() > 0 && !queue_.empty() && queue_.size() < gather_enough &&
          !stop_ && !paused_ && !flush_requested_) {
        // submit() only notifies an empty queue, so this sleeps the whole time unless flush(),
        // close() or the pause seam wakes it.
        queue_cv_.wait_for(lk, cfg_.gather,
                           [this] { return stop_ || paused_ || flush_requested_; });
      }
      stopping = stop_;
      if (stopping || !paused_) {
        batch.swap(queue_);
        queue_depth_ = 0;
        queued_bytes_ = 0;
        queue_bytes_ = 0;
        do_sync = flush_requested_ || stopping;
        flush_requested_ = false;
      }
    }
    if (active_ && cfg_.segment_age.count() > 0 &&
        steady::now() - active_since_ >= cfg_.segment_age) {
      close_segment();
      rotations_.fetch_add(1, std::memory_order_relaxed);
    }
    if (!batch.empty()) {
      taken += batch.size();
      write_batch(batch);
      batch.clear();
    }
    if (dirty_ &&
        (do_sync || cfg_.fsync == fsync_policy::always ||
         (cfg_.fsync == fsync_policy::interval && steady::now() >= dirty_since_ + interval))) {
      sync();
    }
    if (stopping) close_segment();
    enforce_retention();
    std::lock_guard lk(queue_mu_);
    if (!dirty_ || cfg_.fsync == fsync_policy::none) synced_ = taken;
    if (stopping) writer_done_ = true;
    done_cv_.notify_all();
    if (stopping) return;
  }
}

void store::impl::write_batch(std::vector<record_ptr>& batch) {
  for (auto& r : batch) {
    const std::size_t start = buf_.size();
    record::append_json_line(r, buf_);
    const std::size_t length = buf_.size() - start - 1;
    if (length > line_mask) {
      // Cannot happen with capped bodies; an index entry could not address it.
      buf_.resize(start);
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    pending_.push_back(
        pending{start, static_cast<std::uint32_t>(length), id_hash(r->exchange().id)});
    r.reset();  // the other sinks may still hold it; this one is done with it
    if (write_size_ + buf_.size() >= cfg_.segment_bytes) {
      write_out();
      if (write_fd_ >= 0) {
        close_segment();  // the next line goes to a new segment
        rotations_.fetch_add(1, std::memory_order_relaxed);
      }
    } else if (buf_.size() >= write_chunk_bytes) {
      write_out();
    }
  }
  write_out();
}

bool store::impl::write_all(const char* p, std::size_t n) {
  if (fail_writes_.load(std::memory_order_relaxed) > 0) {
    fail_writes_.fetch_sub(1, std::memory_order_relaxed);
    const std::size_t half = n / 2;
    if (half > 0 && ::write(write_fd_, p, half) < 0) return false;
    errno = ENOSPC;
    return false;
  }
  while (n > 0) {
    const ssize_t w = ::write(write_fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

void store::impl::write_out() {
  if (pending_.empty()) return;
  if ((write_fd_ < 0 && !open_segment()) || !write_all(buf_.data(), buf_.size())) {
    // Cut any partial line so the segment stays whole lines; if even that fails, leave the
    // segment (recovery cuts its tail) and start a new one on the next write.
    if (write_fd_ >= 0 && ::ftruncate(write_fd_, static_cast<off_t>(write_size_)) != 0) {
      close_segment();
    }
    write_errors_.fetch_add(pending_.size(), std::memory_order_relaxed);
    write_ok_.store(false, std::memory_order_relaxed);
  } else {
    write_ok_.store(true, std::memory_order_relaxed);
    add_lines();
    stored_.fetch_add(pending_.size(), std::memory_order_relaxed);
    bytes_written_.fetch_add(buf_.size(), std::memory_order_relaxed);
    if (!dirty_) {
      dirty_ = true;
      dirty_since_ = steady::now();
    }
  }
  pending_.clear();
  buf_.clear();
}

void store::impl::add_lines() {
  const std::int64_t now = unix_now();
  std::unique_lock lk(index_mu_);
  segment& seg = *active_;
  for (const auto& p : pending_) {
    seg.lines.push_back(line_loc{static_cast<std::uint32_t>(write_size_ + p.offset), p.length});
    seg.hashes.push_back(p.hash);
  }
  write_size_ += buf_.size();
  seg.bytes = write_size_;
  seg.last_write_s = now;
  update_gauges();
}

void store::impl::update_gauges() {
  std::uint64_t lines = 0, bytes = 0, index = 0;
  for (const auto& s : segments_) {
    lines += s->lines.size();
    bytes += s->bytes;
    index += s->index_bytes();
  }
  indexed_.store(lines, std::memory_order_relaxed);
  stored_bytes_.store(bytes, std::memory_order_relaxed);
  live_segments_.store(segments_.size(), std::memory_order_relaxed);
  index_bytes_.store(index + segments_.size() * sizeof(segment), std::memory_order_relaxed);
}

bool store::impl::open_segment() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  const fs::path dir = segments_dir_ / fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900,
                                                   tm.tm_mon + 1, tm.tm_mday);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return false;
  const std::uint64_t number = next_segment_number_++;
  fs::path path = dir / fmt::format("exchanges-{:02}{:02}{:02}-{:08}.jsonl", tm.tm_hour, tm.tm_min,
                                    tm.tm_sec, number);
  const int wfd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (wfd < 0) return false;
  // The new name must survive a crash as well as the lines written to it.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  active_ = std::make_shared<segment>(std::move(path), number);
  active_->last_write_s = now;
  active_since_ = steady::now();
  {
    std::unique_lock lk(index_mu_);
    segments_.push_back(active_);
    update_gauges();
  }
  write_fd_ = wfd;
  write_size_ = 0;
  segments_created_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void store::impl::sync() {
  // A failed fsync is not retried: the lines are in the page cache and counted as stored.
  if (write_fd_ >= 0 && cfg_.fsync != fsync_policy::none) {
    ::fdatasync(write_fd_);
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
  }
  dirty_ = false;
}

void store::impl::close_segment() {
  if (write_fd_ < 0) return;
  if (cfg_.fsync == fsync_policy::none) {
    ::fdatasync(write_fd_);  // a closed segment is always on disk
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    dirty_ = false;
  } else {
    sync();
  }
  ::close(write_fd_);
  write_fd_ = -1;
  write_size_ = 0;  // the next line starts the next segment
  // Only the writer changes `hashes`, so it may read them without the lock.
  auto order = active_->sorted_by_hash();
  {
    std::unique_lock lk(index_mu_);
    active_->lines.shrink_to_fit();
    active_->hashes.shrink_to_fit();
    active_->by_hash = std::move(order);
    active_->sealed = true;
    // A segment that never got a line (its first write failed) is not worth keeping.
    if (active_->lines.empty()) {
      std::erase(segments_, active_);
      std::error_code ec;
      fs::remove(active_->path, ec);
    }
    update_gauges();
  }
  active_.reset();
  enforce_retention();
}

void store::impl::enforce_retention() {
  const bool by_bytes = cfg_.retention_bytes > 0;
  const bool by_age = cfg_.retention_age.count() > 0;
  if (!by_age &&
      (!by_bytes || stored_bytes_.load(std::memory_order_relaxed) <= cfg_.retention_bytes)) {
    return;
  }
  const std::int64_t cutoff = unix_now() - cfg_.retention_age.count();
  std::vector<segment_ptr> removed;
  {
    std::unique_lock lk(index_mu_);
    std::uint64_t total = 0;
    for (const auto& s : segments_) total += s->bytes;
    // Oldest first; the active segment is never deleted (it rotates by size and age).
    while (!segments_.empty() && segments_.front() != active_) {
      const segment& oldest = *segments_.front();
      const bool over = by_bytes && total > cfg_.retention_bytes;
      const bool old = by_age && oldest.last_write_s < cutoff;
      if (!over && !old) break;
      total -= oldest.bytes;
      removed.push_back(std::move(segments_.front()));
      segments_.pop_front();
    }
    if (removed.empty()) return;
    update_gauges();
  }
  // Readers that still hold a segment keep its descriptor; unlinking is safe under them.
  for (const auto& s : removed) {
    std::error_code ec;
    fs::remove(s->path, ec);
    fs::remove(s->path.parent_path(), ec);  // the day directory, once empty; fails otherwise
    deleted_segments_.fetch_add(1, std::memory_order_relaxed);
    deleted_records_.fetch_add(s->lines.size(), std::memory_order_relaxed);
    deleted_bytes_.fetch_add(s->bytes, std::memory_order_relaxed);
  }
}

// ---- readers ----

handle_ptr store::impl::reader(segment& seg) const {
  std::lock_guard lk(fd_mu_);
  seg.last_used = ++fd_clock_;
  if (seg.handle) return seg.handle;
  const int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  // Segments may be dropped by other threads meanwhile: look at the live ones only.
  std::vector<segment_ptr> live;
  live.reserve(open_readers_.size());
  for (const auto& w : open_readers_) {
    if (auto p = w.lock(); p && p.get() != &seg) live.push_back(std::move(p));
  }
  if (live.size() >= max_open_readers) {
    auto lru = std::min_element(live.begin(), live.end(), [](const auto& a, const auto& b) {
      return a->last_used < b->last_used;
    });
    (*lru)->handle.reset();
    live.erase(lru);
  }
  open_readers_.assign(live.begin(), live.end());
  seg.handle = std::make_shared<const file_handle>(fd);
  open_readers_.push_back(seg.shared_from_this());
  return seg.handle;
}

std::vector<segment_ptr> store::impl::snapshot() const {
  std::shared_lock lk(index_mu_);
  return {segments_.begin(), segments_.end()};
}

// ---- store ----

store::store(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {
  std::error_code ec;
  fs::create_directories(impl_->segments_dir_, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("storage: cannot create {}: {}", impl_->segments_dir_.native(), ec.message()));
  }
  if (::access(impl_->segments_dir_.c_str(), W_OK | X_OK) != 0) {
    throw std::runtime_error(fmt::format("storage: cannot write to {}: {}",
                                         impl_->segments_dir_.native(), std::strerror(errno)));
  }
  impl_->recover();
  impl_->enforce_retention();
  impl_->writer_ = std::thread([p = impl_.get()] { p->run(); });
}

store::~store() { close(); }

bool store::submit(record_ptr r) {
  const std::uint64_t bytes = r->approx_bytes();
  bool was_empty = false;
  {
    std::lock_guard lk(impl_->queue_mu_);
    if (impl_->closed_) return false;
    // One exchange larger than the byte cap is still taken into an empty queue.
    if (impl_->queue_.size() >= impl_->cfg_.queue_capacity ||
        (!impl_->queue_.empty() && impl_->queued_bytes_ + bytes > impl_->cfg_.queue_bytes)) {
      impl_->dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    was_empty = impl_->queue_.empty();
    impl_->queue_.push_back(std::move(r));
    impl_->queued_bytes_ += bytes;
    ++impl_->enqueued_;
    impl_->queue_depth_.store(impl_->queue_.size(), std::memory_order_relaxed);
    impl_->queue_bytes_.store(impl_->queued_bytes_, std::memory_order_relaxed);
  }
  impl_->submitted_.fetch_add(1, std::memory_order_relaxed);
  // The writer only sleeps on an empty queue, so only the push that ends emptiness needs to
  // wake it; later pushes join the batch it takes (one futex wake per batch, not per pair).
  if (was_empty) impl_->queue_cv_.notify_one();
  return true;
}

void store::close() {
  std::lock_guard close_lk(impl_->close_mu_);
  {
    std::lock_guard lk(impl_->queue_mu_);
    if (impl_->closed_) return;
    impl_->closed_ = true;
    impl_->stop_ = true;
  }
  impl_->queue_cv_.notify_one();
  if (impl_->writer_.joinable()) impl_->writer_.join();
}

void store::flush() {
  std::unique_lock lk(impl_->queue_mu_);
  const std::uint64_t target = impl_->enqueued_;
  impl_->flush_requested_ = true;
  impl_->queue_cv_.notify_one();
  impl_->done_cv_.wait(lk, [&] { return impl_->writer_done_ || impl_->synced_ >= target; });
}

query_result store::query(const storage::query& q) const {
  query_result r;
  if (q.limit == 0) return r;
  // Lines of one segment are contiguous on disk, so a run of them is read with one pread:
  // the `limit` newest without a matcher, up to chunk_bytes at a time with one.
  constexpr std::uint64_t chunk_bytes = 1u << 20;
  const std::uint64_t before = q.before.value_or(UINT64_MAX);
  const std::uint64_t before_segment = before >> 32;
  const std::size_t padding = q.match ? simdjson::SIMDJSON_PADDING : 0;
  const auto segs = impl_->snapshot();
  std::vector<line_loc> run;
  std::string buf;
  std::size_t last_line = 0;  // of the last record put in the page, in segs[last_segment]
  std::size_t last_segment = 0;
  for (std::size_t si = segs.size(); si-- > 0 && r.records.size() < q.limit;) {
    const segment& seg = *segs[si];
    if (seg.number > before_segment) continue;
    std::size_t hi = 0;  // lines [0, hi) are left to read in this segment
    {
      std::shared_lock lk(impl_->index_mu_);
      hi = seg.lines.size();
    }
    if (seg.number == before_segment) {
      hi = std::min<std::uint64_t>(hi, std::max<std::uint64_t>(before & line_mask, 1) - 1);
    }
    while (hi > 0 && r.records.size() < q.limit) {
      const std::size_t want = q.match ? SIZE_MAX : q.limit - r.records.size();
      std::size_t lo = hi;
      {
        std::shared_lock lk(impl_->index_mu_);
        std::uint64_t bytes = 0;
        while (lo > 0 && hi - lo < want &&
               (lo == hi || bytes + seg.lines[lo - 1].length + 1 <= chunk_bytes)) {
          --lo;
          bytes += seg.lines[lo].length + 1;
        }
        run.assign(seg.lines.begin() + static_cast<std::ptrdiff_t>(lo),
                   seg.lines.begin() + static_cast<std::ptrdiff_t>(hi));
      }
      const std::uint64_t start = run.front().offset;
      const std::uint64_t end = std::uint64_t{run.back().offset} + run.back().length;
      buf.assign(end - start + padding, '\0');
      const auto h = impl_->reader(*segs[si]);
      const bool ok = h && read_all(h->fd, buf.data(), end - start, start);
      for (std::size_t k = run.size(); k-- > 0;) {
        if (q.max_scanned != 0 && r.scanned == q.max_scanned) {
          r.capped = true;
          break;
        }
        ++r.scanned;
        // Lines that cannot be read back (the disk failed under us) are left out of the page.
        if (!ok) continue;
        const std::size_t at = run[k].offset - start;
        const std::string_view line(buf.data() + at, run[k].length);
        if (q.match && !q.match(line, buf.size() - at)) continue;
        r.records.emplace_back(line);
        r.keys.push_back(seg.key(lo + k));
        last_segment = si;
        last_line = lo + k;
        if (r.records.size() == q.limit) break;
      }
      if (r.capped) return r;
      hi = lo;
    }
  }
  // More may follow only if something older than the last record returned is left.
  if (r.records.size() == q.limit) {
    bool older = last_line > 0;
    for (std::size_t si = 0; si < last_segment && !older; ++si) {
      std::shared_lock lk(impl_->index_mu_);
      older = !segs[si]->lines.empty();
    }
    if (older) r.next = segs[last_segment]->key(last_line);
  }
  return r;
}

std::optional<std::string> store::get(std::string_view id) const {
  std::string valid;
  append_valid_utf8(id, valid);
  const std::uint64_t h = std::hash<std::string_view>{}(valid);
  // Compares a line number (by its hash) with a hash, both ways, for equal_range.
  struct by_hash_less {
    const std::vector<std::uint64_t>& hashes;
    bool operator()(std::uint32_t line, std::uint64_t hash) const { return hashes[line] < hash; }
    bool operator()(std::uint64_t hash, std::uint32_t line) const { return hash < hashes[line]; }
  };
  const auto segs = impl_->snapshot();
  simdjson::ondemand::parser parser;
  std::vector<line_loc> candidates;  // newest first
  std::string line;
  for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
    const segment& seg = **it;
    candidates.clear();
    handle_ptr file;
    {
      std::shared_lock lk(impl_->index_mu_);
      if (seg.sealed) {
        const auto [first, last] =
            std::equal_range(seg.by_hash.begin(), seg.by_hash.end(), h, by_hash_less{seg.hashes});
        for (auto l = last; l != first;) candidates.push_back(seg.lines[*--l]);
      } else {
        for (std::size_t i = seg.hashes.size(); i-- > 0;) {
          if (seg.hashes[i] == h) candidates.push_back(seg.lines[i]);
        }
      }
    }
    for (const auto& c : candidates) {
      if (!file && !(file = impl_->reader(**it))) break;
      line.assign(c.length + simdjson::SIMDJSON_PADDING, '\0');
      if (!read_all(file->fd, line.data(), c.length, c.offset)) continue;
      const auto found = extract_id(parser, std::string_view(line.data(), c.length), line.size());
      if (found && *found == valid) {
        line.resize(c.length);
        return line;
      }
    }
  }
  return std::nullopt;
}

counters store::stats() const {
  const impl& s = *impl_;
  const auto load = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  counters c;
  c.submitted = load(s.submitted_);
  c.dropped = load(s.dropped_);
  c.stored = load(s.stored_);
  c.bytes_written = load(s.bytes_written_);
  c.write_errors = load(s.write_errors_);
  c.segments = load(s.segments_created_);
  c.rotations = load(s.rotations_);
  c.deleted_segments = load(s.deleted_segments_);
  c.deleted_records = load(s.deleted_records_);
  c.deleted_bytes = load(s.deleted_bytes_);
  c.fsyncs = load(s.fsyncs_);
  c.queue_depth = load(s.queue_depth_);
  c.queue_bytes = load(s.queue_bytes_);
  c.indexed = load(s.indexed_);
  c.stored_bytes = load(s.stored_bytes_);
  c.live_segments = load(s.live_segments_);
  c.index_bytes = load(s.index_bytes_);
  return c;
}

const std::filesystem::path& store::segments_dir() const { return impl_->segments_dir_; }

bool store::writable() const {
  return impl_->write_ok_.load(std::memory_order_relaxed) &&
         ::access(impl_->segments_dir_.c_str(), W_OK | X_OK) == 0;
}

void store::testing_pause_writer(bool paused) {
  {
    std::lock_guard lk(impl_->queue_mu_);
    impl_->paused_ = paused;
  }
  impl_->queue_cv_.notify_one();
}

void store::testing_fail_writes(unsigned writes) {
  impl_->fail_writes_.store(writes, std::memory_order_relaxed);
}

}  // namespace storage
