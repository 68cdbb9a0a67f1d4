// SPDX-License-Identifier: Apache-2.0
//
// One sink thread owns the producer: it swaps the submit queue out, serialises and produces,
// and is the only caller of rd_kafka_poll(), so delivery reports, error and log callbacks (the
// log through log.queue) all run on it and the health state needs no lock.
//
// The bound is counted from submit() to the delivery report, not per stage: librdkafka's own
// queue is sized above it, so an exchange accepted by submit() always fits in librdkafka too
// and nothing is refused between the two queues, and with the cluster away `dropped` is exactly
// what was submitted past the bound.
#include "storage/kafka_sink.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "storage/json.h"
#include "storage/kafka_common.h"
#include "storage/msgpack_record.h"

namespace storage {

namespace {

using kafka_detail::error_text;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;


}  // namespace

std::string_view to_string(kafka_format f) {
  switch (f) {
    case kafka_format::json:
      return "json";
    case kafka_format::msgpack:
      return "msgpack";
  }
  return "json";
}

std::optional<kafka_format> parse_kafka_format(std::string_view s) {
  for (auto f : {kafka_format::json, kafka_format::msgpack}) {
    if (s == to_string(f)) return f;
  }
  return std::nullopt;
}

std::string_view to_string(kafka_notice_kind k) {
  switch (k) {
    case kafka_notice_kind::failing:
      return "failing";
    case kafka_notice_kind::recovered:
      return "recovered";
    case kafka_notice_kind::client_log:
      return "client_log";
  }
  return "failing";
}

struct kafka_sink::impl {
  kafka_config cfg_;
  kafka_notify notify_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;

  std::mutex mu_;
  std::condition_variable cv_;     // wakes the sink thread
  std::vector<record_ptr> queue_;  // guarded by mu_
  bool closing_ = false;           // guarded by mu_
  steady::time_point deadline_{};  // guarded by mu_; set with closing_
  std::thread thread_;

  std::once_flag close_once_;
  kafka_close_result close_result_;

  std::atomic<std::uint64_t> submitted_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> left_{0};
  std::atomic<std::uint64_t> bytes_delivered_{0};
  std::atomic<std::uint64_t> in_flight_{0};  // incremented under mu_ only
  std::atomic<std::uint64_t> queue_bytes_{0};
  std::atomic<bool> healthy_{true};

  // Sink-thread state.
  bool purging_ = false;  // purge reports are `left`, not `failed`
  std::uint64_t failed_during_ = 0;
  std::string payload_;
  std::string key_;

  void start();
  bool submit(record_ptr&& r);
  // The queue cannot take `bytes` more (count cap, or byte cap unless it is empty).
  bool full(std::uint64_t bytes) const {
    const auto n = in_flight_.load(std::memory_order_relaxed);
    return n >= cfg_.queue_capacity ||
           (cfg_.queue_bytes != 0 && n != 0 &&
            queue_bytes_.load(std::memory_order_relaxed) + bytes > cfg_.queue_bytes);
  }
  void run();
  void produce(const record_ptr& r, steady::time_point deadline, bool closing);
  void settle(std::uint64_t bytes) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    queue_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  void fail(std::uint64_t bytes, const std::string& reason) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    settle(bytes);
    ++failed_during_;
    trouble(reason);
  }
  void trouble(const std::string& reason) {
    if (!healthy_.load(std::memory_order_relaxed)) return;
    healthy_.store(false, std::memory_order_relaxed);
    tell({kafka_notice_kind::failing, reason, 0, 0});
  }
  void tell(const kafka_notice& n) {
    if (notify_) notify_(n);
  }
  void finish(kafka_close_result& r);

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) noexcept;
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) noexcept;
  static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) noexcept;
};

void kafka_sink::impl::start() {
  if (cfg_.brokers.empty()) throw std::runtime_error("kafka: no brokers given");
  if (cfg_.topic.empty()) throw std::runtime_error("kafka: empty topic name");
  if (cfg_.queue_capacity == 0) throw std::runtime_error("kafka: queue capacity must be > 0");

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  const auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("kafka option " + k + "=" + v + ": " + err);
    }
  };
  // Every record accepted by submit() must fit in librdkafka's queue (see the top of the file).
  const auto kbytes =
      cfg_.queue_bytes == 0
          ? std::uint64_t{INT_MAX}
          : std::clamp<std::uint64_t>(cfg_.queue_bytes / 1024 * 4 + 65536, 1048576, INT_MAX);
  set("bootstrap.servers", cfg_.brokers);
  set("client.id", "http-event-processor");
  set("enable.idempotence", "true");
  set("queue.buffering.max.messages",
      std::to_string(std::min<std::uint64_t>(cfg_.queue_capacity + 1024, INT_MAX)));
  set("queue.buffering.max.kbytes", std::to_string(kbytes));
  // librdkafka's log lines go to the main queue and so reach on_log on the sink thread.
  set("log.queue", "true");
  for (const auto& [k, v] : cfg_.options) set(k, v);
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, &impl::on_delivery);
  rd_kafka_conf_set_error_cb(conf, &impl::on_error);
  rd_kafka_conf_set_log_cb(conf, &impl::on_log);

  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka producer: ") + err);
  }
  rd_kafka_set_log_queue(rk_, nullptr);
  rkt_ = rd_kafka_topic_new(rk_, cfg_.topic.c_str(), nullptr);
  if (rkt_ == nullptr) {
    const auto e = rd_kafka_last_error();
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
    throw std::runtime_error("kafka topic " + cfg_.topic + ": " + rd_kafka_err2str(e));
  }
  thread_ = std::thread([this] { run(); });
}

