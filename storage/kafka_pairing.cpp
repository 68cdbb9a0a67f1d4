// SPDX-License-Identifier: Apache-2.0
//
// Two librdkafka clients: a producer that submit() feeds from the loop thread, and a consumer in
// the group. The pairing thread is the only one that polls either, so every callback (delivery
// reports, rebalances, commit results, errors, log lines) runs on it, and the per-partition
// state needs no lock. The loop thread reads counters through atomics only.
#include "storage/kafka_pairing.h"

#include <fmt/core.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <climits>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "storage/half_codec.h"
#include "storage/kafka_common.h"

namespace storage {

namespace {

using kafka_detail::error_text;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Bad records are counted always but told only this many times: a topic full of foreign
// records must not flood the log.
constexpr std::uint64_t bad_records_told = 10;

// On a requeued half: when it was first produced (microseconds since the epoch, decimal).
constexpr const char* arrived_header = "hep-arrived-us";

}  // namespace

struct kafka_pairing::impl {
  pairing_config cfg_;
  pairing_output output_;
  kafka_notify notify_;
  rd_kafka_t* prod_ = nullptr;
  rd_kafka_topic_t* prod_topic_ = nullptr;
  rd_kafka_t* cons_ = nullptr;
  std::thread thread_;
  std::atomic<bool> closing_{false};  // submit() refuses
  std::atomic<bool> stop_{false};     // the pairing thread leaves (once its halves are out)
  steady::time_point flush_deadline_{};  // set before stop_
  std::once_flag close_once_;
  std::string buf_;  // submit()'s encoding buffer (loop thread only)

  // Counters (see pairing_counters).
  std::atomic<std::uint64_t> produced_{0}, dropped_{0}, delivered_{0}, failed_{0};
  std::atomic<std::uint64_t> in_flight_{0}, queue_bytes_{0};
  std::atomic<std::uint64_t> consumed_{0}, bad_records_{0}, handed_over_{0}, rebalances_{0};
  std::atomic<std::uint64_t> commits_{0}, commit_errors_{0}, requeued_{0};
  std::atomic<std::uint64_t> paired_{0}, expired_{0}, evicted_{0}, duplicates_{0};
  std::atomic<std::uint64_t> partitions_{0}, pending_{0}, pending_bytes_{0}, lag_{0};
  std::atomic<bool> healthy_{true};

  // Pairing-thread state.
  struct partition {
    explicit partition(const correlate::config& c) : pairing(c) {}
    correlate::correlator pairing;
    std::int64_t next = -1;       // the offset after the last one read; -1: none read yet
    std::int64_t committed = -1;  // the last offset committed
    std::int64_t last_arrival_us = 0;
    // The pairs made since the commit point, as (offset of the half that waited, offset of
    // the one that completed it), in the order made (so by the second offset). A commit must
    // not split one: a new owner reading from between the two would find the second half
    // alone and, after the TTL, store it as an incomplete copy of a pair already stored.
    std::deque<std::pair<std::int64_t, std::int64_t>> pairs;
    // Offsets of halves sent to the back of the partition (requeue) whose copy is not yet
    // delivered, and those whose copy could not be produced yet: the commit stays before them.
    std::map<std::int64_t, int> requeue_unacked;
    std::vector<correlate::correlator::taken> requeue_retry;
    // Requeued copies waiting here, by offset: when they came back (their arrival time is the
    // first copy's). A copy is sent again only requeue_after after that, not at every commit.
    std::map<std::int64_t, std::int64_t> requeued_at;
  };
  // A requeued half in flight: its delivery report says where it stands.
  struct requeue_ticket {
    std::int32_t partition;
    correlate::correlator::taken half;
    std::uint64_t bytes;
  };
  std::map<std::int32_t, partition> parts_;
  std::map<std::int32_t, partition> parked_;  // revoked, until the next assignment
  correlate::counters retired_;  // of partitions no longer owned
  std::vector<correlate::exchange> out_;

