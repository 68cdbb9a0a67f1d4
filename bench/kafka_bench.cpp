// SPDX-License-Identifier: Apache-2.0
//
// Exchanges per second through storage::kafka_sink to librdkafka's mock cluster (3 brokers on
// 127.0.0.1, real Kafka protocol over TCP), and what submit() costs the caller.
//
//   kafka_bench [--count N] [--format json|msgpack] [--queue N] [--body BYTES]
//               [--rate PER_SECOND] [--option key=value]...
//   kafka_bench --serve-mock SECONDS [--topic NAME]
//
// Prints one JSON object: submit cost (mean and p99 ns, measured on the calling thread, the
// loop thread's share in the agent), the end-to-end rate (first submit to last delivery
// report), drops, and the close() time. --rate paces submits (0: as fast as possible), to see
// whether a given rate is sustained without drops.
//
// --serve-mock runs only the mock cluster (the same 3 brokers and topic), for another process
// such as the agent (bench/kafka.sh): prints `BOOTSTRAPS host:port,...` on stdout and serves
// until SIGTERM/SIGINT or SECONDS, so its CPU is measured apart from the producer's.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/kafka_sink.h"

namespace {

using steady = std::chrono::steady_clock;

correlate::exchange make(std::uint64_t i, std::size_t body) {
  correlate::exchange x;
  x.id = "7F000001:D13C_" + std::to_string(i);
  x.complete = true;
  correlate::request_half q;
  q.time_us = 1795830243123456 + static_cast<std::int64_t>(i);
  q.method = "POST";
  q.path = "/api/items";
  q.query = "page=2";
  q.version = "1.1";
  q.headers = {{"host", "shop.local"},
               {"user-agent", "curl/7.88.1"},
               {"accept", "*/*"},
               {"content-type", "application/json"},
               {"content-length", std::to_string(body)},
               {"x-request-id", x.id}};
  q.body.data.assign(body, 'a');
  q.body.size = body;
  q.client_ip = "10.0.0.7";
  q.client_port = 51234;
  q.frontend = "fe_main";
  correlate::response_half r;
  r.time_us = q.time_us + 1545;
  r.status = 201;
  r.version = "1.1";
  r.headers = {{"content-type", "application/json"},
               {"content-length", std::to_string(body)},
               {"date", "Sat, 28 Nov 2026 01:44:03 GMT"}};
  r.body.data.assign(body, 'b');
  r.body.size = body;
  r.backend = "be_app";
  r.server = "app1";
  x.request = std::move(q);
  x.response = std::move(r);
  x.duration_us = 1545;
  return x;
}

void quiet_log(const rd_kafka_t*, int, const char*, const char*) {}

// librdkafka's mock cluster: 3 brokers on loopback, `topic` with 3 partitions led by brokers
// 1..3. It runs on threads of `handle`, a producer that is otherwise unused.
struct mock_cluster {
  rd_kafka_t* handle = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;

  explicit mock_cluster(const std::string& topic) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, &quiet_log);
    handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (handle == nullptr) throw std::runtime_error(err);
    mc = rd_kafka_mock_cluster_new(handle, 3);
    rd_kafka_mock_topic_create(mc, topic.c_str(), 3, 3);
    for (int p = 0; p < 3; ++p) rd_kafka_mock_partition_set_leader(mc, topic.c_str(), p, p + 1);
  }
  ~mock_cluster() {
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(handle);
  }
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mc); }
};

