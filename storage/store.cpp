// SPDX-License-Identifier: Apache-2.0
//
// Layout of the store, in brief:
// - Queue: a vector guarded by queue_mu_. The writer swaps the whole vector out per batch,
//   serialises it into one buffer and issues one write() (two when the batch crosses a
//   rotation).
// - Index (index_mu_, a shared_mutex): `entries_` holds one 24-byte `entry` per stored line,
//   in seq order (entries_[i] has seq i + 1, so seqs are dense and need no storage), and
//   `newest_by_hash_` maps a 64-bit hash of the exchange id to the newest seq with that hash
//   (~40 bytes per distinct id: a 32-byte node plus a bucket pointer). Entries with the same
//   hash are chained through `entry::prev_same_hash`, and get() checks the id it reads back, so
//   hash collisions cost a pread, never a wrong answer. No id bytes are kept in memory.
//   The writer holds the lock exclusively only to append entries after a successful write;
//   readers hold it shared only to copy what they need, and pread outside it.
// - Segments: every segment keeps one O_RDONLY descriptor open for its lifetime in the store
//   (readers pread from it); the segment being written also has an O_WRONLY|O_APPEND
//   descriptor owned by the writer thread. Readers hold a shared_ptr to the segment while they
//   read, so a future retention pass can drop segments without pulling a descriptor from under
//   a pread.
// - Seqs are assigned in file order at recovery (segments sorted by their number, lines in
//   order), so cursors stay valid across a restart as long as no segment was removed.
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
#include <unordered_map>

#include "storage/json.h"

namespace storage {

namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

struct segment_file {
  fs::path path;
  std::uint64_t number = 0;  // the <seq> of the file name
  int fd = -1;               // O_RDONLY, shared by all readers (pread)

  segment_file(fs::path p, std::uint64_t n, int f) : path(std::move(p)), number(n), fd(f) {}
  ~segment_file() {
    if (fd >= 0) ::close(fd);
  }
  segment_file(const segment_file&) = delete;
  segment_file& operator=(const segment_file&) = delete;
};

struct entry {
  std::uint64_t offset;          // of the line in its segment
  std::uint64_t prev_same_hash;  // seq of the previous line whose id hashes the same, 0: none
  std::uint32_t segment;         // index into impl::segments_
  std::uint32_t length;          // of the line without its '\n'
};
static_assert(sizeof(entry) == 24);

std::uint64_t id_hash(std::string_view id) {
  if (is_utf8(id)) return std::hash<std::string_view>{}(id);
  std::string valid;
  append_valid_utf8(id, valid);
  return std::hash<std::string_view>{}(valid);
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

struct store::impl {
  explicit impl(config c) : cfg_(std::move(c)), segments_dir_(cfg_.data_dir / "segments") {}

  config cfg_;
  fs::path segments_dir_;

  // Queue and writer control, guarded by queue_mu_.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // wakes the writer
  std::condition_variable done_cv_;   // wakes flush()
  std::vector<correlate::exchange> queue_;
  bool closed_ = false;  // submit() refuses
  bool stop_ = false;    // the writer drains and exits
  bool paused_ = false;  // test seam
  bool flush_requested_ = false;
  bool writer_done_ = false;
  std::uint64_t enqueued_ = 0;  // exchanges accepted, ever
  std::uint64_t synced_ = 0;    // exchanges written (or lost) and fsynced, ever

  std::mutex close_mu_;
  std::thread writer_;

  // The index, guarded by index_mu_.
  mutable std::shared_mutex index_mu_;
  std::vector<std::shared_ptr<const segment_file>> segments_;
  std::deque<entry> entries_;  // seq s is entries_[s - 1]
  std::unordered_map<std::uint64_t, std::uint64_t> newest_by_hash_;

  // Writer-thread state (set up by the constructor before the thread starts).
  int write_fd_ = -1;
  std::uint32_t write_segment_ = 0;
  std::uint64_t write_size_ = 0;  // bytes of whole lines in the current segment
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
      write_errors_{0}, segments_created_{0}, queue_depth_{0}, indexed_{0};

  void recover();
  void recover_segment(const fs::path& path, std::uint64_t number, simdjson::ondemand::parser& od,
                       simdjson::dom::parser& dom);
  void run();
  void write_batch(std::vector<correlate::exchange>& batch);
  void write_out();
  bool write_all(const char* p, std::size_t n);
  bool open_segment();
  void close_segment();
  void sync();
  void add_entries();
  std::optional<std::string> read_line(const entry& e,
                                       const std::shared_ptr<const segment_file>& seg,
                                       std::size_t padding) const;
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
  indexed_ = entries_.size();
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
  const auto size = static_cast<std::size_t>(st.st_size);
  std::string data(size + simdjson::SIMDJSON_PADDING, '\0');
  if (!read_all(fd, data.data(), size, 0)) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(
        fmt::format("storage: cannot read {}: {}", path.native(), std::strerror(err)));
  }

  // Index every whole line; a tail without '\n', or a last line that is not JSON, is what a
  // crash mid-write leaves behind and is cut.
  std::vector<entry> found;
  std::vector<std::uint64_t> hashes;
  std::size_t pos = 0;
  std::size_t good = 0;  // end of the last line we keep
  while (pos < size) {
    const void* nl = std::memchr(data.data() + pos, '\n', size - pos);
    if (nl == nullptr) break;
    const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
    const std::string_view line(data.data() + pos, end - pos);
    const std::size_t capacity = data.size() - pos;
    const bool last = end + 1 == size;
    bool keep = true;
    if (last) {
      simdjson::dom::element ignored;
      keep = !dom.parse(line.data(), line.size(), false).get(ignored);
    }
    if (!keep) break;
    good = end + 1;
    if (auto id = extract_id(od, line, capacity); id && line.size() <= UINT32_MAX) {
      found.push_back(entry{pos, 0, 0, static_cast<std::uint32_t>(line.size())});
      hashes.push_back(std::hash<std::string_view>{}(*id));
    }
    // Lines in the middle that are not ours are skipped, not cut: what follows is good.
    pos = end + 1;
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
  if (found.empty()) return;

  const int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (rfd < 0) {
    throw std::runtime_error(
        fmt::format("storage: cannot open {}: {}", path.native(), std::strerror(errno)));
  }
  const auto segment = static_cast<std::uint32_t>(segments_.size());
  segments_.push_back(std::make_shared<const segment_file>(path, number, rfd));
  for (std::size_t i = 0; i < found.size(); ++i) {
    entry e = found[i];
    e.segment = segment;
    const std::uint64_t seq = entries_.size() + 1;
    auto [it, inserted] = newest_by_hash_.try_emplace(hashes[i], seq);
    if (!inserted) {
      e.prev_same_hash = it->second;
      it->second = seq;
    }
    entries_.push_back(e);
  }
}

// ---- writer thread ----

void store::impl::run() {
  std::vector<correlate::exchange> batch;
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
      if (dirty_) {
        queue_cv_.wait_until(lk, dirty_since_ + interval, ready);
      } else {
        queue_cv_.wait(lk, ready);
      }
      stopping = stop_;
      if (stopping || !paused_) {
        batch.swap(queue_);
        queue_depth_ = 0;
        do_sync = flush_requested_ || stopping;
        flush_requested_ = false;
      }
    }
    if (!batch.empty()) {
      taken += batch.size();
      write_batch(batch);
      batch.clear();
    }
    if (dirty_ && (do_sync || steady::now() >= dirty_since_ + interval)) sync();
    if (stopping) close_segment();
    std::lock_guard lk(queue_mu_);
    if (!dirty_) synced_ = taken;
    if (stopping) writer_done_ = true;
    done_cv_.notify_all();
    if (stopping) return;
  }
}