  void start();
  bool submit(const correlate::event& e);
  // One record to the halves topic (copied); `arrived` adds the requeue header, a partition
  // >= 0 fixes the partition. False when librdkafka refuses it (queue full, fatal error).
  bool produce(std::string_view key, std::string_view value, void* opaque,
               std::string_view arrived = {}, std::int32_t to_partition = -1);
  void run();
  void consume(rd_kafka_message_t* m);
  void flush_out() {
    if (out_.empty()) return;
    output_(out_);
    out_.clear();
  }
  void expire_all() {
    const auto now = wall_us();
    for (auto& [p, s] : parts_) s.pairing.expire(now, out_);
  }
  // Commits, per owned partition, the offset before which nothing waits (see the header).
  void commit(bool async);
  // The offset the partition may be committed at now (see partition::pairs).
  std::int64_t safe_offset(partition& s);
  // Sends the halves of `s` that have waited longer than requeue_after to the back of the
  // partition (or retries those that could not be sent).
  void requeue(std::int32_t p, partition& s);
  bool produce_requeue(std::int32_t p, partition& s, correlate::correlator::taken&& t);
  partition* find(std::int32_t p) {
    if (auto it = parts_.find(p); it != parts_.end()) return &it->second;
    if (auto it = parked_.find(p); it != parked_.end()) return &it->second;
    return nullptr;
  }
  void publish_counters();
  void assign(rd_kafka_topic_partition_list_t* ps);
  // `lost`: the group went on without us (session timeout); another agent may own them now.
  void revoke(rd_kafka_topic_partition_list_t* ps, bool lost);
  void retire(partition& s);  // its counters kept, its waiting halves counted as handed over
  void finish();

  void trouble(const std::string& reason) {
    if (!healthy_.exchange(false, std::memory_order_relaxed)) return;
    tell({kafka_notice_kind::failing, reason, 0, 0});
  }
  void recovered() {
    if (healthy_.exchange(true, std::memory_order_relaxed)) return;
    tell({kafka_notice_kind::recovered, {}, 0, 0});
  }
  void tell(const kafka_notice& n) {
    if (notify_) notify_(n);
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) noexcept;
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) noexcept;
  static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) noexcept;
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* ps, void* opaque) noexcept;
  static void on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* ps, void* opaque) noexcept;
};

void kafka_pairing::impl::start() {
  if (cfg_.brokers.empty()) throw std::runtime_error("kafka pairing: no brokers given");
  if (cfg_.topic.empty()) throw std::runtime_error("kafka pairing: empty topic name");
  if (cfg_.group.empty()) throw std::runtime_error("kafka pairing: empty group name");
  if (cfg_.queue_capacity == 0) {
    throw std::runtime_error("kafka pairing: queue capacity must be > 0");
  }
  char err[512];
  const auto make_conf = [&](bool producer) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const auto set = [&](const std::string& k, const std::string& v) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error("kafka option " + k + "=" + v + ": " + err);
      }
    };
    set("bootstrap.servers", cfg_.brokers);
    set("client.id", "http-event-processor-pairing");
    set("log.queue", "true");
    if (producer) {
      set("enable.idempotence", "true");
      // A half waits for its partner's owner: send it soon rather than in big batches.
      set("linger.ms", "5");
      set("queue.buffering.max.messages",
          std::to_string(std::min<std::uint64_t>(cfg_.queue_capacity + 1024, INT_MAX)));
      const auto kbytes = cfg_.queue_bytes == 0 ? std::uint64_t{INT_MAX}
                                                : std::clamp<std::uint64_t>(
                                                      cfg_.queue_bytes / 1024 * 4 + 65536,
                                                      1048576, INT_MAX);
      set("queue.buffering.max.kbytes", std::to_string(kbytes));
    } else {
      set("group.id", cfg_.group);
      set("enable.auto.commit", "false");  // commit() says what is safe
      set("enable.auto.offset.store", "false");
      set("auto.offset.reset", "earliest");  // a new group reads every half there is
      // A killed agent's partitions move after this long; Kafka's 45 s default would leave
      // its halves unpaired that long.
      set("session.timeout.ms", "10000");
      set("heartbeat.interval.ms", "1000");
    }
    // Options that name the other kind of client are ignored by this one; librdkafka says so
    // in a log line at warning level, which we keep at debug (see app.cpp).
    for (const auto& [k, v] : cfg_.options) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error("kafka option " + k + "=" + v + ": " + err);
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_error_cb(conf, &impl::on_error);
    rd_kafka_conf_set_log_cb(conf, &impl::on_log);
    if (producer) {
      rd_kafka_conf_set_dr_msg_cb(conf, &impl::on_delivery);
    } else {
      rd_kafka_conf_set_rebalance_cb(conf, &impl::on_rebalance);
      rd_kafka_conf_set_offset_commit_cb(conf, &impl::on_commit);
    }
    return conf;
  };

  rd_kafka_conf_t* pconf = make_conf(true);
  prod_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
  if (prod_ == nullptr) {
    rd_kafka_conf_destroy(pconf);
    throw std::runtime_error(std::string("kafka pairing producer: ") + err);
  }
  rd_kafka_set_log_queue(prod_, nullptr);
  prod_topic_ = rd_kafka_topic_new(prod_, cfg_.topic.c_str(), nullptr);

  rd_kafka_conf_t* cconf = nullptr;
  try {
    cconf = make_conf(false);
  } catch (...) {
    rd_kafka_topic_destroy(prod_topic_);
    rd_kafka_destroy(prod_);
    throw;
  }
  cons_ = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof err);
  if (cons_ == nullptr) {
    rd_kafka_conf_destroy(cconf);
    rd_kafka_topic_destroy(prod_topic_);
    rd_kafka_destroy(prod_);
    throw std::runtime_error(std::string("kafka pairing consumer: ") + err);
  }
  // Every callback of the consumer, its log lines included, comes through consumer_poll().
  rd_kafka_set_log_queue(cons_, nullptr);
  rd_kafka_poll_set_consumer(cons_);
  rd_kafka_topic_partition_list_t* sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, cfg_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  const auto rc = rd_kafka_subscribe(cons_, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_destroy(cons_);
    rd_kafka_topic_destroy(prod_topic_);
    rd_kafka_destroy(prod_);
    throw std::runtime_error("kafka pairing: subscribe to " + cfg_.topic + ": " +
                             rd_kafka_err2str(rc));
  }
  thread_ = std::thread([this] { run(); });
}

