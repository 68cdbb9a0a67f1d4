// SPDX-License-Identifier: Apache-2.0
//
// The Kafka sink against librdkafka's mock cluster: three brokers speaking the real Kafka
// protocol over TCP on 127.0.0.1 (created from a separate client handle here), read back by a
// real librdkafka consumer. Every wait is bounded; the bounds are generous because CI runs this
// under ASan on a loaded two-core machine.
#include "storage/kafka_sink.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <msgpack.hpp>
#include <simdjson.h>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/json.h"
#include "storage/store.h"
#include "storage/msgpack_record.h"
#include "test/storage/kafka_mock.h"
#include "test/storage/test_util.h"

using storage_test::conf_set;
using storage_test::make_exchange;
using storage_test::mock_cluster;
using storage_test::quiet_conf;
using storage_test::wait_until;
using storage_test::temp_dir;
using namespace std::chrono_literals;

namespace {

using storage_test::k_partitions;
using storage_test::steady;

struct record {
  std::string key;
  std::string value;
  std::string source;    // header
  std::string complete;  // header
  int headers = 0;
};

std::string header(const rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return "<none>";
  const void* v = nullptr;
  std::size_t n = 0;
  if (rd_kafka_header_get_last(hdrs, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) return "<none>";
  return std::string(static_cast<const char*>(v), n);
}

// A plain consumer assigned every partition of `topic` from the beginning (no group protocol).
class consumer {
 public:
  consumer(const std::string& bootstraps, const std::string& topic) : topic_(topic) {
    rd_kafka_conf_t* conf = quiet_conf();
    conf_set(conf, "bootstrap.servers", bootstraps);
    conf_set(conf, "group.id", "kafka-sink-test");
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "auto.offset.reset", "earliest");
    char err[256];
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk_ == nullptr) throw std::runtime_error(err);
    rd_kafka_poll_set_consumer(rk_);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(k_partitions);
    for (int p = 0; p < k_partitions; ++p) {
      rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    REQUIRE(rd_kafka_assign(rk_, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
  }
  ~consumer() {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  // Reads until `n` records came or `limit` passed.
  std::vector<record> read(std::size_t n, std::chrono::milliseconds limit) {
    std::vector<record> out;
    const auto until = steady::now() + limit;
    while (out.size() < n && steady::now() < until) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        record r;
        r.key.assign(static_cast<const char*>(m->key), m->key_len);
        r.value.assign(static_cast<const char*>(m->payload), m->len);
        r.source = header(m, "source");
        r.complete = header(m, "complete");
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          r.headers = static_cast<int>(rd_kafka_header_cnt(hdrs));
        }
        out.push_back(std::move(r));
      }
      rd_kafka_message_destroy(m);
    }
    return out;
  }

  // Records stored in the topic: the sum of every partition's high watermark. With records read
  // back one by one this tells "exactly once" from "at least once".
  std::int64_t stored() {
    std::int64_t total = 0;
    for (int p = 0; p < k_partitions; ++p) {
      std::int64_t lo = 0, hi = 0;
      REQUIRE(rd_kafka_query_watermark_offsets(rk_, topic_.c_str(), p, &lo, &hi, 10000) ==
              RD_KAFKA_RESP_ERR_NO_ERROR);
      total += hi;
    }
    return total;
  }

 private:
  std::string topic_;
  rd_kafka_t* rk_ = nullptr;
};

// Collects notices from the sink thread.
struct notices {
  std::mutex mu;
  std::vector<storage::kafka_notice> seen;

