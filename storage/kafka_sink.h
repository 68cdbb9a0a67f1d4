// SPDX-License-Identifier: Apache-2.0
//
// The Kafka sink: streams every exchange to one Kafka topic with librdkafka, beside (or instead
// of) the file store.
//
// One record per exchange. Key: the exchange id (as the JSON record spells it: valid UTF-8).
// Headers: `source` ("spop" | "http") and `complete` ("true" | "false"). Value: the JSON line
// of storage::append_json_line() without its '\n', or storage::append_msgpack_record().
// The producer is idempotent (enable.idempotence=true), so librdkafka's retries never write a
// record twice.
//
// Threads: submit() is called from the loop thread and never waits on the network: it takes a
// short lock, queues the record and returns. One sink thread serialises (or takes the JSON line
// the file store already made), produces and serves librdkafka's delivery reports; librdkafka's
// own threads talk to the brokers.
//
// Bound: at most `queue_capacity` exchanges (and about `queue_bytes` bytes) are held between
// submit() and their delivery report, whether they still wait for the sink thread or sit in
// librdkafka's queue. Past it, submit() drops and counts. So an absent or slow cluster costs
// that much memory and no more, and never slows the caller; an exchange is either delivered,
// failed (librdkafka gave up: message.timeout.ms, 5 minutes by default, or a permanent error),
// dropped at submit(), or left over at close(), and each is counted:
//   submitted == delivered + failed + in_flight (+ left after close).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "correlate/types.h"
#include "storage/record.h"

namespace storage {

enum class kafka_format : std::uint8_t { json = 0, msgpack = 1 };
std::string_view to_string(kafka_format f);
// "json" or "msgpack"; nothing for anything else.
std::optional<kafka_format> parse_kafka_format(std::string_view s);

struct kafka_config {
  std::string brokers;  // bootstrap.servers: "host:port,host:port"
  std::string topic = "http-exchanges";
  kafka_format format = kafka_format::json;
  // Passed to librdkafka as they are, after the sink's own settings (so they may override
  // them, enable.idempotence included): SASL, TLS, compression.type, linger.ms, ...
  std::vector<std::pair<std::string, std::string>> options;
  std::size_t queue_capacity = 100000;            // exchanges from submit() to delivery report
  std::uint64_t queue_bytes = 256ull << 20;       // their record::approx_bytes() (0: no bound)
  std::chrono::milliseconds close_timeout{5000};  // close(): longest wait for deliveries
};

// Counters; monotonic except the gauges. `failed` includes records librdkafka refused at
// produce time (e.g. bigger than message.max.bytes).
struct kafka_counters {
  std::uint64_t submitted = 0;        // accepted by submit()
  std::uint64_t dropped = 0;          // refused by submit(): queue full (or the sink closed)
  std::uint64_t delivered = 0;        // acknowledged by the cluster
  std::uint64_t failed = 0;           // delivery failed: the record is lost
  std::uint64_t left = 0;             // still undelivered when close() gave up (purged)
  std::uint64_t bytes_delivered = 0;  // payload bytes of delivered records
  std::uint64_t in_flight = 0;        // gauge: accepted, no delivery report yet
  std::uint64_t queue_bytes = 0;      // gauge: their approximate bytes
  bool healthy = true;                // gauge: false between a failure notice and its recovery
};

// What the sink tells its owner (libraries do not log: STYLE.md §7). `failing` and `recovered`
// come once each per outage; `client_log` passes librdkafka's own log lines on (connection
// failures and the like, possibly many during an outage: log them at debug).
enum class kafka_notice_kind : std::uint8_t {
  failing = 0,     // first delivery failure, or the cluster became unreachable, or fatal error
  recovered = 1,   // first successful delivery after `failing`
  client_log = 2,  // one librdkafka log line
};
std::string_view to_string(kafka_notice_kind k);

struct kafka_notice {
  kafka_notice_kind kind = kafka_notice_kind::failing;
  // failing: librdkafka's error name and text, e.g. "_ALL_BROKERS_DOWN: 3/3 brokers are down".
  // client_log: "<facility>: <message>". recovered: empty.
  std::string reason;
  int syslog_level = 0;  // client_log: librdkafka's level (3 error, 4 warning, ... 7 debug)
  // recovered: records that failed during the outage. failing: 0.
  std::uint64_t failed_during = 0;
};

// Called on the sink thread, or on the thread in close() while close() runs; never from
// submit(). Must not throw and must not call back into the sink.
using kafka_notify = std::function<void(const kafka_notice&)>;

// What close() did.
struct kafka_close_result {
  std::uint64_t delivered = 0;  // delivered during close()
  std::uint64_t left = 0;       // still undelivered at the deadline, now purged and lost
  std::chrono::milliseconds took{0};
};

class kafka_sink {
 public:
  // Creates the producer and starts the sink thread. Connects lazily: an unreachable cluster
  // is not an error here. Throws std::runtime_error with librdkafka's message for a config
  // librdkafka refuses (unknown option, bad value, empty brokers or topic, queue_capacity 0).
  kafka_sink(kafka_config cfg, kafka_notify notify = {});
  ~kafka_sink();  // calls close()
  kafka_sink(const kafka_sink&) = delete;
  kafka_sink& operator=(const kafka_sink&) = delete;

  // Queues the record. Never blocks on the network; returns false and counts a drop when the
  // bound is reached or after close(). The record may be shared with the file store: in the
  // JSON format its line is made once for both (storage/record.h).
  bool submit(record_ptr r);
  bool submit(correlate::exchange&& x) { return submit(make_record(std::move(x))); }
  // Copies `x` into a record, unless the bound refuses it anyway.
  bool submit(const correlate::exchange& x);

  // Stops accepting, produces what is queued, waits up to close_timeout for delivery reports,
  // then purges what is left (counted in `left`) and destroys the producer. Returns within
  // close_timeout, plus up to a second for the purge and librdkafka's own shutdown. Idempotent:
  // later calls return the first result.
  kafka_close_result close();

  kafka_counters stats() const;  // thread-safe

  const kafka_config& config() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace storage
