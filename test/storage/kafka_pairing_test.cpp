// SPDX-License-Identifier: Apache-2.0
//
// Kafka pairing against librdkafka's mock cluster (three brokers over TCP on 127.0.0.1): real
// producers, a real consumer group, real offset commits. Each "agent" here is one
// storage::kafka_pairing; the halves of a transaction reach different agents, as they do when
// HAProxy spreads its SPOP connections over replicas. Waits are bounded and generous (ASan on
// a loaded two-core machine, and group joins that take a few seconds).
#include "storage/kafka_pairing.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "test/storage/kafka_mock.h"
#include "test/storage/test_util.h"

using namespace std::chrono_literals;
using storage_test::mock_cluster;
using storage_test::steady;
using storage_test::wait_until;

namespace {

constexpr int k_halves_partitions = 4;

correlate::event request(std::string id) {
  auto r = storage_test::make_request();
  r.path = "/p/" + id;
  return correlate::event{std::move(id), correlate::source::spop, std::move(r), {}};
}

correlate::event response(std::string id, int status = 200) {
  auto r = storage_test::make_response();
  r.status = status;
  return correlate::event{std::move(id), correlate::source::spop, std::move(r), {}};
}

// One agent's pairing and what it handed over.
class agent {
 public:
  agent(const std::string& brokers, const std::string& topic, correlate::config cc = {}) {
    storage::pairing_config c;
    c.brokers = brokers;
    c.topic = topic;
    c.group = "g-" + topic;
    c.correlator = cc;
    c.commit_interval = 200ms;
    c.expiry_interval = 50ms;
    // Quick failure detection for the tests; the mock cluster honours it.
    c.options = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"},
                 {"topic.metadata.refresh.interval.ms", "1000"}};
    p = std::make_unique<storage::kafka_pairing>(
        std::move(c),
        [this](std::vector<correlate::exchange>& xs) {
          std::lock_guard lk(mu_);
          for (auto& x : xs) out_.push_back(std::move(x));
        },
        [](const storage::kafka_notice&) {});
  }
  // Closed before the members its output callback uses go away.
  ~agent() { p->close(); }
  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;
  std::vector<correlate::exchange> taken() {
    std::lock_guard lk(mu_);
    return out_;
  }
  std::size_t count() {
    std::lock_guard lk(mu_);
    return out_.size();
  }
  std::unique_ptr<storage::kafka_pairing> p;

 private:
  std::mutex mu_;
  std::vector<correlate::exchange> out_;
};

// Quick commits and expiry, requeue after `after` once `min_records` came after a half.
storage::pairing_config requeue_config(const std::string& brokers, const std::string& topic,
                                       std::chrono::milliseconds after, std::int64_t min_records,
                                       std::int64_t ttl_us) {
  storage::pairing_config c;
  c.brokers = brokers;
  c.topic = topic;
  c.group = "g-" + topic;
  c.commit_interval = 100ms;
  c.expiry_interval = 50ms;
  c.requeue_after = after;
  c.requeue_min_records = min_records;
  c.correlator.ttl_us = ttl_us;
  return c;
}

// Every partition of the topic owned by someone among `agents`, each owning at least one.
bool group_settled(const std::vector<agent*>& agents) {
  std::uint64_t total = 0;
  for (auto* a : agents) {
    const auto n = a->p->stats().partitions;
    if (n == 0) return false;
    total += n;
  }
  return total == k_halves_partitions;
}

}  // namespace