bool kafka_pairing::impl::produce(std::string_view key, std::string_view value, void* opaque,
                                  std::string_view arrived, std::int32_t to_partition) {
  rd_kafka_vu_t vu[7];
  std::size_t n = 0;
  vu[n].vtype = RD_KAFKA_VTYPE_RKT;
  vu[n++].u.rkt = prod_topic_;
  vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[n++].u.mem = {const_cast<char*>(value.data()), value.size()};
  vu[n].vtype = RD_KAFKA_VTYPE_KEY;
  vu[n++].u.mem = {const_cast<char*>(key.data()), key.size()};
  vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vu[n++].u.ptr = opaque;
  if (!arrived.empty()) {
    vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
    vu[n++].u.header = {arrived_header, arrived.data(), static_cast<ssize_t>(arrived.size())};
  }
  if (to_partition >= 0) {
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = to_partition;
  }
  rd_kafka_error_t* err = rd_kafka_produceva(prod_, vu, n);
  if (err == nullptr) return true;
  rd_kafka_error_destroy(err);
  return false;
}

bool kafka_pairing::impl::submit(const correlate::event& e) {
  if (closing_.load(std::memory_order_relaxed)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  buf_.clear();
  encode_half(e, buf_);
  const std::uint64_t bytes = buf_.size();
  const auto n = in_flight_.load(std::memory_order_relaxed);
  if (n >= cfg_.queue_capacity ||
      (cfg_.queue_bytes != 0 && n != 0 &&
       queue_bytes_.load(std::memory_order_relaxed) + bytes > cfg_.queue_bytes)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  queue_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  // Odd: a half of ours, carrying its bytes; even: a requeue_ticket (see on_delivery).
  if (!produce(e.id, buf_, reinterpret_cast<void*>(static_cast<std::uintptr_t>(bytes << 1 | 1)))) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    queue_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  produced_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void kafka_pairing::impl::run() {
  auto last_expiry = steady::now();
  auto last_commit = steady::now();
  for (;;) {
    if (stop_.load(std::memory_order_relaxed) &&
        (in_flight_.load(std::memory_order_relaxed) == 0 || steady::now() >= flush_deadline_)) {
      break;
    }
    rd_kafka_poll(prod_, 0);  // delivery reports
    // A batch of records, then the exchanges they made go out together.
    for (int i = 0; i < 1024; ++i) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(cons_, i == 0 ? 20 : 0);
      if (m == nullptr) break;
      consume(m);
      rd_kafka_message_destroy(m);
    }
    const auto now = steady::now();
    if (now - last_expiry >= cfg_.expiry_interval) {
      expire_all();
      last_expiry = now;
    }
    flush_out();
    if (now - last_commit >= cfg_.commit_interval) {
      commit(true);
      last_commit = now;
    }
    publish_counters();
  }
  finish();
}

void kafka_pairing::impl::consume(rd_kafka_message_t* m) {
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      trouble(error_text(m->err, rd_kafka_message_errstr(m)));
    }
    return;
  }
  auto it = parts_.find(m->partition);
  if (it == parts_.end()) return;  // a record of a partition revoked meanwhile
  partition& s = it->second;
  s.next = m->offset + 1;
  consumed_.fetch_add(1, std::memory_order_relaxed);
  recovered();
  auto r = decode_half({static_cast<const char*>(m->payload), m->len});
  if (!r.event) {
    if (bad_records_.fetch_add(1, std::memory_order_relaxed) < bad_records_told) {
      tell({kafka_notice_kind::client_log,
            fmt::format("pairing: {} partition {} offset {}: {} (skipped)", cfg_.topic,
                        m->partition, m->offset, r.error),
            4, 0});
    }
    return;
  }
  // Arrival is when the half was produced, never earlier than the half before it in this
  // partition: the correlator expires in arrival order, which here is offset order.
  rd_kafka_timestamp_type_t type;
  const auto ts_ms = rd_kafka_message_timestamp(m, &type);
  const std::int64_t ts_us = ts_ms >= 0 ? ts_ms * 1000 : wall_us();
  s.last_arrival_us = std::max(s.last_arrival_us, ts_us);
  std::int64_t arrived = s.last_arrival_us;
  // A requeued half keeps the age it had: its TTL runs from when it was first produced.
  bool requeued_copy = false;
  rd_kafka_headers_t* hdrs = nullptr;
  const void* v = nullptr;
  std::size_t n = 0;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      rd_kafka_header_get_last(hdrs, arrived_header, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::int64_t first = 0;
    const auto* b = static_cast<const char*>(v);
    if (std::from_chars(b, b + n, first).ec == std::errc{} && first <= arrived) {
      arrived = first;
      requeued_copy = true;
    }
  }
  const auto paired = s.pairing.stats().paired;
  s.pairing.add(std::move(*r.event), arrived, out_, m->offset);
  if (s.pairing.stats().paired != paired) {
    s.pairs.emplace_back(s.pairing.last_pair_tag(), m->offset);
    s.requeued_at.erase(s.pairing.last_pair_tag());
  } else if (requeued_copy) {
    s.requeued_at.emplace(m->offset, wall_us());
  }
}

