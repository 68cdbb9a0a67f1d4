// SPDX-License-Identifier: Apache-2.0
//
// The fleet-wide read (docs/api.md, "Fleet read"), without sockets: several replicas each store
// part of the exchanges (--pairing kafka), and GET /events, /events/{id} and /events.har on one
// of them answer for all. The agent (agent/peer_client.h) does the HTTP; this file decides what
// to ask each source, merges the answers and encodes the one cursor.
//
// Sources are named by their instance id (the X-HEP-Instance header of every answer, kept in
// the data directory: storage/instance_id.h): this agent's own store is its own id, a peer is
// the id it answers with. The replica asked sends every peer the same query with `scope=local`
// added, so that it answers for itself only and never fans out again (no loops), and with the
// client's fleet cursor as it is. With scope=local, GET /events also answers "cursors": for each
// record, the cursor that continues right after it; the merge uses it to resume a source in the
// middle of its page.
//
// The fleet cursor: base64url (no padding) of a JSON object {"<instance>":"<cursor>"|""|"done",
// ...}: "" = from the newest, "done" = nothing older left, otherwise that instance's own
// /events cursor. Every replica reads it alike, so a client may page through any of them (a
// load-balanced Service): on a scope=local GET /events, a `cursor` that is a fleet cursor means
// this agent's entry of it (from the newest when it has none, an empty page when "done").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace api {

inline constexpr std::string_view cursor_done = "done";

// One HTTP GET to a peer: `target` is path + "?" + query.
struct peer_call {
  std::string peer;  // "host:port"
  std::string target;
};

// What a peer answered. `error` is set (and `status` 0) when no HTTP answer came: "timeout
// after 2s", "connection refused", ...
struct peer_reply {
  std::string peer;
  int status = 0;
  std::string body;
  std::string instance;  // its X-HEP-Instance header, empty when absent
  std::string error;
};

// The agent's side of the fan-out. Implementations are called from the thread-pool worker that
// serves the route, concurrently from several workers.
class peer_client {
 public:
  virtual ~peer_client() = default;
  // The peers to ask now ("host:port"), DNS names resolved; the agent itself is left out once
  // it is known to be one of them.
  virtual std::vector<std::string> peers() = 0;
  // The entries behind which the last peers() found no address ("dns:NAME:PORT" with error
  // "could not resolve ..."): reported as failed peers, never silently left out.
  virtual std::vector<peer_reply> unresolved() { return {}; }
  // Runs every call in parallel and returns one reply per call, in the same order, within the
  // peer timeout. With `first_ok`, returns as soon as one answers 200 (the others then say
  // error "not needed").
  virtual std::vector<peer_reply> fetch(const std::vector<peer_call>& calls, bool first_ok) = 0;
  // This agent's instance id; a reply whose instance equals it came from the agent itself.
  virtual const std::string& instance() const = 0;
  // Tells the client that `peer` is the agent itself (skip it from now on).
  virtual void mark_self(const std::string& peer) = 0;
};

// instance id -> its cursor, "" or "done" (see above).
using fleet_cursor = std::map<std::string, std::string, std::less<>>;

// The opaque form of `c`, which must not be empty.
std::string encode_fleet_cursor(const fleet_cursor& c);
// Reads what encode_fleet_cursor() made. Returns nothing for anything else: bad base64url, not
// a JSON object of strings, an empty object or key, or the form of the versions before
// instance keys (an "@" key: those cursors were valid on one replica only). What
// encode_fleet_cursor() makes never reads as a local cursor (api/router.h decode_cursor()):
// its third character is an upper-case 'J'.
std::optional<fleet_cursor> decode_fleet_cursor(std::string_view s);

// The entry of `instance` in `c`: its cursor, "done", or "" (from the newest) when it has none.
// The view lives as long as `c`.
std::string_view own_entry(const fleet_cursor& c, std::string_view instance);

// One source's page of GET /events?scope=local.
struct source_page {
  std::string source;                // the instance id
  std::vector<std::string> records;  // JSON objects, newest first
  std::vector<std::string> cursors;  // cursors[i] continues after records[i]
  std::optional<std::string> next;   // absent: nothing older is left
};

// Parses a scope=local /events body. Returns an error message when it is not one.
std::optional<std::string> parse_source_page(std::string_view body, source_page& out);

// The time a record is ordered by: request.time, or response.time for a response-only record,
// in microseconds since the epoch; 0 when it has neither.
std::int64_t record_time_us(std::string_view record);

struct merged_page {
  std::vector<std::string> records;  // newest first, at most `limit`
  fleet_cursor next;                 // every source's position after this page
  bool more = false;                 // some source is not "done"
};

// Merges the pages newest first by record_time_us() (ties: instance id, then each source's own
// order, which is always kept), takes at most `limit` records, and says where each source
// stands after them. `before` holds the cursor the pages were asked with (a source taken
// nothing from keeps its entry). Sources of `before` with no page (they failed) keep their
// entry too, so the next page asks them again from there; a source that failed before it ever
// answered has no entry, and starts from the newest when it answers.
merged_page merge_pages(std::vector<source_page> pages, const fleet_cursor& before,
                        std::size_t limit);

// The JSON array [{"peer":"...","error":"..."},...] of the failed replies.
std::string failed_peers_json(const std::vector<peer_reply>& failed);
// "peers failed: a:1 (timeout after 2s), b:2 (HTTP 401)".
std::string failed_peers_text(const std::vector<peer_reply>& failed);

// `query` with `name` removed (every occurrence) and "name=value" appended, value
// percent-encoded.
std::string replace_query_param(std::string_view query, std::string_view name,
                                std::string_view value);

// Base64url (RFC 4648 §5) without padding, and its inverse (nothing for a bad input).
std::string base64url_encode(std::string_view in);
std::optional<std::string> base64url_decode(std::string_view in);

// The fleet routes. `local` answers GET /events with the query it is given (scope=local added)
// from this agent's store; every answer carries the X-HEP-Instance header.
using local_events_fn = std::function<response(std::string_view query)>;

// GET /events for the fleet: 200 {"events":[...],"next":"<fleet cursor>"|null,"peers":N,
// "partial":bool,"peers_failed":[{"peer","error"}]}; "peers" counts the peers that answered
// (each instance once: two addresses of one replica give one page). Every peer is asked on
// every page (a source already "done" answers an empty page at once). "peers_failed" names the
// addresses that did not answer, the dns: entries without one, and the instances of the cursor,
// not "done", that no answer came from ("peer":"instance <id>", "error":"no answer from this
// instance": a replica down or gone while the client pages). 400 "invalid cursor" for a cursor
// decode_fleet_cursor() refuses; the local query's own 400s (bad filters, bad limit) are
// returned as they are.
response fleet_events(std::string_view query, peer_client& pc, const local_events_fn& local);

// GET /events/{id} for the fleet, after the local lookup answered `local` (returned unless it
// is a 404): the first peer's 200, else 404 {"error":"exchange not found"} with "partial":
// true and "peers_failed" when some peer did not answer (a peer's 404 is an answer).
response fleet_event(std::string_view path, peer_client& pc, response local);

// GET /events.har for the fleet: the merged records (fleet_events() pages of at most 1000)
// as one HAR log, `limit` capping it; with failed peers, an "X-HEP-Partial: peers failed: ..."
// header and the same text in log.comment.
response fleet_har(std::string_view query, peer_client& pc, const local_events_fn& local,
                   std::string_view version);

}  // namespace api
