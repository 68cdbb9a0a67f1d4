// SPDX-License-Identifier: Apache-2.0
#include "agent/config.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "test/agent/parse_args.h"

using agent_test::parse_args;

TEST_CASE("defaults match the documented ports", "[agent]") {
  unsetenv("PORT");
  auto r = parse_args({});
  REQUIRE(std::holds_alternative<agent::config>(r));
  const auto& c = std::get<agent::config>(r);
  CHECK(c.spop_listen.host == "0.0.0.0");
  CHECK(c.spop_listen.port == 12345);
  CHECK(c.http_listen.port == 8080);
  CHECK(c.event_expiry_minutes == 30);
  CHECK(c.cleanup_interval_minutes == 5);
}

TEST_CASE("flags set listeners, data dir and log level", "[agent]") {
  auto r = parse_args({"--spop-listen", "127.0.0.1:2000", "--http-listen", "[::1]:9000", "--data-dir",
                  "/tmp/x", "--log-level", "debug"});
  REQUIRE(std::holds_alternative<agent::config>(r));
  const auto& c = std::get<agent::config>(r);
  CHECK(c.spop_listen.host == "127.0.0.1");
  CHECK(c.spop_listen.port == 2000);
  CHECK(c.http_listen.host == "::1");
  CHECK(c.http_listen.port == 9000);
  CHECK(c.data_dir == "/tmp/x");
  CHECK(c.log_level == agent::log::level::debug);
}

TEST_CASE("PORT sets the HTTP port unless --http-listen is given", "[agent]") {
  setenv("PORT", "9191", 1);
  auto r = parse_args({});
  REQUIRE(std::holds_alternative<agent::config>(r));
  CHECK(std::get<agent::config>(r).http_listen.port == 9191);
  auto r2 = parse_args({"--http-listen", "127.0.0.1:7000"});
  CHECK(std::get<agent::config>(r2).http_listen.port == 7000);
  unsetenv("PORT");
}

TEST_CASE("bad flags and values exit with status 2", "[agent]") {
  for (auto args : std::vector<std::vector<std::string>>{{"--no-such-flag"},
                                                        {"--spop-listen", "nohostport"},
                                                        {"--spop-listen", "1.2.3.4:99999"},
                                                        {"--log-level", "loud"},
                                                        {"--event-expiry-minutes", "-1"},
                                                        {"--fsync", "sometimes"},
                                                        {"--retention-bytes", "10 parsecs"},
                                                        {"--segment-age", "1w"},
                                                        {"--segment-bytes", "2GiB"},
                                                        {"--segment-bytes", "64MiB",
                                                         "--retention-bytes", "100MiB"}}) {
    auto r = parse_args(args);
    REQUIRE(std::holds_alternative<agent::exit_now>(r));
    CHECK(std::get<agent::exit_now>(r).code == 2);
  }
}

TEST_CASE("help and version exit with status 0", "[agent]") {
  CHECK(std::get<agent::exit_now>(parse_args({"--help"})).code == 0);
  CHECK(std::get<agent::exit_now>(parse_args({"--version"})).code == 0);
}

TEST_CASE("redaction list: defaults plus extras, or extras only", "[agent]") {
  auto c = std::get<agent::config>(parse_args({"--redact-header", "X-Secret"}));
  auto names = c.redaction_list();
  CHECK(names.size() == 6);
  CHECK(names.back() == "x-secret");
  auto c2 = std::get<agent::config>(parse_args({"--no-default-redaction", "--redact-header", "a"}));
  CHECK(c2.redaction_list() == std::vector<std::string>{"a"});
}

TEST_CASE("sizes and durations take units, and retention fits the segment size", "[agent]") {
  auto r = parse_args({"--retention-bytes", "10GiB", "--segment-bytes", "16m", "--segment-age", "30m",
                  "--retention-age", "7d", "--queue-bytes", "8MiB", "--fsync", "always",
                  "--fsync-interval", "0.5", "--shutdown-grace", "10"});
  REQUIRE(std::holds_alternative<agent::config>(r));
  const auto& c = std::get<agent::config>(r);
  CHECK(c.retention_bytes == 10ull << 30);
  CHECK(c.segment_bytes == 16ull << 20);
  CHECK(c.segment_age_s == 1800);
  CHECK(c.retention_age_s == 7 * 86400);
  CHECK(c.queue_bytes == 8ull << 20);
  CHECK(c.fsync == "always");
  CHECK(c.fsync_interval == 0.5);
  CHECK(c.shutdown_grace == 10);

  // Defaults: bounded disk, rotation by size and by the hour.
  const auto d = std::get<agent::config>(parse_args({}));
  CHECK(d.retention_bytes == 1ull << 30);
  CHECK(d.segment_bytes == 64ull << 20);
  CHECK(d.segment_age_s == 3600);
  CHECK(d.fsync == "interval");

  // A small retention without --segment-bytes shrinks the segments to fit eight.
  const auto small = std::get<agent::config>(parse_args({"--retention-bytes", "80MiB"}));
  CHECK(small.segment_bytes == 10ull << 20);
  CHECK(std::get<agent::config>(parse_args({"--retention-bytes", "0"})).retention_bytes == 0);
}