bool kafka_sink::impl::submit(record_ptr&& r) {
  const auto bytes = r->approx_bytes();
  bool was_empty = false;
  {
    std::lock_guard lk(mu_);
    if (closing_ || full(bytes)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    queue_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    submitted_.fetch_add(1, std::memory_order_relaxed);
    was_empty = queue_.empty();
    queue_.push_back(std::move(r));
  }
  // The thread only sleeps on cv_ with an empty queue, and takes the whole queue when it wakes.
  if (was_empty) cv_.notify_one();
  return true;
}

void kafka_sink::impl::run() {
  std::vector<record_ptr> batch;
  for (;;) {
    bool closing = false;
    steady::time_point deadline;
    {
      std::unique_lock lk(mu_);
      if (queue_.empty() && !closing_) {
        if (in_flight_.load(std::memory_order_relaxed) == 0) {
          // Idle: nothing to report on either; wake now and then for error and log callbacks.
          cv_.wait_for(lk, milliseconds(200));
        } else {
          // Delivery reports are due; rd_kafka_poll() returns early when one arrives, and a new
          // submit waits at most this long to be produced.
          lk.unlock();
          rd_kafka_poll(rk_, 5);
          continue;
        }
      }
      batch.swap(queue_);
      closing = closing_;
      deadline = deadline_;
    }
    for (auto& r : batch) {
      produce(r, deadline, closing);
      r.reset();  // librdkafka copied the payload; the file store may still hold the record
    }
    batch.clear();
    rd_kafka_poll(rk_, 0);
    if (closing) {
      std::lock_guard lk(mu_);
      if (queue_.empty()) break;  // submit() refuses everything once closing_ is set
    }
  }
}

void kafka_sink::impl::produce(const record_ptr& r, steady::time_point deadline, bool closing) {
  const auto& x = r->exchange();
  std::string_view payload;
  if (cfg_.format == kafka_format::json) {
    payload = record::json_line(r, payload_);  // made once, shared with the file store
    payload.remove_suffix(1);                  // the '\n'
  } else {
    payload_.clear();
    append_msgpack_record(x, payload_);
    payload = payload_;
  }
  key_.clear();
  append_valid_utf8(x.id, key_);
  const auto source = correlate::to_string(x.source);
  const std::string_view complete = x.complete ? "true" : "false";
  const auto bytes = r->approx_bytes();

  rd_kafka_vu_t vu[7];
  vu[0].vtype = RD_KAFKA_VTYPE_RKT;
  vu[0].u.rkt = rkt_;
  vu[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[1].u.i = RD_KAFKA_MSG_F_COPY;
  vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[2].u.mem = {const_cast<char*>(payload.data()), payload.size()};
  vu[3].vtype = RD_KAFKA_VTYPE_KEY;
  vu[3].u.mem = {key_.data(), key_.size()};
  vu[4].vtype = RD_KAFKA_VTYPE_HEADER;
  vu[4].u.header = {"source", source.data(), static_cast<ssize_t>(source.size())};
  vu[5].vtype = RD_KAFKA_VTYPE_HEADER;
  vu[5].u.header = {"complete", complete.data(), static_cast<ssize_t>(complete.size())};
  // The per-message opaque carries the bytes to release when its delivery report comes.
  vu[6].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vu[6].u.ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(bytes));

  for (;;) {
    rd_kafka_error_t* e = rd_kafka_produceva(rk_, vu, std::size(vu));
    if (e == nullptr) return;
    const auto code = rd_kafka_error_code(e);
    std::string reason = error_text(code, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Permanent for this record (too big, unknown topic, fatal producer error).
      fail(bytes, reason);
      return;
    }
    // Only with options that shrink librdkafka's queue below ours: wait for room, but never
    // past the close deadline.
    if (closing && steady::now() >= deadline) {
      left_.fetch_add(1, std::memory_order_relaxed);
      settle(bytes);
      return;
    }
    rd_kafka_poll(rk_, 50);
  }
}

void kafka_sink::impl::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m,
                                   void* opaque) noexcept {
  auto* self = static_cast<impl*>(opaque);
  const auto bytes = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m->_private));
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->delivered_.fetch_add(1, std::memory_order_relaxed);
    self->bytes_delivered_.fetch_add(m->len, std::memory_order_relaxed);
    self->settle(bytes);
    if (!self->healthy_.load(std::memory_order_relaxed)) {
      self->healthy_.store(true, std::memory_order_relaxed);
      self->tell({kafka_notice_kind::recovered, {}, 0, self->failed_during_});
      self->failed_during_ = 0;
    }
    return;
  }
  if (self->purging_ &&
      (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)) {
    self->left_.fetch_add(1, std::memory_order_relaxed);
    self->settle(bytes);
    return;
  }
  self->fail(bytes, error_text(m->err, rd_kafka_message_errstr(m)));
}