  storage::kafka_notify callback() {
    return [this](const storage::kafka_notice& n) {
      if (n.kind == storage::kafka_notice_kind::client_log) return;
      std::lock_guard lk(mu);
      seen.push_back(n);
    };
  }
  std::vector<storage::kafka_notice_kind> kinds() {
    std::lock_guard lk(mu);
    std::vector<storage::kafka_notice_kind> k;
    for (const auto& n : seen) k.push_back(n.kind);
    return k;
  }
};

// Exchanges that exercise every field: incomplete ones, bodies that are not UTF-8, invalid
// bytes in headers, extra arguments of each type.
correlate::exchange varied_exchange(int i) {
  auto x = make_exchange("ex-" + std::to_string(i));
  switch (i % 5) {
    case 1:
      x.complete = false;
      x.response.reset();
      x.duration_us = -1;
      x.request->query.reset();
      break;
    case 2:
      x.response->body.data = std::string("\x00\xff\xfe binary", 10);
      x.response->body.size = 1000;
      x.response->body.truncated = true;
      x.request->headers.emplace_back("x-bad", "caf\xE9");
      x.response->elapsed_us = -1;
      break;
    case 3:
      x.source = correlate::source::http;
      x.request->body.captured = false;
      x.request->body.data.clear();
      x.request->body.size = 123;
      x.extra = {{"flag", true},
                 {"neg", std::int64_t{-5}},
                 {"big", std::uint64_t{1} << 63},
                 {"none", std::monostate{}},
                 {"text", std::string("hello \"q\"\n")},
                 {"bin", std::string("\x01\x80\xff", 3)}};
      break;
    case 4:
      x.complete = false;
      x.request.reset();
      x.redacted.clear();
      x.response->status = 503;
      break;
    default:
      break;
  }
  return x;
}

std::string json_payload(const correlate::exchange& x) {
  std::string s;
  storage::append_json_line(x, s);
  s.pop_back();
  return s;
}

std::string msgpack_payload(const correlate::exchange& x) {
  std::string s;
  storage::append_msgpack_record(x, s);
  return s;
}

// msgpack object -> JSON text written the way storage/json.cpp writes it, so a record converts
// back to exactly its JSON line when the two encoders agree on keys, order and values.
void to_json(const msgpack::object& o, std::string& out) {
  switch (o.type) {
    case msgpack::type::NIL:
      out += "null";
      break;
    case msgpack::type::BOOLEAN:
      out += o.via.boolean ? "true" : "false";
      break;
    case msgpack::type::POSITIVE_INTEGER:
      out += std::to_string(o.via.u64);
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      out += std::to_string(o.via.i64);
      break;
    case msgpack::type::STR: {
      const std::string_view s(o.via.str.ptr, o.via.str.size);
      REQUIRE(storage::is_utf8(s));
      storage::append_json_string(s, out);
      break;
    }
    case msgpack::type::ARRAY:
      out += '[';
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        if (i != 0) out += ',';
        to_json(o.via.array.ptr[i], out);
      }
      out += ']';
      break;
    case msgpack::type::MAP:
      out += '{';
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        if (i != 0) out += ',';
        REQUIRE(o.via.map.ptr[i].key.type == msgpack::type::STR);
        to_json(o.via.map.ptr[i].key, out);
        out += ':';
        to_json(o.via.map.ptr[i].val, out);
      }
      out += '}';
      break;
    default:
      FAIL("unexpected msgpack type " << static_cast<int>(o.type));
  }
}

std::string msgpack_to_json(const std::string& bytes) {
  std::size_t off = 0;
  msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size(), off);
  REQUIRE(off == bytes.size());
  std::string out;
  to_json(oh.get(), out);
  return out;
}

storage::kafka_config sink_config(const std::string& bootstraps, const std::string& topic) {
  storage::kafka_config c;
  c.brokers = bootstraps;
  c.topic = topic;
  c.close_timeout = 10s;
  // The mock cluster is on loopback: reconnect quickly once a broker is back.
  c.options = {{"reconnect.backoff.max.ms", "500"}};
  return c;
}

void check_balance(const storage::kafka_counters& s) {
  CHECK(s.submitted == s.delivered + s.failed + s.in_flight + s.left);
}

