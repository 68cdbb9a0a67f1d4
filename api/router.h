// SPDX-License-Identifier: Apache-2.0
//
// Routes of the HTTP API: GET /events, GET /events/{id}, GET /status, GET /healthz.
// Unknown path -> 404 JSON; known path, wrong method -> 405 with Allow.
//
// Every answer is JSON (Content-Type application/json):
//   GET /events?limit=N&cursor=C
//       200 {"events":[<stored records, newest first>],"next":"<cursor>"|null}
//       The records are spliced as storage/ wrote them. `limit`: 1..1000, default 100;
//       `cursor`: the `next` of the previous page (base-36 of the store's sequence number;
//       clients must treat it as opaque). Query names and values are percent-decoded with
//       '+' as a space; the first occurrence of a parameter wins; unknown parameters are
//       ignored.
//       400 {"error":"invalid limit: expected an integer from 1 to 1000"}
//       400 {"error":"invalid cursor"}
//       400 {"error":"parameter \"method\" is not supported"} for the DESIGN.md filters the
//           store cannot apply yet (since, until, method, status, path, host, id, complete).
//   GET /events/{id}  (the segment is percent-decoded, '+' stays '+')
//       200 <the newest stored record with that id>
//       404 {"error":"exchange not found"}
//       400 {"error":"invalid percent-encoding in exchange id"}
//   GET /status
//       200 {"status":"ok","version":"<v>","uptimeSeconds":N,"pendingEvents":N,
//            "<group>":{"<metric>":N,...},...}
//       uptimeSeconds is process.uptime_seconds and pendingEvents correlator.pending (0 when
//       absent); then every group of the snapshot, in order. Never touches the disk.
//   GET /healthz
//       200 {"status":"ok"}
//   any other path: 404 {"error":"not found"} (also "/events/" and "/events/a/b").
//   a known path with any method but GET: 405 {"error":"method not allowed"} + "Allow: GET".
//       HEAD is answered 405 too: append_response() always writes the body, and a probe that
//       wants HEAD can use GET.
//   A storage read that throws: 500 {"error":"storage read failed"}; handle() never throws
//   except std::bad_alloc.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/http.h"
#include "storage/store.h"

namespace api {

struct metric {
  std::string_view name;  // snake_case, e.g. "notify_frames"
  std::uint64_t value = 0;
  bool gauge = false;
};

struct metric_group {
  std::string_view name;  // "spop", "correlator", "storage", "http", "process"
  std::vector<metric> metrics;
};

// Returns a snapshot of every counter. Called on the loop thread only.
using status_fn = std::function<std::vector<metric_group>()>;

class router {
 public:
  // `status` is only called from handle() for /status; `version` goes into /status.
  router(const storage::store& store, status_fn status, std::string version);

  // True when handling `r` reads the disk and so must run off the loop thread: GET /events
  // and GET /events/{id}. Their 405s and every other route are cheap and answer false.
  static bool blocking(const request& r);

  // Builds the response for `r`. Thread-safe for blocking routes; non-blocking routes
  // (/status, /healthz, errors) must be handled on the loop thread.
  response handle(const request& r) const;

 private:
  const storage::store& store_;
  status_fn status_;
  std::string version_;
};

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