void kafka_sink::impl::on_error(rd_kafka_t* rk, int err, const char* reason,
                                void* opaque) noexcept {
  if (auto why = kafka_detail::trouble(rk, err, reason)) static_cast<impl*>(opaque)->trouble(*why);
}

void kafka_sink::impl::on_log(const rd_kafka_t* rk, int level, const char* fac,
                              const char* buf) noexcept {
  auto* self = static_cast<impl*>(rd_kafka_opaque(rk));
  if (self == nullptr || !self->notify_) return;
  self->tell({kafka_notice_kind::client_log, std::string(fac) + ": " + buf, level, 0});
}

void kafka_sink::impl::finish(kafka_close_result& r) {
  const auto start = steady::now();
  const auto delivered_before = delivered_.load(std::memory_order_relaxed);
  {
    std::lock_guard lk(mu_);
    closing_ = true;
    deadline_ = start + cfg_.close_timeout;
  }
  cv_.notify_one();
  // The thread produces what was queued (every record accepted before closing_), then returns.
  thread_.join();

  const auto remaining = [&] {
    const auto ms =
        std::chrono::duration_cast<milliseconds>(start + cfg_.close_timeout - steady::now())
            .count();
    return static_cast<int>(std::clamp<long long>(ms, 0, INT_MAX));
  };
  // rd_kafka_flush() serves delivery reports itself (on this thread now that the sink thread
  // is gone) and returns when nothing is outstanding or time is up.
  if (in_flight_.load(std::memory_order_relaxed) != 0) rd_kafka_flush(rk_, remaining());
  if (in_flight_.load(std::memory_order_relaxed) != 0) {
    purging_ = true;
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // Purged records are reported at once; give the reports a short, bounded time to arrive.
    const auto until = steady::now() + milliseconds(1000);
    while (in_flight_.load(std::memory_order_relaxed) != 0 && steady::now() < until) {
      rd_kafka_poll(rk_, 10);
    }
    // Anything still unreported is lost with the producer: count it as left too.
    const auto rest = in_flight_.exchange(0, std::memory_order_relaxed);
    left_.fetch_add(rest, std::memory_order_relaxed);
    queue_bytes_.store(0, std::memory_order_relaxed);
  }
  rd_kafka_topic_destroy(rkt_);
  rkt_ = nullptr;
  rd_kafka_destroy(rk_);
  rk_ = nullptr;

  r.delivered = delivered_.load(std::memory_order_relaxed) - delivered_before;
  r.left = left_.load(std::memory_order_relaxed);
  r.took = std::chrono::duration_cast<milliseconds>(steady::now() - start);
}

kafka_sink::kafka_sink(kafka_config cfg, kafka_notify notify) : impl_(std::make_unique<impl>()) {
  impl_->cfg_ = std::move(cfg);
  impl_->notify_ = std::move(notify);
  impl_->start();
}

kafka_sink::~kafka_sink() { close(); }

bool kafka_sink::submit(record_ptr r) { return impl_->submit(std::move(r)); }

bool kafka_sink::submit(const correlate::exchange& x) {
  // Cheap refusal first, by count or bytes: no copy when the exchange would be dropped anyway.
  if (impl_->full(x.approx_bytes())) {
    impl_->dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return impl_->submit(make_record(correlate::exchange(x)));
}

kafka_close_result kafka_sink::close() {
  std::call_once(impl_->close_once_, [this] { impl_->finish(impl_->close_result_); });
  return impl_->close_result_;
}

kafka_counters kafka_sink::stats() const {
  const auto& i = *impl_;
  kafka_counters c;
  c.submitted = i.submitted_.load(std::memory_order_relaxed);
  c.dropped = i.dropped_.load(std::memory_order_relaxed);
  c.delivered = i.delivered_.load(std::memory_order_relaxed);
  c.failed = i.failed_.load(std::memory_order_relaxed);
  c.left = i.left_.load(std::memory_order_relaxed);
  c.bytes_delivered = i.bytes_delivered_.load(std::memory_order_relaxed);
  c.in_flight = i.in_flight_.load(std::memory_order_relaxed);
  c.queue_bytes = i.queue_bytes_.load(std::memory_order_relaxed);
  c.healthy = i.healthy_.load(std::memory_order_relaxed);
  return c;
}

const kafka_config& kafka_sink::config() const { return impl_->cfg_; }

}  // namespace storage
