// SPDX-License-Identifier: Apache-2.0
//
// Command line and environment. Flags win over environment variables, which win over the
// defaults. The flag names are a contract: scripts outside the project rely on them.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "agent/log.h"

namespace agent {

struct listen_address {
  std::string host;
  std::uint16_t port = 0;
};

struct config {
  listen_address spop_listen{"0.0.0.0", 12345};
  listen_address http_listen{"0.0.0.0", 8080};
  std::string data_dir = "./data";
  log::level log_level = log::level::info;

  // Correlator (seed names: EVENT_EXPIRY_MINUTES, CLEANUP_INTERVAL_MINUTES).
  double event_expiry_minutes = 30;
  double cleanup_interval_minutes = 5;
  std::uint64_t max_pending = 100000;
  std::uint64_t max_pending_bytes = 64ull << 20;

  // SPOP.
  std::uint32_t max_frame_size = (1u << 20) + 4;  // largest max-frame-size we accept
  // Hostile-network limits: connections over the cap first push out the oldest one that has
  // not finished its HELLO; a HELLO must come within hello_timeout of connecting; a frame
  // once begun must be complete within frame_timeout (both: AGENT-DISCONNECT "timeout").
  std::uint64_t max_spop_connections = 10000;
  double spop_hello_timeout = 5;   // seconds
  double spop_frame_timeout = 10;  // seconds
  // Benchmark mode: decode and ACK every NOTIFY, but pair and store nothing.
  bool discard = false;

  // Storage.
  std::uint64_t queue_capacity = 16384;
  std::uint64_t queue_bytes = 32ull << 20;
  std::uint64_t segment_bytes = 64ull << 20;
  std::uint64_t segment_age_s = 3600;         // 0: rotate by size only
  std::uint64_t retention_bytes = 1ull << 30;  // 0: keep everything
  std::uint64_t retention_age_s = 0;          // 0: no age limit
  std::string fsync = "interval";             // none, interval or always
  double fsync_interval = 1;                  // seconds
  double shutdown_grace = 0;  // seconds SIGTERM waits for pending halves' partners

  // Redaction.
  std::vector<std::string> redact_headers;  // added to the defaults
  bool default_redaction = true;
  std::vector<std::string> redact_json_fields;  // masked in JSON bodies ("body:<name>")

  // HTTP API.
  std::string api_token;     // bearer token for everything but the probes and ingestion
  std::string ingest_token;  // bearer token for POST /http-events
  std::uint64_t max_request_bytes = 8ull << 20;  // request body cap (413)
  double http_request_timeout = 10;              // seconds to send a whole request (408)
  // Over the cap, a new connection closes the one idle longest (no request in progress), or
  // else one whose request has been trickling in for over a second; only when every one is
  // being answered is the new one refused.
  std::uint64_t max_http_connections = 1024;
  double http_first_byte_timeout = 5;  // seconds a new connection may stay silent
  double http_idle_timeout = 60;       // seconds between keep-alive requests (and write stalls)
  std::uint64_t stats_max_records = 1'000'000;  // records one GET /events/stats reads at most
  // Fleet read (api/fleet.h): the other replicas' API addresses, "host:port" or
  // "dns:NAME:PORT" (every A/AAAA record; a headless Service). Empty: this agent only.
  std::vector<std::string> peers;
  double peer_timeout = 2;  // seconds a peer has to answer one fleet request
  std::string peer_token;   // bearer token sent to peers; empty: api_token
  // A second, probe-only HTTP listener (/healthz, /readyz, /status, /metrics) with a table of
  // its own: floods of the API port cannot starve Kubernetes' probes. Off when port is 0 and
  // host empty.
  listen_address probe_listen{"", 0};
  std::uint64_t max_probe_connections = 64;

  // Kafka sink: on when kafka_brokers is set (unless no_kafka_exchanges).
  std::string kafka_brokers;
  std::string kafka_topic = "http-exchanges";
  std::string kafka_format = "json";
  std::vector<std::string> kafka_options;  // "key=value", passed to librdkafka
  std::uint64_t kafka_queue_capacity = 100000;
  std::uint64_t kafka_queue_bytes = 64ull << 20;
  double kafka_close_timeout = 5;  // seconds
  bool no_file_storage = false;    // stream to Kafka only
  bool no_kafka_exchanges = false;  // with kafka_brokers: no exchanges topic (pairing only)

  // Pairing: "local" (this agent's correlator) or "kafka" (storage/kafka_pairing.h: every half
  // through the halves topic, paired by the agent that owns its partition).
  std::string pairing = "local";
  std::string pairing_topic = "http-halves";
  std::string pairing_group = "http-event-processor";

  bool kafka_sink_on() const { return !kafka_brokers.empty() && !no_kafka_exchanges; }

  // The final, lower-case list of headers to redact.
  std::vector<std::string> redaction_list() const;
};

struct exit_now {
  int code;  // 0 after --help/--version, 2 after a bad flag or value
};

// Parses argv and the environment. Returns the config, or exit_now when the process should
// exit at once (the message is already printed: help/version on stdout, one error line on
// stderr).
std::variant<config, exit_now> parse_config(int argc, char** argv);

// "HOST:PORT" or "[v6]:PORT"; throws std::invalid_argument with a readable message.
listen_address parse_listen_address(const std::string& s);

}  // namespace agent
