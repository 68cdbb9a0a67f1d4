// SPDX-License-Identifier: Apache-2.0
//
// Routes of the HTTP API. Unknown path -> 404 JSON; known path, wrong method -> 405 with Allow.
// docs/api.md is the user-facing reference; this is the contract.
//
//   GET /events?limit=N&cursor=C&<filters>
//       200 {"events":[<stored records, newest first>],"next":"<cursor>"|null}
//       The records are spliced as storage/ wrote them. `limit`: 1..1000, default 100;
//       `cursor`: the `next` of the previous page (base-36 of the store's sequence number;
//       clients must treat it as opaque). Paging is by sequence number, so exchanges stored
//       while a client pages never shift a page: no duplicates, no gaps. Query names and
//       values are percent-decoded with '+' as a space; the first occurrence of a parameter
//       wins; unknown parameters are ignored.
//       Filters (all must hold): since, until (RFC 3339, inclusive, on the request's time),
//       method (case-insensitive), status ("404" or a class "4xx"), path (prefix, or a glob
//       when it holds '*'), host (Host header, case-insensitive, port optional), id,
//       complete (true/false/1/0), route (storage::fold_route() of the path equals it:
//       "/items/{id}"). With filters the store reads older records until `limit`
//       of them match; `next` is null only when nothing older is left.
//       With "Accept: application/x-ndjson": the same records, one per line, chunked; the
//       next cursor goes in an "X-Next-Cursor" header (absent at the end).
//       400 {"error":"invalid limit: expected an integer from 1 to 1000"}, "invalid cursor",
//           "invalid since: expected an RFC 3339 date-time", "invalid status: ...", ...
//       scope=local: this agent's records only, even with peers, plus "cursors":[...] (one
//       per record: the cursor continuing right after it). With router_options::instance,
//       `cursor` may also be a fleet cursor (api/fleet.h): this agent's entry of it is read
//       (none: from the newest; "done": an empty page, "next" null). With --peers and no
//       scope=local, the fleet answers (api/fleet.h): "next" is then a fleet cursor, valid on
//       every replica, and "peers", "partial" and "peers_failed" say who answered.
//       400 "invalid scope: expected local or fleet".
//   GET /events.har?<same parameters>
//       200 application/json, chunked: a HAR 1.2 log (api/har.h) of every matching record,
//       newest first; `limit` (1..1000000) caps it, absent means all.
//   GET /events/stream?<same filters>
//       200 text/event-stream, chunked, never ending by itself: every exchange handed to
//       storage from then on that passes the filters, as Server-Sent Events (api/event_stream.h
//       has the format). `limit` and `cursor` are checked and ignored. The response carries
//       `live`; the agent writes its head and feeds it (router::handle() only builds it).
//       With peers and no scope=local, `live` also names the target its peers are asked
//       (event_stream::fleet_target(): this query with scope=local); agent/fleet_stream.h
//       relays them.
//   GET /events/stats?<same filters>&bucket=1m&group=path&sort=count&top=20
//       200 {"from","to","bucket","bucket_seconds","matched","scanned","partial",
//            "max_records","took_ms","totals":{...},"buckets":[...],"group","sort",
//            "route_count","routes_capped","routes":[...]}: storage/stats.h aggregates,
//       docs/api.md has the fields. Reads newest first, at most router_options::stats_max_records records
//       (matching or not); past that "partial" is true. `cursor` starts the read below it;
//       `limit` is checked and ignored.
//       400 "invalid bucket: ...", "invalid group: ...", "invalid sort: ...", "invalid top:
//           ...", or a bucket that makes more than storage::max_buckets buckets.
//   GET /events/{id}  (the segment is percent-decoded, '+' stays '+'; "/events/stream" is the
//       route above: an exchange with that id is GET /events/%73tream)
//       200 <the newest stored record with that id> | 404 {"error":"exchange not found"}
//       With peers (and no scope=local): a local miss asks every peer, first 200 wins; the
//       404 then adds "partial":true and "peers_failed" when a peer did not answer.
//       GET /events.har with peers: the fleet's records in one HAR log (not streamed), with
//       "X-HEP-Partial: peers failed: ..." and log.comment when a peer did not answer.
//       With router_options::instance, the /events routes answer an X-HEP-Instance header.
//       400 {"error":"invalid percent-encoding in exchange id"}
//   POST /http-events  (api/ingest.h has the format)
//       202 {"accepted":N}
//       400 {"error":"<parser message>","offset":N}   nothing accepted
//       415 {"error":"unsupported content type ..."}  (JSON, NDJSON, MessagePack only)
//       422 {"error":"<first problem>","index":I,"field":"data.id","accepted":N,"rejected":M}
//           every valid envelope of the batch is accepted all the same
//       503 {"error":"pipeline full"} + Retry-After: 1 when the ingest sink refuses
//       413 comes from the request parser (--max-request-bytes).
//   GET /status   200 {"status":"ok","version":"<v>","uptimeSeconds":N,"pendingEvents":N,
//                      "<group>":{"<metric>":N,...},...}; never touches the disk.
//   GET /metrics  200 text/plain; version=0.0.4: every /status number plus the histograms.
//   GET /, /ui, /ui/, /ui/index.html, /ui/app.js, /ui/style.css
//       the web viewer, compiled in (api/ui.h): ETag, Cache-Control: no-cache, 304 on a
//       matching If-None-Match; the page with a strict Content-Security-Policy.
//   GET /healthz  200 {"status":"ok"}
//   GET /readyz   200 {"status":"ready"} | 503 {"status":"not ready","reason":"..."}: the
//                 agent's listeners are up (ready_fn) and store::writable().
//   Authentication: with an api token, every route but /status, /healthz, /readyz, the viewer's
//   files and POST /http-events needs "Authorization: Bearer <token>"; with an ingest token,
//   /http-events needs it. Otherwise 401 {"error":"unauthorized"} + WWW-Authenticate: Bearer
//   realm="http-event-processor". Tokens are compared in constant time.
//   any other path: 404 {"error":"not found"} (also "/events/" and "/events/a/b").
//   a known path with the wrong method: 405 {"error":"method not allowed"} + "Allow: GET"
//       (or "Allow: POST" on /http-events). HEAD is answered 405 too.
//   A storage read that throws: 500 {"error":"storage read failed"}; handle() never throws
//   except std::bad_alloc.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/fleet.h"
#include "api/http.h"
#include "api/ingest.h"
#include "api/metrics.h"
#include "storage/store.h"