TEST_CASE("two agents pair the halves HAProxy sent to one or the other", "[storage][pairing]") {
  const std::string topic = "halves-two";
  mock_cluster mc(topic, k_halves_partitions);
  agent a(mc.bootstraps(), topic), b(mc.bootstraps(), topic);
  REQUIRE(wait_until([&] { return group_settled({&a, &b}); }, 60s));

  constexpr int n = 200;
  for (int i = 0; i < n; ++i) {
    const auto id = "t" + std::to_string(i);
    // Requests to a, responses to b; every tenth the other way round.
    REQUIRE((i % 10 == 0 ? b : a).p->submit(request(id)));
    REQUIRE((i % 10 == 0 ? a : b).p->submit(response(id, 200 + i % 5)));
  }
  REQUIRE(wait_until([&] { return a.count() + b.count() >= n; }, 60s));
  std::this_thread::sleep_for(300ms);  // nothing more may come

  std::map<std::string, int> seen;
  std::size_t by_a = 0;
  for (auto* ag : {&a, &b}) {
    for (const auto& x : ag->taken()) {
      seen[x.id]++;
      CHECK(x.complete);
      REQUIRE(x.request.has_value());
      REQUIRE(x.response.has_value());
      CHECK(x.request->path == "/p/" + x.id);
      CHECK(x.response->status == 200 + std::stoi(x.id.substr(1)) % 5);
      if (ag == &a) ++by_a;
    }
  }
  CHECK(seen.size() == n);
  for (const auto& [id, times] : seen) {
    INFO(id);
    CHECK(times == 1);
  }
  // Both owned partitions, so both paired some.
  CHECK(by_a > 0);
  CHECK(by_a < n);
  const auto sa = a.p->stats(), sb = b.p->stats();
  CHECK(sa.produced + sb.produced == 2 * n);
  CHECK(wait_until([&] { return a.p->stats().delivered + b.p->stats().delivered == 2 * n; }, 30s));
  CHECK(sa.paired + sb.paired == n);
  CHECK(sa.dropped + sb.dropped == 0);
  CHECK(sa.bad_records + sb.bad_records == 0);
}

TEST_CASE("halves waiting when their owner leaves are paired by the next one",
          "[storage][pairing]") {
  const std::string topic = "halves-handover";
  mock_cluster mc(topic, k_halves_partitions);
  constexpr int n = 50;
  {
    agent a(mc.bootstraps(), topic);
    REQUIRE(wait_until([&] { return a.p->stats().partitions == k_halves_partitions; }, 60s));
    for (int i = 0; i < n; ++i) REQUIRE(a.p->submit(request("h" + std::to_string(i))));
    REQUIRE(wait_until([&] { return a.p->stats().pending == n; }, 30s));
    a.p->close();
    CHECK(a.count() == 0);  // left waiting in the topic, not stored incomplete
    CHECK(a.p->stats().handed_over == n);
  }
  agent b(mc.bootstraps(), topic);
  REQUIRE(wait_until([&] { return b.p->stats().partitions == k_halves_partitions; }, 60s));
  for (int i = 0; i < n; ++i) REQUIRE(b.p->submit(response("h" + std::to_string(i))));
  REQUIRE(wait_until([&] { return b.count() >= n; }, 60s));
  std::this_thread::sleep_for(300ms);
  const auto xs = b.taken();
  CHECK(xs.size() == n);
  for (const auto& x : xs) {
    INFO(x.id);
    CHECK(x.complete);
    CHECK(x.request->path == "/p/" + x.id);
  }
}

TEST_CASE("a pair made before its owner left is not made again by the next one",
          "[storage][pairing]") {
  const std::string topic = "halves-committed";
  mock_cluster mc(topic, k_halves_partitions);
  {
    agent a(mc.bootstraps(), topic);
    REQUIRE(wait_until([&] { return a.p->stats().partitions == k_halves_partitions; }, 60s));
    for (int i = 0; i < 20; ++i) {
      REQUIRE(a.p->submit(request("c" + std::to_string(i))));
      REQUIRE(a.p->submit(response("c" + std::to_string(i))));
    }
    REQUIRE(wait_until([&] { return a.count() >= 20; }, 30s));
  }  // closed: nothing waits, so every offset is committed
  agent b(mc.bootstraps(), topic);
  REQUIRE(wait_until([&] { return b.p->stats().partitions == k_halves_partitions; }, 60s));
  REQUIRE(b.p->submit(request("late")));
  REQUIRE(b.p->submit(response("late")));
  REQUIRE(wait_until([&] { return b.count() >= 1; }, 30s));
  std::this_thread::sleep_for(500ms);
  const auto xs = b.taken();
  REQUIRE(xs.size() == 1);
  CHECK(xs[0].id == "late");
  CHECK(b.p->stats().consumed == 2);
}