// --serve-mock: until SIGTERM/SIGINT or `seconds`. The signals are blocked before librdkafka
// starts its threads (they inherit the mask) and taken with sigtimedwait.
int serve_mock(const std::string& topic, double seconds) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  mock_cluster m(topic);
  std::printf("BOOTSTRAPS %s\n", m.bootstraps().c_str());
  std::fflush(stdout);
  const auto until = steady::now() + std::chrono::duration<double>(seconds);
  while (steady::now() < until) {
    timespec ts{0, 200'000'000};
    if (sigtimedwait(&set, nullptr, &ts) > 0) break;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t count = 200000;
  std::uint64_t rate = 0;
  std::size_t body = 500;
  double serve_seconds = -1;
  storage::kafka_config cfg;
  cfg.topic = "http-exchanges";
  cfg.queue_capacity = 100000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--count") {
      count = std::stoull(v);
    } else if (a == "--format") {
      cfg.format = storage::parse_kafka_format(v).value_or(storage::kafka_format::json);
    } else if (a == "--queue") {
      cfg.queue_capacity = std::stoull(v);
    } else if (a == "--body") {
      body = std::stoull(v);
    } else if (a == "--rate") {
      rate = std::stoull(v);
    } else if (a == "--serve-mock") {
      serve_seconds = std::stod(v);
    } else if (a == "--topic") {
      cfg.topic = v;
    } else if (a == "--option") {
      const auto eq = v.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("--option wants key=value");
      cfg.options.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }

  if (serve_seconds >= 0) return serve_mock(cfg.topic, serve_seconds);
  auto mock = std::make_unique<mock_cluster>(cfg.topic);
  cfg.brokers = mock->bootstraps();
  cfg.close_timeout = std::chrono::seconds(30);

  // Prebuilt, so the loop measures the sink and not the exchange builder.
  std::vector<correlate::exchange> xs;
  xs.reserve(1024);
  for (std::uint64_t i = 0; i < 1024; ++i) xs.push_back(make(i, body));

  std::vector<std::uint32_t> submit_ns;
  submit_ns.reserve(count);
  std::uint64_t refused = 0;
  double elapsed_s = 0;
  storage::kafka_close_result closed;
  storage::kafka_counters s;
  {
    storage::kafka_sink sink(cfg);
    const auto start = steady::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      if (rate != 0) {
        // Sleeps rather than spins, in steps of at least 1 ms, so the pacing leaves the CPU to
        // the sink thread (the agent's loop thread also sleeps between reads).
        const auto due = start + std::chrono::nanoseconds(i * 1'000'000'000ull / rate);
        if (steady::now() < due) std::this_thread::sleep_until(due + std::chrono::milliseconds(1));
      }
      // A fresh record each time, as the agent makes one per exchange (a shared one would have
      // its JSON line cached after the first submit); made outside the timed part.
      auto r = storage::make_record(correlate::exchange(xs[i % xs.size()]));
      const auto t0 = steady::now();
      if (!sink.submit(std::move(r))) ++refused;
      submit_ns.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - t0).count()));
    }
    const auto submitted_at = steady::now();
    const auto accepted = count - refused;
    while (true) {
      s = sink.stats();
      if (s.delivered + s.failed >= accepted) break;
      if (steady::now() - submitted_at > std::chrono::seconds(120)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    elapsed_s = std::chrono::duration<double>(steady::now() - start).count();
    closed = sink.close();
    s = sink.stats();
  }
  mock.reset();

  std::sort(submit_ns.begin(), submit_ns.end());
  double mean = 0;
  for (auto v : submit_ns) mean += v;
  mean /= static_cast<double>(std::max<std::size_t>(submit_ns.size(), 1));
  const auto p99 = submit_ns.empty() ? 0u : submit_ns[submit_ns.size() * 99 / 100];
  std::printf(
      "{\"format\":\"%s\",\"count\":%llu,\"body_bytes\":%zu,\"queue\":%zu,\"rate\":%llu,"
      "\"submit_ns_mean\":%.0f,\"submit_ns_p99\":%u,\"delivered\":%llu,\"failed\":%llu,"
      "\"dropped\":%llu,\"seconds\":%.3f,\"exchanges_per_s\":%.0f,\"mb_per_s\":%.1f,"
      "\"close_ms\":%lld}\n",
      std::string(storage::to_string(cfg.format)).c_str(), static_cast<unsigned long long>(count),
      body, cfg.queue_capacity, static_cast<unsigned long long>(rate), mean, p99,
      static_cast<unsigned long long>(s.delivered), static_cast<unsigned long long>(s.failed),
      static_cast<unsigned long long>(s.dropped), elapsed_s,
      static_cast<double>(s.delivered) / elapsed_s,
      static_cast<double>(s.bytes_delivered) / elapsed_s / 1e6,
      static_cast<long long>(closed.took.count()));
  return s.failed == 0 ? 0 : 1;
}
