// SPDX-License-Identifier: Apache-2.0
//
// GET /events/stream without sockets: one `event_stream` per client holds its filter and the
// Server-Sent Events bytes (https://html.spec.whatwg.org/multipage/server-sent-events.html)
// not yet handed to its socket. The agent offers it every exchange it hands to storage, takes
// the pending bytes whenever the client's socket can take more, and adds a heartbeat now and
// then. What the client receives, each message ending with a blank line:
//
//   retry: 3000                      once, first: reconnect after 3 s
//   event: ready                     once, first: the subscription is in place
//   data: {}
//
//   event: exchange                  one per matching exchange: the record exactly as
//   data: {"id":"...",...}           storage/ writes it (one line, never a raw newline)
//
//   event: dropped                   where exchanges were dropped because the client fell
//   data: {"dropped":N,"total":T}    behind: N in this gap, T since the stream began
//
//   event: peers                     fleet streams only (see below): who is relayed, first
//   data: {"peers":N,"partial":B,    when every peer answered or failed, again whenever
//          "peers_failed":[...]}     that changes
//
//   : keepalive                      heartbeat comment (ignored by clients)
//
// The pending bytes are bounded: an exchange that would push them past `max_pending` is
// dropped and counted instead, and so is every later one until the client has taken what was
// queued (the newest are dropped; what is queued stays, in order, and the notice follows it).
// One exchange is always taken when nothing is pending, so a record larger than the bound
// still reaches a client that keeps up.
//
// A fleet stream (an agent with --peers, asked without scope=local) also relays the streams
// of its peers (agent/fleet_stream.h): their exchanges, filtered by the peer already, go
// through relay() under the same bound, the exchanges a peer dropped are added to this
// stream's count, and notice() queues the "peers" event. Notices are never dropped: they are
// small and come only when a peer changes state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "correlate/types.h"
#include "storage/filter.h"

namespace api {

// One exchange as offered to every stream: its stored JSON line, serialised once, with the
// padding record_matcher needs after it.
class stream_record {
 public:
  // Serialises `x` with storage::append_json_line(), replacing what was held.
  void assign(const correlate::exchange& x);
  // The record without its newline; valid until the next assign().
  std::string_view line() const { return std::string_view(buf_.data(), size_); }
  // Readable bytes at line().data(): at least line().size() + simdjson::SIMDJSON_PADDING.
  std::size_t capacity() const { return buf_.size(); }

 private:
  std::string buf_;
  std::size_t size_ = 0;
};

class event_stream {
 public:
  // Starts with the retry/ready preamble pending. `f` is the /events filter of the request.
  explicit event_stream(storage::filter f);
  ~event_stream();
  event_stream(const event_stream&) = delete;
  event_stream& operator=(const event_stream&) = delete;

  // Offers one exchange. Returns true when it matched the filter and was queued; false when
  // it did not match, or matched and was dropped because the pending bytes would pass
  // `max_pending` (counted in dropped()).
  bool offer(const stream_record& r, std::size_t max_pending);

  // Offers one exchange that passed this stream's filter elsewhere (a peer's stream): its
  // record as one JSON line. Queued or dropped as offer() does; returns true when queued.
  bool relay(std::string_view line, std::size_t max_pending);

  // Counts `n` exchanges as dropped (a peer dropped them before they could be relayed); they
  // are reported with the next take().
  void add_dropped(std::uint64_t n);

  // Queues "event: <event>" with one data line, after what is pending. `data` holds no
  // newline.
  void notice(std::string_view event, std::string_view data);

  // Fleet streams: the target ("/events/stream?...&scope=local") to open on every peer.
  // Empty for a stream of this agent only.
  const std::string& fleet_target() const { return fleet_target_; }
  void set_fleet_target(std::string target) { fleet_target_ = std::move(target); }

  // Queues a heartbeat comment, unless bytes are pending already (they keep the connection
  // busy enough).
  void heartbeat();

  // Appends every pending byte to `out` (then a "dropped" notice when exchanges were dropped
  // since the last take) and empties the queue.
  void take(std::string& out);

  bool has_pending() const {
    return !pending_.empty() || unreported_drops_ != 0 || unreported_peer_drops_ != 0;
  }
  std::size_t pending_bytes() const { return pending_.size(); }
  std::uint64_t sent() const { return sent_; }        // exchanges queued
  std::uint64_t dropped() const { return dropped_; }  // exchanges dropped

 private:
  bool queue(std::string_view line, std::size_t max_pending);

  std::optional<storage::record_matcher> matcher_;  // empty: every exchange matches
  std::string fleet_target_;
  std::string pending_;
  std::uint64_t sent_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t unreported_drops_ = 0;       // this stream's gap (see offer())
  std::uint64_t unreported_peer_drops_ = 0;  // add_dropped()'s
};

}  // namespace api