TEST_CASE("a half whose partner never comes is handed over incomplete after the TTL",
          "[storage][pairing]") {
  const std::string topic = "halves-ttl";
  mock_cluster mc(topic, k_halves_partitions);
  correlate::config cc;
  cc.ttl_us = 300'000;
  agent a(mc.bootstraps(), topic, cc);
  REQUIRE(wait_until([&] { return a.p->stats().partitions == k_halves_partitions; }, 60s));
  REQUIRE(a.p->submit(request("lonely")));
  REQUIRE(wait_until([&] { return a.count() >= 1; }, 30s));
  const auto xs = a.taken();
  REQUIRE(xs.size() == 1);
  CHECK_FALSE(xs[0].complete);
  CHECK(xs[0].request.has_value());
  CHECK_FALSE(xs[0].response.has_value());
  CHECK(a.p->stats().expired == 1);
  CHECK(a.p->stats().pending == 0);
}

TEST_CASE("records that are not halves are counted and skipped, pairing goes on",
          "[storage][pairing]") {
  const std::string topic = "halves-foreign";
  mock_cluster mc(topic, k_halves_partitions);
  agent a(mc.bootstraps(), topic);
  REQUIRE(wait_until([&] { return a.p->stats().partitions == k_halves_partitions; }, 60s));
  {
    // Someone else's producer writes JSON to our topic.
    char err[256];
    rd_kafka_conf_t* conf = storage_test::quiet_conf();
    storage_test::conf_set(conf, "bootstrap.servers", mc.bootstraps());
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    REQUIRE(rk != nullptr);
    const std::string v = R"({"not":"a half"})";
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    REQUIRE(rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                             const_cast<char*>(v.data()), v.size(), nullptr, 0, nullptr) == 0);
    REQUIRE(rd_kafka_flush(rk, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
  }
  REQUIRE(wait_until([&] { return a.p->stats().bad_records == 1; }, 30s));
  REQUIRE(a.p->submit(request("after")));
  REQUIRE(a.p->submit(response("after")));
  REQUIRE(wait_until([&] { return a.count() >= 1; }, 30s));
  CHECK(a.taken()[0].complete);
}

TEST_CASE("with the cluster away halves wait in a bounded queue, the rest are dropped and counted",
          "[storage][pairing]") {
  const std::string topic = "halves-outage";
  mock_cluster mc(topic, k_halves_partitions);
  storage::pairing_config c;
  c.brokers = mc.bootstraps();
  c.topic = topic;
  c.queue_capacity = 10;
  c.close_timeout = 500ms;
  mc.down(-1);
  storage::kafka_pairing p(c, [](std::vector<correlate::exchange>&) {}, {});
  const auto t0 = steady::now();
  int accepted = 0;
  for (int i = 0; i < 25; ++i) accepted += p.submit(request("o" + std::to_string(i))) ? 1 : 0;
  CHECK(steady::now() - t0 < 1s);  // never waits on the network
  CHECK(accepted == 10);
  const auto s = p.stats();
  CHECK(s.produced == 10);
  CHECK(s.dropped == 15);
  CHECK(s.in_flight == 10);
  mc.up(-1);
  CHECK(wait_until([&] { return p.stats().delivered == 10; }, 60s));
}

TEST_CASE("the commit never splits a pair, so a new owner finds no half alone",
          "[storage][pairing]") {
  // One partition, so the order of the halves is known: req a (0), req b (1), res a (2).
  // b waits at 1, but committing 1 would leave res a alone for the next owner (waiting for a
  // partner that never comes, then stored as an incomplete copy of a pair already stored):
  // the commit stays at 0.
  const std::string topic = "halves-straddle";
  mock_cluster mc(topic, 1);
  {
    agent a(mc.bootstraps(), topic);
    REQUIRE(wait_until([&] { return a.p->stats().partitions == 1; }, 60s));
    REQUIRE(a.p->submit(request("a")));
    REQUIRE(wait_until([&] { return a.p->stats().consumed == 1; }, 30s));
    REQUIRE(a.p->submit(request("b")));
    REQUIRE(wait_until([&] { return a.p->stats().consumed == 2; }, 30s));
    REQUIRE(a.p->submit(response("a")));
    REQUIRE(wait_until([&] { return a.count() == 1; }, 30s));
    std::this_thread::sleep_for(500ms);  // a commit or two
  }
  agent b(mc.bootstraps(), topic);
  REQUIRE(wait_until([&] { return b.p->stats().partitions == 1; }, 60s));
  // It read from offset 0: all three.
  REQUIRE(wait_until([&] { return b.p->stats().consumed >= 3; }, 30s));
  REQUIRE(b.p->submit(response("b")));
  REQUIRE(wait_until([&] {
    for (const auto& x : b.taken()) {
      if (x.id == "b") return true;
    }
    return false;
  }, 30s));
  // Nothing waits: with the commit at 1, res a would.
  CHECK(wait_until([&] { return b.p->stats().pending == 0; }, 10s));
  for (const auto& x : b.taken()) {
    INFO(x.id);
    CHECK(x.complete);  // a again (at-least-once across the move) and b; nothing alone
  }
}

TEST_CASE("a half that waits long is requeued and the commit moves past it, its age kept",
          "[storage][pairing]") {
  const std::string topic = "halves-requeue";
  mock_cluster mc(topic, 1);
  const auto c = requeue_config(mc.bootstraps(), topic, 300ms, 1, 60'000'000);
  std::mutex mu;
  std::vector<correlate::exchange> out;
  const auto output = [&](std::vector<correlate::exchange>& xs) {
    std::lock_guard lk(mu);
    for (auto& x : xs) out.push_back(std::move(x));
  };
  {
    storage::kafka_pairing a(c, output, {});
    REQUIRE(wait_until([&] { return a.stats().partitions == 1; }, 60s));
    REQUIRE(a.submit(request("slow")));
    for (int i = 0; i < 10; ++i) {
      REQUIRE(a.submit(request("q" + std::to_string(i))));
      REQUIRE(a.submit(response("q" + std::to_string(i))));
    }
    // Requeued at least once (and again while it waits), still waiting, nothing stored alone.
    REQUIRE(wait_until([&] { return a.stats().requeued >= 2; }, 30s));
    // Back from the topic between requeues (it is out in flight for a moment each time).
    CHECK(wait_until([&] { return a.stats().pending == 1; }, 10s));
    std::lock_guard lk(mu);
    CHECK(out.size() == 10);
  }
  // The next owner reads from after the first copy: it does not pair the ten again, and it
  // pairs the straggler with its partner.
  storage::kafka_pairing b(c, output, {});
  REQUIRE(wait_until([&] { return b.stats().partitions == 1; }, 60s));
  REQUIRE(b.submit(response("slow")));
  REQUIRE(wait_until([&] { std::lock_guard lk(mu); return out.size() >= 11; }, 30s));
  std::this_thread::sleep_for(300ms);
  std::lock_guard lk(mu);
  REQUIRE(out.size() == 11);
  CHECK(out.back().id == "slow");
  CHECK(out.back().complete);
  CHECK(b.stats().consumed <= 3);  // the last copy of "slow" (perhaps two) and its partner
}

TEST_CASE("a requeued half keeps its age: it expires a TTL after it first arrived",
          "[storage][pairing]") {
  const std::string topic = "halves-requeue-ttl";
  mock_cluster mc(topic, 1);
  const auto c = requeue_config(mc.bootstraps(), topic, 200ms, 0, 1'500'000);
  std::atomic<int> incomplete{0};
  storage::kafka_pairing a(
      c,
      [&](std::vector<correlate::exchange>& xs) {
        for (const auto& x : xs) incomplete += x.complete ? 0 : 1;
      },
      {});
  REQUIRE(wait_until([&] { return a.stats().partitions == 1; }, 60s));
  const auto t0 = steady::now();
  REQUIRE(a.submit(request("old")));
  REQUIRE(wait_until([&] { return incomplete.load() == 1; }, 30s));
  const auto took = steady::now() - t0;
  CHECK(a.stats().requeued >= 2);
  CHECK(took >= 1400ms);
  CHECK(took < 6s);  // not restarted by each requeue
}
