// SPDX-License-Identifier: Apache-2.0
#include "agent/config.h"
#include "agent/peer_client.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <cstdlib>
#include <stdexcept>

#include "correlate/redact.h"

namespace agent {

namespace {

constexpr const char* program = "http-event-processor";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return s;
}

std::uint16_t parse_port(std::string_view s) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value > 65535) {
    throw std::invalid_argument(fmt::format("invalid port \"{}\" (expected 0-65535)", s));
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

listen_address parse_listen_address(const std::string& s) {
  listen_address a;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      throw std::invalid_argument(fmt::format("invalid address \"{}\" (expected [IPV6]:PORT)", s));
    }
    a.host = s.substr(1, close - 1);
    port = std::string_view(s).substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument(fmt::format("invalid address \"{}\" (expected HOST:PORT)", s));
    }
    a.host = s.substr(0, colon);
    port = std::string_view(s).substr(colon + 1);
  }
  if (a.host.empty()) a.host = "0.0.0.0";
  a.port = parse_port(port);
  return a;
}

std::vector<std::string> config::redaction_list() const {
  std::vector<std::string> names;
  if (default_redaction) {
    for (auto n : correlate::default_redacted_headers) names.emplace_back(n);
  }
  for (const auto& n : redact_headers) {
    auto l = lower(n);
    if (std::find(names.begin(), names.end(), l) == names.end()) names.push_back(std::move(l));
  }
  return names;
}

