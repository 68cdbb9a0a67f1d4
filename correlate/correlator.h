// SPDX-License-Identifier: Apache-2.0
//
// Pairs request and response halves by exchange id. Time is passed in (`now_us`), so the
// owner's timer drives expiry and tests use a fake clock.
//
// Rules:
//  - Halves pair in either order: the second half of an id completes the exchange, which is
//    appended to `out` with `complete == true` and leaves the pending table.
//  - Duplicate id: if a half arrives while a half of the SAME kind with the same id is still
//    pending (HAProxy misconfigured so that ids repeat, or a sender retried), the older half
//    is emitted at once as an incomplete exchange and the newer one waits in its place. It is
//    counted in `duplicates`. Nothing is dropped silently.
//  - Expiry: a half that has waited longer than `ttl_us` is emitted incomplete by expire().
//  - Caps: when adding a half would exceed `max_pending` halves or `max_pending_bytes`, the
//    oldest pending halves are evicted (emitted incomplete, counted in `evicted`) until it fits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "correlate/types.h"

namespace correlate {

struct config {
  std::int64_t ttl_us = 30ll * 60 * 1000 * 1000;  // EVENT_EXPIRY_MINUTES, seed default 30
  std::size_t max_pending = 100000;
  std::size_t max_pending_bytes = 64ull * 1024 * 1024;
};

struct counters {
  std::uint64_t requests = 0;    // request halves received
  std::uint64_t responses = 0;   // response halves received
  std::uint64_t paired = 0;      // complete exchanges emitted
  std::uint64_t expired = 0;     // halves emitted incomplete by expire()
  std::uint64_t evicted = 0;     // halves emitted incomplete to respect a cap
  std::uint64_t duplicates = 0;  // halves displaced by a newer half with the same id and kind
  std::uint64_t drained = 0;     // halves emitted incomplete by drain() (shutdown)
};

class correlator {
 public:
  explicit correlator(config cfg = {});

  // Takes `e`; appends zero, one or two exchanges to `out` (a completed pair, and/or halves
  // displaced or evicted to make room). `tag` is the caller's, kept with the half while it
  // waits (Kafka pairing keeps the record's offset there; see oldest_tag()).
  void add(event&& e, std::int64_t now_us, std::vector<exchange>& out, std::int64_t tag = 0);

  // Emits every half received at or before `now_us - ttl_us` as an incomplete exchange.
  void expire(std::int64_t now_us, std::vector<exchange>& out);

  // Emits every pending half as incomplete (shutdown), oldest first.
  void drain(std::vector<exchange>& out);

  // The tag of the half that has waited longest; nothing when none waits. With arrival times
  // that never go backwards and tags that grow with them, it is the smallest tag still
  // pending: Kafka pairing commits it as the partition's offset (storage/kafka_pairing.h).
  std::optional<std::int64_t> oldest_tag() const;

  // The tag of the half the last completed pair had waiting (read it after an add() that
  // bumped stats().paired), like last_pair_wait_us().
  std::int64_t last_pair_tag() const { return last_pair_tag_; }

  // Takes out the half that has waited longest when it arrived at or before `arrived_before_us`,
  // without emitting it or counting it anywhere: Kafka pairing sends such a half to the back
  // of its partition so that the committed offset can move on. False when there is none.
  struct taken {
    event half;
    std::int64_t arrived_us = 0;
    std::int64_t tag = 0;
  };
  bool take_oldest(std::int64_t arrived_before_us, taken& out);

  std::size_t pending() const { return table_.size(); }
  std::size_t pending_bytes() const { return pending_bytes_; }
  const counters& stats() const { return stats_; }
  // How long the partner of the last completed pair had waited (now_us - its arrival), for
  // the pairing-delay histogram; read it after an add() that bumped stats().paired.
  std::int64_t last_pair_wait_us() const { return last_pair_wait_us_; }
  const correlate::config& settings() const { return cfg_; }

 private:
  struct entry {
    event half;
    std::int64_t arrived_us;
    std::size_t bytes;
    std::int64_t tag;
    std::list<const std::string*>::iterator pos;  // this entry's place in order_
  };

  // Removes the entry at the front of order_ and emits it incomplete.
  void emit_oldest(std::vector<exchange>& out);
  void evict_for(std::size_t incoming_bytes, std::vector<exchange>& out);

  config cfg_;
  std::unordered_map<std::string, entry> table_;
  // Arrival order, oldest first, pointing at the keys of table_ (stable across rehashing).
  // With one TTL for all, arrival order is expiry order.
  std::list<const std::string*> order_;
  std::size_t pending_bytes_ = 0;
  std::int64_t last_pair_wait_us_ = 0;
  std::int64_t last_pair_tag_ = 0;
  counters stats_;
};

// Builds the exchange for one half alone (complete == false).
exchange make_incomplete(event&& e);

// Builds the complete exchange of a request and a response half.
exchange make_pair(event&& request, event&& response);

}  // namespace correlate