void store::impl::write_batch(std::vector<correlate::exchange>& batch) {
  for (const auto& x : batch) {
    const std::size_t start = buf_.size();
    append_json_line(x, buf_);
    const std::size_t length = buf_.size() - start - 1;
    if (length > UINT32_MAX) {
      // Cannot happen with capped bodies; an index entry could not address it.
      buf_.resize(start);
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    pending_.push_back(pending{start, static_cast<std::uint32_t>(length), id_hash(x.id)});
    if (write_size_ + buf_.size() >= cfg_.segment_bytes) {
      write_out();
      close_segment();  // the next line goes to a new segment
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
      ::close(write_fd_);
      write_fd_ = -1;
    }
    write_errors_.fetch_add(pending_.size(), std::memory_order_relaxed);
    write_ok_.store(false, std::memory_order_relaxed);
  } else {
    write_ok_.store(true, std::memory_order_relaxed);
    add_entries();
    stored_.fetch_add(pending_.size(), std::memory_order_relaxed);
    bytes_written_.fetch_add(buf_.size(), std::memory_order_relaxed);
    write_size_ += buf_.size();
    if (!dirty_) {
      dirty_ = true;
      dirty_since_ = steady::now();
    }
  }
  pending_.clear();
  buf_.clear();
}

void store::impl::add_entries() {
  std::unique_lock lk(index_mu_);
  for (const auto& p : pending_) {
    const std::uint64_t seq = entries_.size() + 1;
    entry e{write_size_ + p.offset, 0, write_segment_, p.length};
    auto [it, inserted] = newest_by_hash_.try_emplace(p.hash, seq);
    if (!inserted) {
      e.prev_same_hash = it->second;
      it->second = seq;
    }
    entries_.push_back(e);
  }
  indexed_.store(entries_.size(), std::memory_order_relaxed);
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
  const int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (rfd < 0) {
    ::close(wfd);
    return false;
  }
  // The new name must survive a crash as well as the lines written to it.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  auto seg = std::make_shared<const segment_file>(std::move(path), number, rfd);
  {
    std::unique_lock lk(index_mu_);
    write_segment_ = static_cast<std::uint32_t>(segments_.size());
    segments_.push_back(std::move(seg));
  }
  write_fd_ = wfd;
  write_size_ = 0;
  segments_created_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void store::impl::sync() {
  // A failed fsync is not retried: the lines are in the page cache and counted as stored.
  if (write_fd_ >= 0) ::fdatasync(write_fd_);
  dirty_ = false;
}

void store::impl::close_segment() {
  if (write_fd_ < 0) return;
  sync();
  ::close(write_fd_);
  write_fd_ = -1;
}

// ---- readers ----

std::optional<std::string> store::impl::read_line(const entry& e,
                                                  const std::shared_ptr<const segment_file>& seg,
                                                  std::size_t padding) const {
  std::string line(e.length + padding, '\0');
  if (!read_all(seg->fd, line.data(), e.length, e.offset)) return std::nullopt;
  return line;
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
  impl_->writer_ = std::thread([p = impl_.get()] { p->run(); });
}

store::~store() { close(); }

bool store::submit(correlate::exchange&& x) {
  bool was_empty = false;
  {
    std::lock_guard lk(impl_->queue_mu_);
    if (impl_->closed_) return false;
    if (impl_->queue_.size() >= impl_->cfg_.queue_capacity) {
      impl_->dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    was_empty = impl_->queue_.empty();
    impl_->queue_.push_back(std::move(x));
    ++impl_->enqueued_;
    impl_->queue_depth_.store(impl_->queue_.size(), std::memory_order_relaxed);
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
  struct pick {
    entry e;
    std::uint64_t seq;
    std::shared_ptr<const segment_file> seg;
  };
  query_result r;
  if (q.limit == 0) return r;
  // Candidates are copied out of the index in batches under the shared lock and read without
  // it; without a matcher, one batch of `limit` is the whole page.
  const std::size_t padding = q.match ? simdjson::SIMDJSON_PADDING : 0;
  const std::size_t batch = q.match ? std::max<std::size_t>(q.limit, 256) : q.limit;
  std::vector<pick> picks;
  std::uint64_t seq = 0;  // exclusive upper bound of what is left to read
  {
    std::shared_lock lk(impl_->index_mu_);
    const std::uint64_t total = impl_->entries_.size();
    seq = std::min(q.before.value_or(total + 1), total + 1);
  }
  r.records.reserve(std::min<std::uint64_t>(q.limit, seq));
  std::uint64_t last_seq = 0;  // seq of the last record put in the page
  while (seq > 1 && r.records.size() < q.limit) {
    picks.clear();
    {
      std::shared_lock lk(impl_->index_mu_);
      for (std::uint64_t s = seq; s > 1 && picks.size() < batch; --s) {
        const entry& e = impl_->entries_[s - 2];
        picks.push_back(pick{e, s - 1, impl_->segments_[e.segment]});
      }
    }
    for (const auto& p : picks) {
      seq = p.seq;
      ++r.scanned;
      // A line that cannot be read back (the disk failed under us) is left out of the page.
      auto line = impl_->read_line(p.e, p.seg, padding);
      if (!line) continue;
      if (q.match && !q.match(std::string_view(line->data(), p.e.length), line->size())) {
        continue;
      }
      line->resize(p.e.length);
      r.records.push_back(std::move(*line));
      last_seq = p.seq;
      if (r.records.size() == q.limit) break;
    }
  }
  // More may follow only if something older than the last record read is left.
  if (r.records.size() == q.limit && last_seq > 1) r.next = last_seq;
  return r;
}

std::optional<std::string> store::get(std::string_view id) const {
  std::string valid;
  append_valid_utf8(id, valid);
  const std::uint64_t h = std::hash<std::string_view>{}(valid);
  std::uint64_t seq = 0;
  {
    std::shared_lock lk(impl_->index_mu_);
    const auto it = impl_->newest_by_hash_.find(h);
    if (it == impl_->newest_by_hash_.end()) return std::nullopt;
    seq = it->second;
  }
  simdjson::ondemand::parser parser;
  while (seq != 0) {
    entry e{};
    std::shared_ptr<const segment_file> seg;
    {
      std::shared_lock lk(impl_->index_mu_);
      e = impl_->entries_[seq - 1];
      seg = impl_->segments_[e.segment];
    }
    if (auto line = impl_->read_line(e, seg, simdjson::SIMDJSON_PADDING)) {
      const auto found = extract_id(parser, std::string_view(line->data(), e.length), line->size());
      if (found && *found == valid) {
        line->resize(e.length);
        return line;
      }
    }
    seq = e.prev_same_hash;
  }
  return std::nullopt;
}

counters store::stats() const {
  const impl& s = *impl_;
  counters c;
  c.submitted = s.submitted_.load(std::memory_order_relaxed);
  c.dropped = s.dropped_.load(std::memory_order_relaxed);
  c.stored = s.stored_.load(std::memory_order_relaxed);
  c.bytes_written = s.bytes_written_.load(std::memory_order_relaxed);
  c.write_errors = s.write_errors_.load(std::memory_order_relaxed);
  c.segments = s.segments_created_.load(std::memory_order_relaxed);
  c.queue_depth = s.queue_depth_.load(std::memory_order_relaxed);
  c.indexed = s.indexed_.load(std::memory_order_relaxed);
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