std::int64_t kafka_pairing::impl::safe_offset(partition& s) {
  std::int64_t safe = s.pairing.oldest_tag().value_or(s.next);
  if (!s.requeue_unacked.empty()) safe = std::min(safe, s.requeue_unacked.begin()->first);
  for (const auto& t : s.requeue_retry) safe = std::min(safe, t.tag);
  // Never between the two halves of a pair: lower the point below the first half of any pair
  // whose second half lies at or after it, until none does.
  for (;;) {
    std::int64_t lowest = safe;
    for (auto it = s.pairs.rbegin(); it != s.pairs.rend() && it->second >= safe; ++it) {
      lowest = std::min(lowest, it->first);
    }
    if (lowest == safe) break;
    safe = lowest;
  }
  while (!s.pairs.empty() && s.pairs.front().second < safe) s.pairs.pop_front();
  // Every half still waiting lies at or after the commit point.
  s.requeued_at.erase(s.requeued_at.begin(), s.requeued_at.lower_bound(safe));
  return safe;
}

bool kafka_pairing::impl::produce_requeue(std::int32_t p, partition& s,
                                          correlate::correlator::taken&& t) {
  const auto n = in_flight_.load(std::memory_order_relaxed);
  if (n >= cfg_.queue_capacity) return false;
  std::string value;
  encode_half(t.half, value);
  const auto arrived = std::to_string(t.arrived_us);
  auto* ticket = new requeue_ticket{p, std::move(t), value.size()};
  // The same partition, whatever the partitioner: the partition's owner is who pairs it.
  if (!produce(ticket->half.half.id, value, ticket, arrived, p)) {
    t = std::move(ticket->half);
    delete ticket;
    return false;
  }
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  queue_bytes_.fetch_add(value.size(), std::memory_order_relaxed);
  s.requeue_unacked[ticket->half.tag]++;
  requeued_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void kafka_pairing::impl::requeue(std::int32_t p, partition& s) {
  if (cfg_.requeue_after.count() <= 0) return;
  auto retry = std::move(s.requeue_retry);
  s.requeue_retry.clear();
  for (auto& t : retry) {
    if (!produce_requeue(p, s, std::move(t))) s.requeue_retry.push_back(std::move(t));
  }
  const auto before = wall_us() - std::chrono::duration_cast<std::chrono::microseconds>(
                                      cfg_.requeue_after)
                                      .count();
  correlate::correlator::taken t;
  while (s.requeue_retry.empty()) {
    // Only when it holds the commit back by enough to matter: an idle partition keeps its
    // stragglers where they are (a new owner would read a few records again, no more).
    const auto oldest = s.pairing.oldest_tag();
    if (!oldest || s.next - *oldest < cfg_.requeue_min_records) break;
    if (auto it = s.requeued_at.find(*oldest); it != s.requeued_at.end()) {
      if (it->second > before) break;  // back from the topic not long ago
      s.requeued_at.erase(it);
    }
    if (!s.pairing.take_oldest(before, t)) break;
    if (!produce_requeue(p, s, std::move(t))) s.requeue_retry.push_back(std::move(t));
  }
}

void kafka_pairing::impl::commit(bool async) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(
      static_cast<int>(std::max<std::size_t>(parts_.size(), 1)));
  for (auto& [p, s] : parts_) {
    if (s.next < 0) continue;  // nothing read: the committed offset stands
    if (async) requeue(p, s);
    const auto safe = safe_offset(s);
    if (safe == s.committed) continue;
    rd_kafka_topic_partition_list_add(list, cfg_.topic.c_str(), p)->offset = safe;
    s.committed = safe;
  }
  if (list->cnt > 0) {
    commits_.fetch_add(1, std::memory_order_relaxed);
    const auto rc = rd_kafka_commit(cons_, list, async ? 1 : 0);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR && !async) {
      commit_errors_.fetch_add(1, std::memory_order_relaxed);
      for (int i = 0; i < list->cnt; ++i) {
        auto it = parts_.find(list->elems[i].partition);
        if (it != parts_.end()) it->second.committed = -1;  // try again next time
      }
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
}

void kafka_pairing::impl::publish_counters() {
  correlate::counters t = retired_;
  std::uint64_t pending = 0, bytes = 0, lag = 0;
  for (const auto& [p, s] : parts_) {
    // The fetcher's last high watermark (no round trip); -1 until it knows.
    std::int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(cons_, cfg_.topic.c_str(), p, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0) {
      const auto from = s.next >= 0 ? s.next : std::max<std::int64_t>(low, 0);
      if (high > from) lag += static_cast<std::uint64_t>(high - from);
    }
    const auto& c = s.pairing.stats();
    t.paired += c.paired;
    t.expired += c.expired;
    t.evicted += c.evicted;
    t.duplicates += c.duplicates;
    pending += s.pairing.pending();
    bytes += s.pairing.pending_bytes();
  }
  paired_.store(t.paired, std::memory_order_relaxed);
  expired_.store(t.expired, std::memory_order_relaxed);
  evicted_.store(t.evicted, std::memory_order_relaxed);
  duplicates_.store(t.duplicates, std::memory_order_relaxed);
  pending_.store(pending, std::memory_order_relaxed);
  pending_bytes_.store(bytes, std::memory_order_relaxed);
  partitions_.store(parts_.size(), std::memory_order_relaxed);
  lag_.store(lag, std::memory_order_relaxed);
}

void kafka_pairing::impl::retire(partition& s) {
  const auto& c = s.pairing.stats();
  retired_.paired += c.paired;
  retired_.expired += c.expired;
  retired_.evicted += c.evicted;
  retired_.duplicates += c.duplicates;
  handed_over_.fetch_add(s.pairing.pending(), std::memory_order_relaxed);
}

void kafka_pairing::impl::assign(rd_kafka_topic_partition_list_t* ps) {
  rebalances_.fetch_add(1, std::memory_order_relaxed);
  // A partition that comes back at the very next assignment goes on from where we were, its
  // waiting halves kept: the eager protocol revokes everything at each rebalance, and reading
  // again from the committed offset would store again every pair made since. Nobody owned it
  // in between (an assignment is a barrier: every member has revoked before the next one is
  // given out; had the group gone on without us, the revoke would have said "lost" and the
  // state would be gone). The committed offset is checked anyway, at one round trip per
  // rebalance.
  if (!parked_.empty()) {
    rd_kafka_topic_partition_list_t* c = rd_kafka_topic_partition_list_copy(ps);
    const bool known = rd_kafka_committed(cons_, c, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < ps->cnt; ++i) {
      if (cfg_.topic != ps->elems[i].topic) continue;
      auto it = parked_.find(ps->elems[i].partition);
      if (it == parked_.end()) continue;
      partition& s = it->second;
      // Nobody may have committed past what we read: commits made during a rebalance are
      // refused (REBALANCE_IN_PROGRESS), so ours may be behind, never ahead of our reading.
      const auto there = c->elems[i].offset;
      if (known && c->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && s.next >= 0 &&
          there <= s.next) {
        ps->elems[i].offset = s.next;
        parts_.emplace(it->first, std::move(s));
        parked_.erase(it);
      }
    }
    rd_kafka_topic_partition_list_destroy(c);
    for (auto& [p, s] : parked_) retire(s);  // moved to another agent, or ours again but stale
    parked_.clear();
  }
  std::string told;
  for (int i = 0; i < ps->cnt; ++i) {
    if (cfg_.topic != ps->elems[i].topic) continue;
    const bool fresh = parts_.try_emplace(ps->elems[i].partition, cfg_.correlator).second;
    told += fmt::format(" {}{}", ps->elems[i].partition,
                        fresh ? "" : fmt::format("@{}", ps->elems[i].offset));
  }
  tell({kafka_notice_kind::client_log,
        fmt::format("pairing: assigned partitions{} (@offset: went on where it was)",
                    told.empty() ? " none" : told),
        6, 0});
  if (std::strcmp(rd_kafka_rebalance_protocol(cons_), "COOPERATIVE") == 0) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_assign(cons_, ps)) rd_kafka_error_destroy(e);
  } else {
    rd_kafka_assign(cons_, ps);
  }
  publish_counters();
}