// Reads `expected` back and checks each record once, with its key, headers and payload.
void check_topic(const mock_cluster& mc, const std::string& topic,
                 const std::map<std::string, correlate::exchange>& expected,
                 storage::kafka_format format) {
  consumer c(mc.bootstraps(), topic);
  const auto records = c.read(expected.size(), 60s);
  REQUIRE(records.size() == expected.size());
  std::set<std::string> seen;
  for (const auto& r : records) {
    INFO("key " << r.key);
    REQUIRE(seen.insert(r.key).second);  // no record twice
    const auto it = expected.find(r.key);
    REQUIRE(it != expected.end());
    const auto& x = it->second;
    CHECK(r.headers == 2);
    CHECK(r.source == correlate::to_string(x.source));
    CHECK(r.complete == (x.complete ? "true" : "false"));
    if (format == storage::kafka_format::json) {
      CHECK(r.value == json_payload(x));
    } else {
      CHECK(r.value == msgpack_payload(x));
      CHECK(msgpack_to_json(r.value) == json_payload(x));
    }
  }
  CHECK(c.stored() == static_cast<std::int64_t>(expected.size()));
}

}  // namespace

TEST_CASE("msgpack record decodes to the JSON line", "[storage][kafka]") {
  for (int i = 0; i < 10; ++i) {
    const auto x = varied_exchange(i);
    INFO("exchange " << i);
    CHECK(msgpack_to_json(msgpack_payload(x)) == json_payload(x));
  }
  // Invalid UTF-8 in the id is replaced as in JSON, so both forms name the exchange alike.
  auto x = make_exchange(std::string("id-\xff", 4));
  CHECK(msgpack_to_json(msgpack_payload(x)) == json_payload(x));
}

TEST_CASE("kafka format names", "[storage][kafka]") {
  CHECK(storage::parse_kafka_format("json") == storage::kafka_format::json);
  CHECK(storage::parse_kafka_format("msgpack") == storage::kafka_format::msgpack);
  CHECK_FALSE(storage::parse_kafka_format("avro").has_value());
  CHECK(storage::to_string(storage::kafka_format::msgpack) == "msgpack");
}

TEST_CASE("kafka sink refuses a bad configuration at construction", "[storage][kafka]") {
  storage::kafka_config c;
  CHECK_THROWS_AS(storage::kafka_sink(c), std::runtime_error);  // no brokers
  c.brokers = "127.0.0.1:1";
  c.options = {{"no.such.option", "1"}};
  CHECK_THROWS_WITH(storage::kafka_sink(c), Catch::Contains("no.such.option"));
  c.options = {{"linger.ms", "-3"}};
  CHECK_THROWS_AS(storage::kafka_sink(c), std::runtime_error);
}

TEST_CASE("kafka sink: N exchanges in make exactly N records out", "[storage][kafka]") {
  const auto format = GENERATE(storage::kafka_format::json, storage::kafka_format::msgpack);
  INFO("format " << storage::to_string(format));
  const std::string topic = "exchanges";
  mock_cluster mc(topic);
  notices seen;
  auto cfg = sink_config(mc.bootstraps(), topic);
  cfg.format = format;
  storage::kafka_sink sink(cfg, seen.callback());

  constexpr int n = 2000;
  std::map<std::string, correlate::exchange> expected;
  for (int i = 0; i < n; ++i) {
    auto x = varied_exchange(i);
    REQUIRE(sink.submit(x));  // the copying overload, as the agent uses it beside the file store
    expected.emplace(x.id, std::move(x));
  }
  REQUIRE(wait_until([&] { return sink.stats().delivered == n; }, 60s));
  const auto r = sink.close();
  CHECK(r.left == 0);
  const auto s = sink.stats();
  CHECK(s.submitted == n);
  CHECK(s.delivered == n);
  CHECK(s.failed == 0);
  CHECK(s.dropped == 0);
  CHECK(s.in_flight == 0);
  CHECK(s.queue_bytes == 0);
  CHECK(s.healthy);
  CHECK(seen.kinds().empty());
  check_balance(s);
  check_topic(mc, topic, expected, format);
}

