// SPDX-License-Identifier: Apache-2.0
//
// librdkafka's mock cluster for the Kafka tests: three brokers speaking the real Kafka protocol
// over TCP on 127.0.0.1, created from a client handle of its own; and the bounded wait they use.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace storage_test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr int k_partitions = 3;

inline void quiet_log(const rd_kafka_t*, int, const char*, const char*) {}

// Polls `done` every 10 ms until it holds or `limit` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = steady::now() + limit;
  while (!done()) {
    if (steady::now() >= until) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline rd_kafka_conf_t* quiet_conf() {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, &quiet_log);
  return conf;
}

inline void conf_set(rd_kafka_conf_t* conf, const char* k, const std::string& v) {
  char err[256];
  if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error(err);
  }
}

// Three mock brokers (ids 1..3) and one topic with `partitions` partitions replicated on all
// three, partition p led by broker p % 3 + 1.
class mock_cluster {
 public:
  explicit mock_cluster(const std::string& topic, int partitions = k_partitions) {
    char err[256];
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, quiet_conf(), err, sizeof err);
    if (handle_ == nullptr) throw std::runtime_error(err);
    cluster_ = rd_kafka_mock_cluster_new(handle_, 3);
    if (cluster_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
    REQUIRE(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 3) ==
            RD_KAFKA_RESP_ERR_NO_ERROR);
    // The mock may give every partition the same leader; spread them so that each broker
    // leads one (partition p on broker p + 1).
    for (int p = 0; p < partitions; ++p) {
      REQUIRE(rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), p, p % 3 + 1) ==
              RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }
  ~mock_cluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  // The topic `name` with `partitions` partitions replicated on the three brokers.
  void create_topic(const std::string& name, int partitions) {
    REQUIRE(rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 3) ==
            RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  // broker -1: all of them.
  void down(std::int32_t broker) {
    REQUIRE(rd_kafka_mock_broker_set_down(cluster_, broker) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void up(std::int32_t broker) {
    REQUIRE(rd_kafka_mock_broker_set_up(cluster_, broker) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }

 private:
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

}  // namespace storage_test
