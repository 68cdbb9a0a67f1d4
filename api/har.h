// SPDX-License-Identifier: Apache-2.0
//
// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) export of stored records, for
// GET /events.har. The log is produced page by page (storage::store::query with the filter),
// one chunk per page of at most `page_size` entries, never whole in memory.
//
// Each entry, from one stored record:
//   startedDateTime  request.time (response.time for a response-only record)
//   time             duration_us / 1000 (ms), 0 when unknown
//   request          method, url ("http://" + Host header (or "unknown") + path + "?" + query),
//                    httpVersion ("HTTP/1.1"), cookies (from Cookie headers), headers,
//                    queryString (split on '&' and '=', not decoded), postData {mimeType,
//                    text[, _encoding:"base64"]} when a body was captured, headersSize -1,
//                    bodySize (body_size, -1 when unknown)
//   response         status, statusText, httpVersion, cookies (from Set-Cookie), headers,
//                    content {size, mimeType, text?, encoding?: "base64"}, redirectURL (the
//                    Location header or ""), headersSize -1, bodySize. A record without a
//                    response gets status 0 and empty fields, as browsers write aborted
//                    requests.
//   cache {}, timings {send 0, wait time, receive 0}, and the custom fields _id, _complete,
//   _source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/http.h"
#include "storage/filter.h"
#include "storage/store.h"

namespace api {

// Appends the HAR entry object for one stored record to `out`. Returns false (and appends
// nothing) when the record cannot be read as one. Not thread-safe (`parser`).
bool append_har_entry(std::string_view record, std::string& out);

struct har_options {
  storage::filter filter;
  std::optional<std::uint64_t> before;  // cursor: only records older than it
  std::uint64_t limit = 0;              // 0: every matching record
  std::size_t page_size = 100;
  std::string creator_version;
};

// The producer of a whole HAR log over `store`, which must outlive it.
std::unique_ptr<body_producer> make_har_producer(const storage::store& store, har_options opts);

}  // namespace api