TEST_CASE("kafka sink and file store sharing records: the topic holds the file's lines",
          "[storage][kafka]") {
  // As the agent hands each exchange to both sinks: one record, one JSON line made by whichever
  // thread gets there first. Either way, each Kafka value is the file's line without its '\n'.
  const std::string topic = "exchanges";
  mock_cluster mc(topic);
  storage::kafka_sink sink(sink_config(mc.bootstraps(), topic));
  temp_dir dir;
  const auto sc = storage_test::config_for(dir);
  storage::store st(sc);

  constexpr int n = 500;
  std::map<std::string, correlate::exchange> expected;
  for (int i = 0; i < n; ++i) {
    auto x = varied_exchange(i);
    expected.emplace(x.id, x);
    auto r = storage::make_record(std::move(x));
    REQUIRE(sink.submit(r));
    REQUIRE(st.submit(std::move(r)));
  }
  st.flush();
  REQUIRE(wait_until([&] { return sink.stats().delivered == n; }, 60s));
  sink.close();
  st.close();

  std::map<std::string, std::string> file_lines;  // id -> line without '\n'
  for (const auto& f : storage_test::segment_files(sc.data_dir / "segments")) {
    std::ifstream in(f, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      simdjson::dom::parser p;
      const auto doc = p.parse(line);
      REQUIRE(doc.error() == simdjson::SUCCESS);
      file_lines.emplace(std::string(doc["id"].get_string().value()), line);
    }
  }
  REQUIRE(file_lines.size() == n);
  consumer c(mc.bootstraps(), topic);
  const auto records = c.read(n, 60s);
  REQUIRE(records.size() == n);
  for (const auto& r : records) {
    INFO("key " << r.key);
    const auto it = file_lines.find(r.key);
    REQUIRE(it != file_lines.end());
    CHECK(r.value == it->second);
    CHECK(r.value == json_payload(expected.at(r.key)));
  }
  CHECK(c.stored() == n);
}

TEST_CASE("kafka sink: a broker down for a few seconds loses and duplicates nothing",
          "[storage][kafka]") {
  const std::string topic = "exchanges";
  mock_cluster mc(topic);
  storage::kafka_sink sink(sink_config(mc.bootstraps(), topic));
  std::map<std::string, correlate::exchange> expected;
  int next = 0;
  const auto submit = [&](int count) {
    for (int i = 0; i < count; ++i) {
      auto x = varied_exchange(next++);
      REQUIRE(sink.submit(x));
      expected.emplace(x.id, std::move(x));
    }
  };

  submit(300);
  REQUIRE(wait_until([&] { return sink.stats().delivered == 300; }, 60s));

  // Broker 2 leads partition 1: its records wait, and
  // whatever was in flight when the connection dropped is retried by the idempotent producer.
  submit(100);
  mc.down(2);
  const auto down_until = steady::now() + 3s;
  while (steady::now() < down_until) {
    submit(50);
    std::this_thread::sleep_for(100ms);
  }
  CHECK(sink.stats().in_flight > 0);  // the partitions broker 2 leads are stuck meanwhile
  mc.up(2);
  submit(100);

  const auto total = static_cast<std::uint64_t>(expected.size());
  REQUIRE(wait_until([&] { return sink.stats().delivered == total; }, 90s));
  sink.close();
  const auto s = sink.stats();
  CHECK(s.delivered == total);
  CHECK(s.failed == 0);
  CHECK(s.dropped == 0);
  CHECK(s.left == 0);
  check_balance(s);
  check_topic(mc, topic, expected, storage::kafka_format::json);
}