std::variant<config, exit_now> parse_config(int argc, char** argv) {
  config cfg;
  CLI::App app{
      "Native HAProxy SPOA: captures every HTTP request and response HAProxy sends over SPOP,\n"
      "pairs them by unique-id, stores them as JSON Lines and serves them over HTTP.",
      program};
  app.set_version_flag("--version", std::string(program) + " " HEP_VERSION);
  app.footer("Replaying captured exchanges: http-event-processor replay --help (docs/replay.md).");
  app.get_formatter()->column_width(40);

  // SIZE: bytes, or with a unit, k/kb/kib = 1024 (so 64MiB, 1g); DURATION: seconds, or 90s,
  // 30m, 12h, 7d.
  const CLI::AsSizeValue size(false);
  const CLI::AsNumberWithUnit duration(std::map<std::string, std::uint64_t>{
      {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}});

  std::string spop = "0.0.0.0:12345";
  std::string http = "0.0.0.0:8080";
  std::string level = "info";
  app.add_option("--spop-listen", spop, "SPOP listener for HAProxy (HOST:PORT)")
      ->envname("SPOP_LISTEN")
      ->capture_default_str();
  auto* http_opt = app.add_option("--http-listen", http,
                                  "HTTP API listener (HOST:PORT); env PORT sets only the port")
                       ->envname("HTTP_LISTEN")
                       ->capture_default_str();
  app.add_option("--data-dir", cfg.data_dir, "Where segments are stored")
      ->envname("DATA_DIR")
      ->capture_default_str();
  app.add_option("--log-level", level, "error, warn, info or debug")
      ->envname("LOG_LEVEL")
      ->check(CLI::IsMember({"error", "warn", "warning", "info", "debug"}))
      ->capture_default_str();
  app.add_option("--event-expiry-minutes", cfg.event_expiry_minutes,
                 "How long a half waits for its partner before it is stored incomplete")
      ->envname("EVENT_EXPIRY_MINUTES")
      ->check(CLI::Range(0.001, 525600.0))
      ->capture_default_str();
  app.add_option("--cleanup-interval-minutes", cfg.cleanup_interval_minutes,
                 "How often expired halves are swept")
      ->envname("CLEANUP_INTERVAL_MINUTES")
      ->check(CLI::Range(0.001, 525600.0))
      ->capture_default_str();
  app.add_option("--max-pending", cfg.max_pending, "Cap on halves waiting for a partner")
      ->envname("MAX_PENDING")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000000}))
      ->capture_default_str();
  app.add_option("--max-pending-bytes", cfg.max_pending_bytes,
                 "Cap on the memory of waiting halves (SIZE)")
      ->envname("MAX_PENDING_BYTES")
      ->transform(size)
      ->check(CLI::Range(std::uint64_t{1} << 16, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--max-frame-size", cfg.max_frame_size,
                 "Largest SPOP max-frame-size accepted (HAProxy's offer is used when smaller)")
      ->envname("MAX_FRAME_SIZE")
      ->check(CLI::Range(std::uint32_t{256}, std::uint32_t{64u << 20}))
      ->capture_default_str();
  app.add_option("--queue-capacity", cfg.queue_capacity,
                 "Exchanges waiting for the writer thread before new ones are dropped")
      ->envname("QUEUE_CAPACITY")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10000000}))
      ->capture_default_str();
  app.add_option("--queue-bytes", cfg.queue_bytes,
                 "Their approximate memory; past it new ones are dropped (SIZE: 32MiB, 1g)")
      ->envname("QUEUE_BYTES")
      ->transform(size)
      ->check(CLI::Range(std::uint64_t{1} << 16, std::uint64_t{1} << 40))
      ->capture_default_str();
  auto* segment_bytes_opt = app.add_option("--segment-bytes", cfg.segment_bytes, "Rotate a segment past this size (SIZE)")
      ->envname("SEGMENT_BYTES")
      ->transform(size)
      ->check(CLI::Range(std::uint64_t{4096}, std::uint64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--segment-age", cfg.segment_age_s,
                 "Rotate a segment once it is this old (DURATION: 90s, 30m, 1h, 7d; 0: never)")
      ->envname("SEGMENT_AGE")
      ->transform(duration)
      ->capture_default_str();
  app.add_option("--retention-bytes", cfg.retention_bytes,
                 "Delete the oldest segments once all of them exceed this (SIZE; 0: keep all)")
      ->envname("RETENTION_BYTES")
      ->transform(size)
      ->capture_default_str();
  app.add_option("--retention-age", cfg.retention_age_s,
                 "Delete segments whose newest record is older than this (DURATION; 0: keep)")
      ->envname("RETENTION_AGE")
      ->transform(duration)
      ->capture_default_str();
  app.add_option("--fsync", cfg.fsync,
                 "When written lines are forced to disk: none (on segment close only), "
                 "interval, always (every batch)")
      ->envname("FSYNC")
      ->check(CLI::IsMember({"none", "interval", "always"}))
      ->capture_default_str();
  app.add_option("--fsync-interval", cfg.fsync_interval,
                 "Seconds between a write and its fsync with --fsync interval")
      ->envname("FSYNC_INTERVAL")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_option("--shutdown-grace", cfg.shutdown_grace,
                 "Seconds SIGTERM keeps SPOP connections open for pending halves' partners "
                 "(then they are stored incomplete)")
      ->envname("SHUTDOWN_GRACE")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--redact-header", cfg.redact_headers,
                 "Also redact this header (repeatable; defaults: authorization, "
                 "proxy-authorization, cookie, set-cookie, x-api-key)")
      ->envname("REDACT_HEADERS")
      ->delimiter(',');
  app.add_flag("!--no-default-redaction", cfg.default_redaction,
               "Do not redact the default sensitive headers");
  app.add_option("--redact-json-field", cfg.redact_json_fields,
                 "Mask this field's value in JSON request/response bodies (repeatable)")
      ->envname("REDACT_JSON_FIELDS")
      ->delimiter(',');
  app.add_option("--api-token", cfg.api_token,
                 "Bearer token required on the HTTP API (not on /status, /healthz, /readyz)")
      ->envname("API_TOKEN");
  app.add_option("--ingest-token", cfg.ingest_token,
                 "Bearer token required on POST /http-events")
      ->envname("INGEST_TOKEN");
  app.add_option("--max-request-bytes", cfg.max_request_bytes,
                 "Largest HTTP request body accepted (413 past it; SIZE)")
      ->envname("MAX_REQUEST_BYTES")
      ->transform(size)
      ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--stats-max-records", cfg.stats_max_records,
                 "Records one GET /events/stats reads at most, newest first (past it the "
                 "answer says \"partial\": true)")
      ->envname("STATS_MAX_RECORDS")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--peers", cfg.peers,
                 "Other replicas' API addresses (HOST:PORT or dns:NAME:PORT, every A/AAAA "
                 "record of NAME: a headless Service), comma-separated: GET /events, "
                 "/events/{id} and /events.har then answer for the fleet")
      ->envname("PEERS")
      ->delimiter(',');
  app.add_option("--peer-timeout", cfg.peer_timeout,
                 "Seconds a peer has to answer one fleet request (then it is named in "
                 "peers_failed)")
      ->envname("PEER_TIMEOUT")
      ->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  app.add_option("--peer-token", cfg.peer_token,
                 "Bearer token sent to peers (default: --api-token)")
      ->envname("PEER_TOKEN");
  app.add_option("--http-request-timeout", cfg.http_request_timeout,
                 "Seconds a client has to send a whole request (408 past it)")
      ->envname("HTTP_REQUEST_TIMEOUT")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--max-http-connections", cfg.max_http_connections,
                 "Open HTTP API connections; past it a new one closes the longest idle "
                 "(or slowest) one, or is refused when all are busy")
      ->envname("MAX_HTTP_CONNECTIONS")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000000}))
      ->capture_default_str();
  app.add_option("--http-first-byte-timeout", cfg.http_first_byte_timeout,
                 "Seconds a new HTTP connection may stay silent before it is closed")
      ->envname("HTTP_FIRST_BYTE_TIMEOUT")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--http-idle-timeout", cfg.http_idle_timeout,
                 "Seconds a keep-alive connection may wait between requests (or a response "
                 "may make no write progress)")
      ->envname("HTTP_IDLE_TIMEOUT")
      ->check(CLI::Range(0.05, 86400.0))
      ->capture_default_str();
  std::string probe;
  app.add_option("--probe-listen", probe,
                 "Probe-only HTTP listener (HOST:PORT): /healthz, /readyz, /status, /metrics, "
                 "with its own connection table")
      ->envname("PROBE_LISTEN");
  app.add_option("--max-probe-connections", cfg.max_probe_connections,
                 "Open connections on the probe listener (same policy as the API's)")
      ->envname("MAX_PROBE_CONNECTIONS")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000}))
      ->capture_default_str();
  app.add_option("--max-spop-connections", cfg.max_spop_connections,
                 "Open SPOP connections; past it a new one closes the oldest that has not sent "
                 "its HELLO, or is refused")
      ->envname("MAX_SPOP_CONNECTIONS")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000000}))
      ->capture_default_str();
  app.add_option("--spop-hello-timeout", cfg.spop_hello_timeout,
                 "Seconds a new SPOP connection has to complete its HELLO")
      ->envname("SPOP_HELLO_TIMEOUT")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--spop-frame-timeout", cfg.spop_frame_timeout,
                 "Seconds a begun SPOP frame has to arrive whole")
      ->envname("SPOP_FRAME_TIMEOUT")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_flag("--discard", cfg.discard,
               "Benchmark mode: decode and ACK every NOTIFY, pair and store nothing");

  app.add_option("--kafka-brokers", cfg.kafka_brokers,
                 "Also stream every exchange to Kafka (HOST:PORT,HOST:PORT)")
      ->envname("KAFKA_BROKERS");
  app.add_option("--kafka-topic", cfg.kafka_topic, "Kafka topic")
      ->envname("KAFKA_TOPIC")
      ->capture_default_str();
  app.add_option("--kafka-format", cfg.kafka_format, "Kafka record format: json or msgpack")
      ->envname("KAFKA_FORMAT")
      ->check(CLI::IsMember({"json", "msgpack"}))
      ->capture_default_str();
  app.add_option("--kafka-option", cfg.kafka_options,
                 "librdkafka property KEY=VALUE (repeatable; env: ';'-separated): SASL, TLS, "
                 "compression.type, linger.ms, message.timeout.ms")
      ->envname("KAFKA_OPTIONS")
      ->delimiter(';');
  app.add_option("--kafka-queue-capacity", cfg.kafka_queue_capacity,
                 "Exchanges not yet acknowledged by Kafka before new ones are dropped")
      ->envname("KAFKA_QUEUE_CAPACITY")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10000000}))
      ->capture_default_str();
  app.add_option("--kafka-queue-bytes", cfg.kafka_queue_bytes,
                 "Their approximate memory (SIZE; 0: no byte cap)")
      ->envname("KAFKA_QUEUE_BYTES")
      ->transform(size)
      ->capture_default_str();
  app.add_option("--kafka-close-timeout", cfg.kafka_close_timeout,
                 "Seconds shutdown waits for Kafka to acknowledge what is queued")
      ->envname("KAFKA_CLOSE_TIMEOUT")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_flag("--no-file-storage", cfg.no_file_storage,
               "Write no segment files: stream to Kafka only (needs --kafka-brokers)")
      ->envname("NO_FILE_STORAGE");
  app.add_flag("--no-kafka-exchanges", cfg.no_kafka_exchanges,
               "With --kafka-brokers, stream no exchanges to --kafka-topic (e.g. to use Kafka "
               "for --pairing only)")
      ->envname("NO_KAFKA_EXCHANGES");
  app.add_option("--pairing", cfg.pairing,
                 "local: pair in this agent; kafka: every half through --pairing-topic, paired "
                 "by the replica that owns its partition (several replicas behind one Service; "
                 "needs --kafka-brokers)")
      ->envname("PAIRING")
      ->check(CLI::IsMember({"local", "kafka"}))
      ->capture_default_str();
  app.add_option("--pairing-topic", cfg.pairing_topic, "Kafka topic of the halves (--pairing kafka)")
      ->envname("PAIRING_TOPIC")
      ->capture_default_str();
  app.add_option("--pairing-group", cfg.pairing_group,
                 "Kafka consumer group the replicas form (--pairing kafka)")
      ->envname("PAIRING_GROUP")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
    for (const auto& o : cfg.kafka_options) {
      const auto eq = o.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw std::invalid_argument(fmt::format("--kafka-option \"{}\": expected KEY=VALUE", o));
      }
    }
    if (cfg.retention_bytes != 0 && cfg.retention_bytes < 2 * cfg.segment_bytes) {
      // The segment being written is never deleted, so retention needs room for two.
      if (segment_bytes_opt->count() != 0) {
        throw std::invalid_argument(fmt::format(
            "--retention-bytes ({}) must be at least twice --segment-bytes ({})",
            cfg.retention_bytes, cfg.segment_bytes));
      }
      cfg.segment_bytes = std::max<std::uint64_t>(cfg.retention_bytes / 8, 4096);
    }
    if (cfg.no_file_storage && cfg.kafka_brokers.empty()) {
      throw std::invalid_argument("--no-file-storage needs --kafka-brokers");
    }
    if (cfg.no_file_storage && !cfg.kafka_sink_on()) {
      throw std::invalid_argument(
          "--no-file-storage with --no-kafka-exchanges would store nothing");
    }
    if (cfg.pairing == "kafka") {
      if (cfg.kafka_brokers.empty()) {
        throw std::invalid_argument("--pairing kafka needs --kafka-brokers");
      }
      if (cfg.pairing_topic.empty() || cfg.pairing_group.empty()) {
        throw std::invalid_argument("--pairing-topic and --pairing-group must not be empty");
      }
      if (cfg.kafka_sink_on() && cfg.pairing_topic == cfg.kafka_topic) {
        throw std::invalid_argument(fmt::format(
            "--pairing-topic and --kafka-topic are both \"{}\": halves and exchanges need "
            "topics of their own",
            cfg.kafka_topic));
      }
    }
    if (http_opt->count() == 0) {
      if (const char* port = std::getenv("PORT"); port != nullptr && *port != '\0') {
        http = "0.0.0.0:" + std::string(port);
      }
    }
    cfg.spop_listen = parse_listen_address(spop);
    cfg.http_listen = parse_listen_address(http);
    if (!probe.empty()) cfg.probe_listen = parse_listen_address(probe);
    std::erase_if(cfg.peers, [](const std::string& p) { return p.empty(); });
    for (const auto& p : cfg.peers) check_peer_entry(p);
    cfg.log_level = *log::parse_level(level);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return exit_now{0};
  } catch (const CLI::CallForVersion& e) {
    std::fputs(fmt::format("{}\n", e.what()).c_str(), stdout);
    return exit_now{0};
  } catch (const CLI::ParseError& e) {
    std::fputs(fmt::format("{}: {} (see --help)\n", program, e.what()).c_str(), stderr);
    return exit_now{2};
  } catch (const std::invalid_argument& e) {
    std::fputs(fmt::format("{}: {} (see --help)\n", program, e.what()).c_str(), stderr);
    return exit_now{2};
  }
  return cfg;
}

}  // namespace agent
