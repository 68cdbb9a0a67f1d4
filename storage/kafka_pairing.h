// SPDX-License-Identifier: Apache-2.0
//
// `--pairing kafka`: any number of agents pair one stream of halves through Kafka.
//
// Every half an agent receives is produced to the halves topic, keyed by its pairing key
// (correlate::event::id), so both halves of a transaction land in the same partition whichever
// agent HAProxy sent them to. The agents form one consumer group on that topic; the agent that
// owns a partition pairs its halves with the correlator's rules (TTL, caps, duplicate rule,
// incomplete on expiry), one correlator per owned partition, and hands the exchanges to its
// owner (the app stores them as a local pairing would). Kafka's group protocol decides who owns
// what; nothing here talks to another agent.
//
// Offsets: an owner commits, per partition, the offset of the oldest half still waiting for a
// partner (or the next offset to read when none waits), never past it. So when a partition
// moves (an agent added, drained, or killed), its new owner reads again from there and rebuilds
// the halves that were waiting: none is lost. The price is at-least-once: a pair whose two
// halves both lie after that offset was stored by the old owner and is stored again by the new
// one (same id, same content). Between rebalances each transaction is stored once. A half's
// age is counted from the time it was produced (the record's timestamp), so a half re-read
// after a move expires when it would have anyway.
//
// Threads: submit() is called from the loop thread and never waits on the network (it encodes
// and hands the record to librdkafka, or drops and counts when the bound is reached). One
// pairing thread consumes, pairs, expires, commits and serves both clients' callbacks; the
// `output` callback runs on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "correlate/correlator.h"
#include "correlate/types.h"
#include "storage/kafka_sink.h"

namespace storage {

struct pairing_config {
  std::string brokers;  // bootstrap.servers
  std::string topic = "http-halves";
  std::string group = "http-event-processor";
  // Given to both the producer and the consumer after our own settings (SASL, TLS,
  // session.timeout.ms, ...); librdkafka ignores, with a log line, those that apply to the
  // other kind of client only.
  std::vector<std::pair<std::string, std::string>> options;
  correlate::config correlator;                // per owned partition
  std::size_t queue_capacity = 100000;         // halves from submit() to delivery report
  std::uint64_t queue_bytes = 256ull << 20;    // their encoded bytes (0: no bound)
  std::chrono::milliseconds commit_interval{1000};
  // A half that has waited this long for its partner, with requeue_min_records records of its
  // partition after it, is produced again at the back of the partition (its age kept), so that one
  // straggler does not hold the committed offset, and what a new owner reads again, for up to
  // the TTL. A copy is sent again at most once per this interval. 0: never.
  std::chrono::milliseconds requeue_after{10000};
  std::int64_t requeue_min_records = 1000;
  std::chrono::milliseconds expiry_interval{1000};
  std::chrono::milliseconds close_timeout{5000};  // close(): longest wait for deliveries
};

struct pairing_counters {
  // Producing (this agent's halves).
  std::uint64_t produced = 0;   // accepted by submit()
  std::uint64_t dropped = 0;    // refused by submit(): bound reached, or closed
  std::uint64_t delivered = 0;  // acknowledged by the cluster
  std::uint64_t failed = 0;     // librdkafka gave up: the half is lost
  std::uint64_t in_flight = 0;  // gauge
  // Pairing (the partitions this agent owns).
  std::uint64_t consumed = 0;       // halves read from owned partitions
  std::uint64_t bad_records = 0;    // records that are not halves (counted, skipped)
  std::uint64_t paired = 0;         // complete exchanges handed over
  std::uint64_t expired = 0;        // halves handed over incomplete after the TTL
  std::uint64_t evicted = 0;        // halves handed over incomplete to respect a cap
  std::uint64_t duplicates = 0;     // halves displaced by a newer one of the same id and kind
  std::uint64_t handed_over = 0;    // waiting halves left to the next owner at a revoke
  std::uint64_t rebalances = 0;     // assignments received
  std::uint64_t commits = 0;        // offset commits sent
  std::uint64_t commit_errors = 0;  // offset commits the cluster refused
  std::uint64_t requeued = 0;       // halves sent to the back of their partition
  std::uint64_t partitions = 0;     // gauge: partitions owned now
  std::uint64_t lag = 0;            // gauge: records of owned partitions not read yet
  std::uint64_t pending = 0;        // gauge: halves waiting, over owned partitions
  std::uint64_t pending_bytes = 0;  // gauge
  bool healthy = true;              // gauge: false between a failure notice and its recovery
};

// Called on the pairing thread with the exchanges made; the callee takes them (moves them out;
// the vector is cleared afterwards). Must not throw and must not call back into the pairing.
using pairing_output = std::function<void(std::vector<correlate::exchange>&)>;

class kafka_pairing {
 public:
  // Creates both clients, subscribes, and starts the pairing thread. Connects lazily: an
  // unreachable cluster is not an error here. Throws std::runtime_error with librdkafka's
  // message for a configuration it refuses.
  kafka_pairing(pairing_config cfg, pairing_output output, kafka_notify notify = {});
  ~kafka_pairing();  // calls close()
  kafka_pairing(const kafka_pairing&) = delete;
  kafka_pairing& operator=(const kafka_pairing&) = delete;

  // Produces `e` to the halves topic. Never blocks on the network; false (and counted in
  // `dropped`) when the bound is reached or after close().
  bool submit(const correlate::event& e);

  // Stops accepting, waits up to close_timeout for this agent's halves to be delivered, then
  // commits what is safe and leaves the group: halves still waiting stay in the topic for the
  // next owner (not stored incomplete, unlike a local pairing's shutdown). `output` may be
  // called during close(), on the calling thread or the pairing thread. Idempotent.
  void close();

  pairing_counters stats() const;  // thread-safe
  const pairing_config& config() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace storage
