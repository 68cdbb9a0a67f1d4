// SPDX-License-Identifier: Apache-2.0
//
// The real agent with --pairing kafka against librdkafka's mock cluster over TCP: what leaves
// the agent for the halves topic is already redacted (headers and JSON body fields), the pair
// it makes back is stored, and with --no-kafka-exchanges nothing is produced to the exchanges
// topic.
#include <librdkafka/rdkafka.h>

#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

#include "storage/half_codec.h"
#include "test/agent/http_client.h"
#include "test/storage/kafka_mock.h"

namespace {

using http_test::poll_until;
using http_test::request;
using http_test::running_agent;

// Every record of `topic` from the beginning, read by a consumer of its own (no group), until
// `want` came or 10 s passed.
std::vector<std::string> read_topic(const std::string& bootstraps, const std::string& topic,
                                    int partitions, std::size_t want) {
  rd_kafka_conf_t* conf = storage_test::quiet_conf();
  storage_test::conf_set(conf, "bootstrap.servers", bootstraps);
  storage_test::conf_set(conf, "group.id", "pairing-test-reader");
  storage_test::conf_set(conf, "enable.auto.commit", "false");
  char err[256];
  rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  REQUIRE(c != nullptr);
  rd_kafka_poll_set_consumer(c);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  REQUIRE(rd_kafka_assign(c, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);
  std::vector<std::string> values;
  storage_test::wait_until(
      [&] {
        while (rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 50)) {
          if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            values.emplace_back(static_cast<const char*>(m->payload), m->len);
          }
          rd_kafka_message_destroy(m);
        }
        return values.size() >= want;
      },
      std::chrono::seconds(10));
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return values;
}

// The sum of the high watermarks of `topic`: how many records it ever got.
std::int64_t records_in(const std::string& bootstraps, const std::string& topic, int partitions) {
  rd_kafka_conf_t* conf = storage_test::quiet_conf();
  storage_test::conf_set(conf, "bootstrap.servers", bootstraps);
  char err[256];
  rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  REQUIRE(p != nullptr);
  std::int64_t total = 0;
  for (int part = 0; part < partitions; ++part) {
    std::int64_t low = 0, high = 0;
    REQUIRE(rd_kafka_query_watermark_offsets(p, topic.c_str(), part, &low, &high, 5000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR);
    total += high;
  }
  rd_kafka_destroy(p);
  return total;
}

}  // namespace

TEST_CASE("with Kafka pairing, halves leave the agent redacted, and no exchange is produced",
          "[agent][pairing]") {
  storage_test::mock_cluster cluster("http-halves");
  cluster.create_topic("http-exchanges", 3);
  running_agent a([&](agent::config& cfg) {
    cfg.pairing = "kafka";
    cfg.kafka_brokers = cluster.bootstraps();
    cfg.no_kafka_exchanges = true;
    cfg.redact_headers = {"x-api-key"};
    cfg.redact_json_fields = {"password"};
  });
  const std::string ndjson =
      R"({"type":"request","data":{"id":"r-1","method":"POST","path":"/login",)"
      R"("headers":{"Host":"shop.local","Authorization":"Bearer s3cr3t-token",)"
      R"("X-Api-Key":"k3y-value","Content-Type":"application/json"},)"
      R"("body":"{\"user\":\"ann\",\"password\":\"hunter2-pw\"}"}})"
      "\n"
      R"({"type":"response","data":{"id":"r-1","status":200,)"
      R"("headers":{"Set-Cookie":"sid=c00kie-val","Content-Type":"application/json"},)"
      R"("body":"{\"ok\":true,\"password\":\"echoed-pw\"}"}})"
      "\n";
  REQUIRE(request(a.port(), "POST", "/http-events", "Content-Type: application/x-ndjson\r\n",
                  ndjson)
              .status == 202);

  // What went to Kafka: two halves, with no secret in their bytes at all.
  const auto values = read_topic(cluster.bootstraps(), "http-halves", storage_test::k_partitions, 2);
  REQUIRE(values.size() == 2);
  for (const auto& v : values) {
    for (const char* secret : {"s3cr3t-token", "k3y-value", "hunter2-pw", "c00kie-val",
                               "echoed-pw"}) {
      INFO(secret);
      CHECK(v.find(secret) == std::string::npos);
    }
    const auto half = storage::decode_half(v);
    REQUIRE(half.event);
    CHECK(half.event->id == "r-1");
    // Both halves carry a redacted header (Authorization, Set-Cookie) and a masked body field.
    const auto check_half = [](const auto& h) {
      bool masked = false;
      for (const auto& [name, value] : h.headers) {
        if (name == "authorization" || name == "Authorization" || name == "set-cookie" ||
            name == "Set-Cookie") {
          CHECK(value == "[REDACTED]");
          masked = true;
        }
      }
      CHECK(masked);
      CHECK(h.body.data.find("[REDACTED]") != std::string::npos);
    };
    std::visit(check_half, half.event->half);
  }

  // The pair comes back from Kafka and is stored, naming what was redacted.
  const auto stored = poll_until(a.port(), "/events?id=r-1", "\"complete\":true");
  REQUIRE(stored.status == 200);
  CHECK(stored.body.find("hunter2-pw") == std::string::npos);
  CHECK(stored.body.find("\"redacted\":[") != std::string::npos);
  CHECK(stored.body.find("x-api-key") != std::string::npos);
  CHECK(http_test::status_number(a.port(), "pairing", "produced") == 2);
  // --no-kafka-exchanges: the exchanges topic got nothing.
  CHECK(records_in(cluster.bootstraps(), "http-exchanges", 3) == 0);
}