TEST_CASE("kafka sink: the whole cluster gone past the queue drops exactly the excess",
          "[storage][kafka]") {
  const std::string topic = "exchanges";
  mock_cluster mc(topic);
  notices seen;
  auto cfg = sink_config(mc.bootstraps(), topic);
  cfg.queue_capacity = 40;
  storage::kafka_sink sink(cfg, seen.callback());
  std::map<std::string, correlate::exchange> expected;

  for (int i = 0; i < 10; ++i) {
    auto x = varied_exchange(i);
    REQUIRE(sink.submit(x));
    expected.emplace(x.id, std::move(x));
  }
  REQUIRE(wait_until([&] { return sink.stats().delivered == 10; }, 60s));

  mc.down(-1);
  // 40 fit; the next 460 are dropped, and not one submit() waits for the cluster.
  int accepted = 0;
  auto slowest = steady::duration::zero();
  const auto start = steady::now();
  for (int i = 10; i < 510; ++i) {
    auto x = varied_exchange(i);
    const auto t0 = steady::now();
    const bool ok = sink.submit(x);
    slowest = std::max(slowest, steady::now() - t0);
    if (ok) {
      ++accepted;
      expected.emplace(x.id, std::move(x));
    }
  }
  const auto took = steady::now() - start;
  CHECK(accepted == 40);
  auto s = sink.stats();
  CHECK(s.dropped == 460);
  CHECK(s.in_flight == 40);
  CHECK(s.delivered == 10);
  check_balance(s);
  CHECK(took < 2s);
  CHECK(slowest < 500ms);

  // librdkafka notices that no broker is left; the sink says so once.
  CHECK(wait_until([&] { return !seen.kinds().empty(); }, 30s));
  CHECK_FALSE(sink.stats().healthy);

  mc.up(-1);
  REQUIRE(wait_until([&] { return sink.stats().delivered == 50; }, 90s));
  CHECK(wait_until([&] { return sink.stats().healthy; }, 10s));
  sink.close();
  s = sink.stats();
  CHECK(s.delivered == 50);
  CHECK(s.failed == 0);
  CHECK(s.dropped == 460);
  check_balance(s);
  CHECK(seen.kinds() ==
        std::vector{storage::kafka_notice_kind::failing, storage::kafka_notice_kind::recovered});
  check_topic(mc, topic, expected, storage::kafka_format::json);
}

TEST_CASE("kafka sink: close() with the cluster gone is bounded and counts what is left",
          "[storage][kafka]") {
  const std::string topic = "exchanges";
  mock_cluster mc(topic);
  auto cfg = sink_config(mc.bootstraps(), topic);
  cfg.queue_capacity = 25;
  cfg.close_timeout = 1500ms;
  storage::kafka_sink sink(cfg);
  REQUIRE(sink.submit(varied_exchange(0)));
  REQUIRE(wait_until([&] { return sink.stats().delivered == 1; }, 60s));

  mc.down(-1);
  for (int i = 1; i <= 100; ++i) sink.submit(varied_exchange(i));
  CHECK(sink.stats().dropped == 75);

  const auto t0 = steady::now();
  const auto r = sink.close();
  const auto took = steady::now() - t0;
  CHECK(r.left == 25);
  CHECK(r.delivered == 0);
  CHECK(r.took >= 1400ms);    // it did wait for the cluster...
  CHECK(took < 1500ms + 5s);  // ...but not much past the deadline
  auto s = sink.stats();
  CHECK(s.left == 25);
  CHECK(s.in_flight == 0);
  CHECK(s.failed == 0);
  check_balance(s);

  // Closed: refused and counted, and a second close() returns the first result at once.
  CHECK_FALSE(sink.submit(varied_exchange(999)));
  CHECK(sink.stats().dropped == 76);
  CHECK(sink.close().left == 25);
}

TEST_CASE("kafka sink: no cluster at all", "[storage][kafka]") {
  storage::kafka_config cfg;
  cfg.brokers = "127.0.0.1:1";  // nothing listens on port 1
  cfg.close_timeout = 500ms;
  notices seen;
  storage::kafka_sink sink(cfg, seen.callback());
  for (int i = 0; i < 10; ++i) REQUIRE(sink.submit(varied_exchange(i)));
  CHECK(wait_until([&] { return !seen.kinds().empty(); }, 30s));
  const auto t0 = steady::now();
  const auto r = sink.close();
  CHECK(steady::now() - t0 < 500ms + 5s);
  CHECK(r.left == 10);
  const auto s = sink.stats();
  CHECK(s.delivered == 0);
  check_balance(s);
  CHECK(seen.kinds() == std::vector{storage::kafka_notice_kind::failing});
}