void kafka_pairing::impl::revoke(rd_kafka_topic_partition_list_t* ps, bool lost) {
  // What is paired goes out first, then the offsets that keep the waiting halves are committed
  // (synchronously: the next owner reads from them); the waiting halves are parked until the
  // next assignment says whether the partition stays here.
  flush_out();
  if (!lost) commit(false);
  for (int i = 0; i < ps->cnt; ++i) {
    auto it = parts_.find(ps->elems[i].partition);
    if (it == parts_.end() || cfg_.topic != ps->elems[i].topic) continue;
    if (lost) {
      retire(it->second);
    } else {
      parked_.insert_or_assign(it->first, std::move(it->second));
    }
    parts_.erase(it);
  }
  if (std::strcmp(rd_kafka_rebalance_protocol(cons_), "COOPERATIVE") == 0) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(cons_, ps)) rd_kafka_error_destroy(e);
  } else {
    rd_kafka_assign(cons_, nullptr);
  }
  publish_counters();
}

void kafka_pairing::impl::finish() {
  flush_out();
  commit(false);
  // Leaves the group; the revoke it triggers (on this thread) hands the partitions over.
  rd_kafka_consumer_close(cons_);
  for (auto& [p, s] : parked_) retire(s);
  parked_.clear();
  flush_out();
  publish_counters();
}