TEST_CASE("the stats cap: --stats-max-records, STATS_MAX_RECORDS and its range", "[agent]") {
  unsetenv("STATS_MAX_RECORDS");
  CHECK(std::get<agent::config>(parse_args({})).stats_max_records == 1000000);
  CHECK(std::get<agent::config>(parse_args({"--stats-max-records", "5000"})).stats_max_records ==
        5000);
  setenv("STATS_MAX_RECORDS", "250000", 1);
  CHECK(std::get<agent::config>(parse_args({})).stats_max_records == 250000);
  unsetenv("STATS_MAX_RECORDS");
  for (const char* bad : {"0", "-1", "many", "100000001"}) {
    INFO(bad);
    auto r = parse_args({"--stats-max-records", bad});
    REQUIRE(std::holds_alternative<agent::exit_now>(r));
    CHECK(std::get<agent::exit_now>(r).code == 2);
  }
}

TEST_CASE("pairing: --pairing kafka and its topic and group, PAIRING from the environment",
          "[agent]") {
  unsetenv("PAIRING");
  const auto d = std::get<agent::config>(parse_args({}));
  CHECK(d.pairing == "local");
  CHECK(d.pairing_topic == "http-halves");
  CHECK(d.pairing_group == "http-event-processor");
  CHECK_FALSE(d.kafka_sink_on());

  const auto k = std::get<agent::config>(
      parse_args({"--pairing", "kafka", "--kafka-brokers", "b:9092", "--pairing-topic", "h",
                  "--pairing-group", "g", "--no-kafka-exchanges"}));
  CHECK(k.pairing == "kafka");
  CHECK(k.pairing_topic == "h");
  CHECK(k.pairing_group == "g");
  CHECK_FALSE(k.kafka_sink_on());
  CHECK(std::get<agent::config>(parse_args({"--kafka-brokers", "b:9092"})).kafka_sink_on());

  setenv("PAIRING", "kafka", 1);
  CHECK(std::get<agent::config>(parse_args({"--kafka-brokers", "b:9092"})).pairing == "kafka");
  unsetenv("PAIRING");
}

TEST_CASE("pairing: set-ups that cannot work exit with status 2", "[agent]") {
  for (auto args : std::vector<std::vector<std::string>>{
           {"--pairing", "kafka"},  // no brokers
           {"--pairing", "zookeeper", "--kafka-brokers", "b:9092"},
           {"--pairing", "kafka", "--kafka-brokers", "b:9092", "--pairing-topic", ""},
           // halves and exchanges on one topic
           {"--pairing", "kafka", "--kafka-brokers", "b:9092", "--pairing-topic", "t",
            "--kafka-topic", "t"},
           // nothing would be stored
           {"--kafka-brokers", "b:9092", "--no-file-storage", "--no-kafka-exchanges"}}) {
    INFO(args.size());
    auto r = parse_args(args);
    REQUIRE(std::holds_alternative<agent::exit_now>(r));
    CHECK(std::get<agent::exit_now>(r).code == 2);
  }
  // The same topic is fine when no exchanges go to Kafka.
  CHECK(std::holds_alternative<agent::config>(
      parse_args({"--pairing", "kafka", "--kafka-brokers", "b:9092", "--pairing-topic", "t",
                  "--kafka-topic", "t", "--no-kafka-exchanges"})));
}

TEST_CASE("hardening limits: defaults, flags and environment", "[agent]") {
  const auto d = std::get<agent::config>(parse_args({}));
  CHECK(d.max_spop_connections == 10000);
  CHECK(d.spop_hello_timeout == 5);
  CHECK(d.spop_frame_timeout == 10);
  CHECK(d.max_http_connections == 1024);
  CHECK(d.http_first_byte_timeout == 5);
  CHECK(d.http_idle_timeout == 60);
  CHECK(d.probe_listen.host.empty());
  CHECK(d.max_probe_connections == 64);

  const auto f = std::get<agent::config>(parse_args(
      {"--max-spop-connections", "50", "--spop-hello-timeout", "1.5", "--spop-frame-timeout",
       "2", "--max-http-connections", "30", "--http-first-byte-timeout", "0.5",
       "--http-idle-timeout", "9", "--probe-listen", "127.0.0.1:8081",
       "--max-probe-connections", "8"}));
  CHECK(f.max_spop_connections == 50);
  CHECK(f.spop_hello_timeout == 1.5);
  CHECK(f.spop_frame_timeout == 2);
  CHECK(f.max_http_connections == 30);
  CHECK(f.http_first_byte_timeout == 0.5);
  CHECK(f.http_idle_timeout == 9);
  CHECK(f.probe_listen.host == "127.0.0.1");
  CHECK(f.probe_listen.port == 8081);
  CHECK(f.max_probe_connections == 8);

  setenv("PROBE_LISTEN", "0.0.0.0:9999", 1);
  CHECK(std::get<agent::config>(parse_args({})).probe_listen.port == 9999);
  unsetenv("PROBE_LISTEN");
  for (auto args : std::vector<std::vector<std::string>>{{"--spop-hello-timeout", "0"},
                                                        {"--probe-listen", "nohostport"},
                                                        {"--max-spop-connections", "lots"}}) {
    INFO(args[0]);
    auto r = parse_args(args);
    REQUIRE(std::holds_alternative<agent::exit_now>(r));
    CHECK(std::get<agent::exit_now>(r).code == 2);
  }
}
