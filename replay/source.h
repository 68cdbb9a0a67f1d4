// SPDX-License-Identifier: Apache-2.0
//
// Reading captured exchanges: from a data directory the agent writes (read-only: the segment
// files are only read, so a running agent's directory is safe), from pages of a running
// agent's GET /events (the caller fetches them), or from a HAR 1.2 file. No I/O but reading
// files; the HTTP fetching of /events pages is the caller's.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "replay/types.h"
#include "storage/filter.h"

namespace replay {

// The /events filters as the command line gives them, unparsed; empty strings are "any".
struct filter_options {
  std::string since, until;  // RFC 3339
  std::string method;        // case-insensitive
  std::string status;        // "404" or "4xx"
  std::string path;          // prefix, or a glob with '*'
  std::string host;
  std::string id;
  std::string complete;  // "true"/"false"/"1"/"0"
};

// Checks `o` as GET /events would and fills `out`. Returns the error ("invalid status: ...")
// or nothing.
std::optional<std::string> to_storage_filter(const filter_options& o, storage::filter& out);

// The same filters as a query string for GET /events ("since=...&status=5xx", percent-encoded,
// no leading '?'; "" when no filter is set).
std::string to_query_string(const filter_options& o);

// One stored record (a JSON line as storage/ writes it) -> an exchange. Nothing when the line
// is not a record or has no request half.
std::optional<exchange> parse_record(std::string_view line);

// Every record of `data_dir`/segments that matches `f`, oldest first (segment number, then
// line). Records without a request are counted in `skipped`; lines that do not parse as
// records (a torn last line) are ignored. An unreadable directory sets `error`.
load_result read_data_dir(const std::filesystem::path& data_dir, const storage::filter& f);

// One page of GET /events ({"events":[...],"next":"<cursor>"|null}), appended to `into` in the
// page's order (newest first: the caller reverses once it has every page). Returns the next
// cursor, or nothing at the end; sets `into.error` when the body is not such a page.
std::optional<std::string> parse_events_page(std::string_view body, load_result& into);

// A HAR 1.2 log (as GET /events.har or a browser writes it), oldest first by startedDateTime
// (entries with equal times keep their order). Entries whose URL cannot be split are skipped.
// Request bodies: postData.text (base64 when "_encoding" or "encoding" says so); response
// bodies: content.text (content.encoding "base64" likewise).
load_result read_har(std::string_view text);

// True when `x` passes `f` by the rules of storage::record_matcher, for sources that are not
// stored records (HAR entries): the request's time, method, path, Host; the captured status;
// the id; complete meaning "has a response".
bool matches(const exchange& x, const storage::filter& f);


}  // namespace replay