void kafka_pairing::impl::on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                                       rd_kafka_topic_partition_list_t* ps,
                                       void* opaque) noexcept {
  auto* self = static_cast<impl*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->assign(ps);
  } else {
    self->revoke(ps, rd_kafka_assignment_lost(self->cons_) != 0);
  }
}

void kafka_pairing::impl::on_commit(rd_kafka_t*, rd_kafka_resp_err_t err,
                                    rd_kafka_topic_partition_list_t* ps, void* opaque) noexcept {
  auto* self = static_cast<impl*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing to commit
  bool bad = err != RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int i = 0; ps != nullptr && i < ps->cnt; ++i) {
    if (ps->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    bad = true;
    auto it = self->parts_.find(ps->elems[i].partition);
    if (it != self->parts_.end()) it->second.committed = -1;  // try again next time
  }
  if (bad) self->commit_errors_.fetch_add(1, std::memory_order_relaxed);
}

void kafka_pairing::impl::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m,
                                      void* opaque) noexcept {
  auto* self = static_cast<impl*>(opaque);
  const auto tag = reinterpret_cast<std::uintptr_t>(m->_private);
  std::uint64_t bytes = tag >> 1;
  if ((tag & 1) == 0) {
    // A requeued half: delivered, the commit may pass its first offset; failed, it is sent
    // again at the next commit. A partition no longer ours keeps the first copy before its
    // committed offset, so the next owner has it either way.
    std::unique_ptr<requeue_ticket> t(static_cast<requeue_ticket*>(m->_private));
    bytes = t->bytes;
    if (partition* s = self->find(t->partition)) {
      if (auto it = s->requeue_unacked.find(t->half.tag); it != s->requeue_unacked.end()) {
        if (--it->second == 0) s->requeue_unacked.erase(it);
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) s->requeue_retry.push_back(std::move(t->half));
      }
    }
  }
  self->in_flight_.fetch_sub(1, std::memory_order_relaxed);
  self->queue_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    // delivered and failed count the halves submit() accepted; requeued copies are not new.
    if ((tag & 1) != 0) self->delivered_.fetch_add(1, std::memory_order_relaxed);
    self->recovered();
    return;
  }
  if ((tag & 1) != 0) self->failed_.fetch_add(1, std::memory_order_relaxed);
  self->trouble(error_text(m->err, rd_kafka_message_errstr(m)));
}

