// SPDX-License-Identifier: Apache-2.0
//
// Filters over stored records (the JSON lines storage/ writes), for GET /events and
// GET /events.har. A `filter` is plain data; a `record_matcher` checks one line against it with
// simdjson's On Demand API, reading only the fields the filter needs, in the order the writer
// puts them (id, complete, request.time, request.method, request.path, request.headers,
// response.time, response.status), so most lines are rejected after a few bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace storage {

struct filter {
  // Inclusive bounds on the exchange's time: the request's time, or the response's when the
  // record has no request. Microseconds since the Unix epoch.
  std::optional<std::int64_t> since_us;
  std::optional<std::int64_t> until_us;
  std::string method;    // exact, case-sensitive ("GET"); empty: any
  int status = 0;        // exact status (100..599); 0: any
  int status_class = 0;  // 1..5 for "1xx".."5xx"; 0: any. Records without a response
                         // never match a status filter.
  std::string path;      // prefix of request.path, or a glob when it holds '*'
                         // ('*' matches any run of bytes, the glob must match the whole
                         // path); empty: any
  std::string host;      // the request's Host header, compared case-insensitively; a
                         // filter without ":port" also matches "host:port"; empty: any
  std::string id;        // exact exchange id; empty: any
  std::string route;     // fold_route(request.path) must equal it exactly ("/items/{id}");
                         // empty: any
  std::optional<bool> complete;

  bool empty() const;
};

// Checks records against one filter. Not thread-safe (it owns a simdjson parser): make one per
// query.
class record_matcher {
 public:
  explicit record_matcher(filter f);
  ~record_matcher();
  record_matcher(const record_matcher&) = delete;
  record_matcher& operator=(const record_matcher&) = delete;
  record_matcher(record_matcher&&) noexcept;

  // True when `line` (one stored record, no newline) passes the filter. `capacity` is the
  // number of readable bytes at line.data(), at least line.size() + simdjson::SIMDJSON_PADDING.
  // A line that is not a stored record (not JSON, a field of the wrong type) never matches.
  bool operator()(std::string_view line, std::size_t capacity);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// RFC 3339 date-time ("2026-11-28T01:44:03Z", "2026-11-28T01:44:03.123456+02:00"; 't'/'z'
// accepted lower-case; fractions beyond microseconds are cut) -> microseconds since the epoch.
// Nothing for anything else, including out-of-range fields (month 13, hour 24).
std::optional<std::int64_t> parse_rfc3339(std::string_view s);

// The route of a request path, as GET /events/stats groups them: every segment that looks
// like an identifier becomes "{id}", so "/items/42" and "/items/43" are one route. A segment
// is an identifier when it is all decimal digits, a UUID (8-4-4-4-12 hex digits with
// dashes, either case), or 16 or more hex digits with at least one decimal digit among them
// (a hash, an object id, a UUID without dashes). Words ("v2", "users", "cafe", "deadbeef")
// stay; empty segments ("//", a trailing '/') stay empty. "/items/42/" -> "/items/{id}/".
std::string fold_route(std::string_view path);

// True when `glob` ('*' = any run of bytes, everything else literal) matches all of `s`.
bool glob_match(std::string_view glob, std::string_view s);

}  // namespace storage