namespace api {

// Takes the events of one POST /http-events (moving from them) and returns true, or returns
// false without taking any when the pipeline is full (answered 503). Loop thread only.
using ingest_fn = std::function<bool(std::vector<correlate::event>& events)>;
// Empty when the process is ready to serve; otherwise why not (GET /readyz).
using ready_fn = std::function<std::string()>;
// Microseconds since the epoch: the time of legacy envelopes without a timestamp.
using clock_fn = std::function<std::int64_t()>;

struct router_options {
  std::string api_token;     // empty: the API is open
  std::string ingest_token;  // empty: POST /http-events is open
  ingest_fn ingest;          // absent: POST /http-events answers 503
  ready_fn ready;            // absent: only the store is checked
  histograms_fn histograms;  // extra series for /metrics
  clock_fn now_us;           // absent: the system clock
  // GET /events/stats reads at most this many records (newest first), then answers with
  // "partial": true.
  std::uint64_t stats_max_records = 1'000'000;
  // This agent's instance id: "instance" in /status and the X-HEP-Instance header of the
  // /events routes (empty: neither).
  std::string instance;
  // The other replicas (--peers): when set, GET /events, /events/{id} and /events.har answer
  // for the fleet (api/fleet.h) unless asked with scope=local. Absent: this agent only.
  std::shared_ptr<peer_client> peers;
};

class router {
 public:
  // `status` is only called from handle() for /status and /metrics; `version` goes into
  // /status and the HAR creator.
  router(const storage::store& store, status_fn status, std::string version,
         router_options opts = {});
  ~router();

  // True when handling `r` reads the disk and so must run off the loop thread: GET /events,
  // GET /events.har, GET /events/stats and GET /events/{id}. Their 405s and 401s and every other route are cheap
  // and answer false. POST /http-events answers false: it runs on the loop thread, where its
  // sink feeds the correlator.
  static bool blocking(const request& r);

  // True for the routes a probe listener serves: /healthz, /readyz, /status and /metrics.
  static bool probe_route(std::string_view path);

  // Builds the response for `r`. Thread-safe for blocking routes; non-blocking routes
  // (/status, /healthz, /metrics, POST /http-events, errors) must be handled on the loop
  // thread. A streamed response (GET /events.har, NDJSON) reads the store from its producer.
  response handle(const request& r) const;

  // Counters of the API itself, for /status (group "api").
  struct counters {
    std::uint64_t ingest_requests = 0;
    std::uint64_t ingest_events = 0;       // envelopes accepted
    std::uint64_t ingest_rejected = 0;     // envelopes refused (422)
    std::uint64_t ingest_bad_bodies = 0;   // 400 and 415
    std::uint64_t ingest_full = 0;         // 503
    std::uint64_t unauthorized = 0;        // 401 (loop thread only)
  };
  counters stats() const;  // thread-safe

 private:
  response ingest(const request& r) const;

  const storage::store& store_;
  status_fn status_;
  std::string version_;
  router_options opts_;
  std::unique_ptr<event_decoder> decoder_;  // one per loop (loop-thread routes only)
  struct atomic_counters;
  std::unique_ptr<atomic_counters> stats_;
};

// True when `header` (an Authorization value) is "Bearer <token>" ("bearer" in any case),
// comparing the token in time that depends only on the lengths.
bool bearer_matches(std::string_view authorization, std::string_view token);

// Additions to the original contract: helpers of the routes, public for tests and for the
// other handlers.

// Decodes %XX escapes (either case), and '+' as a space when `plus_is_space` (query strings,
// not paths). Returns nothing for a '%' not followed by two hex digits. Decoded bytes are not
// checked for UTF-8 or NUL.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space);

// Splits a query string ("a=1&b=x+y") into decoded (name, value) pairs, in order. Empty
// parts ("a=1&&b") are skipped; a part without '=' has an empty value. A name or value with a
// malformed escape is kept undecoded, so that the parameter's own validation reports it.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

// The /events cursor: a store sequence number in lower-case base 36. decode_cursor() accepts
// exactly what encode_cursor() produces (no sign, no upper case, no leading zeros, fits in
// 64 bits) and returns nothing for anything else.
std::string encode_cursor(std::uint64_t seq);
std::optional<std::uint64_t> decode_cursor(std::string_view s);

}  // namespace api