void kafka_pairing::impl::on_error(rd_kafka_t* rk, int err, const char* reason,
                                   void* opaque) noexcept {
  if (auto why = kafka_detail::trouble(rk, err, reason)) static_cast<impl*>(opaque)->trouble(*why);
}

void kafka_pairing::impl::on_log(const rd_kafka_t* rk, int level, const char* fac,
                                 const char* buf) noexcept {
  auto* self = static_cast<impl*>(rd_kafka_opaque(rk));
  if (self == nullptr || !self->notify_) return;
  self->tell({kafka_notice_kind::client_log, std::string(fac) + ": " + buf, level, 0});
}

kafka_pairing::kafka_pairing(pairing_config cfg, pairing_output output, kafka_notify notify)
    : impl_(std::make_unique<impl>()) {
  impl_->cfg_ = std::move(cfg);
  impl_->output_ = std::move(output);
  impl_->notify_ = std::move(notify);
  impl_->start();
}

kafka_pairing::~kafka_pairing() { close(); }

bool kafka_pairing::submit(const correlate::event& e) { return impl_->submit(e); }

void kafka_pairing::close() {
  std::call_once(impl_->close_once_, [this] {
    auto& i = *impl_;
    i.closing_.store(true, std::memory_order_relaxed);
    // The pairing thread waits for our halves' delivery reports (up to the close timeout),
    // pairing those of its own partitions meanwhile, then leaves the group.
    i.flush_deadline_ = steady::now() + i.cfg_.close_timeout;
    i.stop_.store(true, std::memory_order_relaxed);
    i.thread_.join();
    rd_kafka_destroy(i.cons_);
    i.cons_ = nullptr;
    // What is left is purged; its reports (requeue tickets to free) come at once.
    rd_kafka_purge(i.prod_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    const auto until = steady::now() + milliseconds(1000);
    while (i.in_flight_.load(std::memory_order_relaxed) != 0 && steady::now() < until) {
      rd_kafka_poll(i.prod_, 10);
    }
    rd_kafka_topic_destroy(i.prod_topic_);
    rd_kafka_destroy(i.prod_);
    i.prod_ = nullptr;
  });
}

pairing_counters kafka_pairing::stats() const {
  const auto& i = *impl_;
  const auto get = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  pairing_counters c;
  c.produced = get(i.produced_);
  c.dropped = get(i.dropped_);
  c.delivered = get(i.delivered_);
  c.failed = get(i.failed_);
  c.in_flight = get(i.in_flight_);
  c.consumed = get(i.consumed_);
  c.bad_records = get(i.bad_records_);
  c.paired = get(i.paired_);
  c.expired = get(i.expired_);
  c.evicted = get(i.evicted_);
  c.duplicates = get(i.duplicates_);
  c.handed_over = get(i.handed_over_);
  c.rebalances = get(i.rebalances_);
  c.commits = get(i.commits_);
  c.commit_errors = get(i.commit_errors_);
  c.requeued = get(i.requeued_);
  c.partitions = get(i.partitions_);
  c.lag = get(i.lag_);
  c.pending = get(i.pending_);
  c.pending_bytes = get(i.pending_bytes_);
  c.healthy = i.healthy_.load(std::memory_order_relaxed);
  return c;
}

const pairing_config& kafka_pairing::config() const { return impl_->cfg_; }

}  // namespace storage
