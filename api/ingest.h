// SPDX-License-Identifier: Apache-2.0
//
// The legacy ingestion format of POST /http-events (DESIGN.md "Legacy JSON ingestion"), decoded
// into owning correlate::events. No sockets, no clocks: the caller passes `now_us`.
//
// One envelope:
//   {"type":"request"|"response","timestamp":<epoch seconds>,"data":{"id":"...", ...}}
//   request data:  method (string, required), path (string, required; a '?' in it splits off
//                  the query when "query" is absent), query (string or null), version
//                  ("1.1" or "HTTP/1.1"), headers, body, body_size, truncated, client_ip,
//                  client_port, frontend
//   response data: status (integer 100..599, required), version, headers, body, body_size,
//                  truncated, backend, server
//   headers: an object {"name":"value" | ["v1","v2"]} or an array of ["name","value"] pairs;
//            numbers are accepted as values; names are lower-cased (as HAProxy sends them).
//   body:    a string (the bytes; msgpack BIN too), an integer (length only: not captured,
//            body_size = N, as older agents sent), or null/absent (not captured, size 0).
//            "body_size" (integer >= the bytes sent) marks a cut body as truncated.
//   timestamp: seconds since the epoch, integer or fractional; values past 1e11 are read as
//            milliseconds; absent: `now_us`.
//   Other scalar fields of "data" are kept under the record's "extra"; nested ones are ignored.
// Bodies: a single envelope, a JSON array of envelopes, NDJSON (one envelope per line, blank
// lines skipped), or MessagePack with the same shape (one map, an array of maps, or several
// such values back to back).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "correlate/types.h"

namespace api {

enum class body_format { json, ndjson, msgpack };

// application/json (and */*+json), application/x-ndjson (also application/ndjson,
// application/jsonl), application/msgpack (also application/x-msgpack), parameters such as
// "; charset=utf-8" ignored, case-insensitive. Nothing for anything else (415).
std::optional<body_format> ingest_format(std::string_view content_type);

struct ingest_result {
  std::vector<correlate::event> events;  // every valid envelope, in order, source http
  std::size_t items = 0;                 // envelopes seen (valid or not)

  // 400: the body is not JSON / MessagePack. Nothing is accepted (`events` is empty);
  // `message` is the parser's (simdjson error_message(), or msgpack-c's), `offset` the byte
  // where the input stops being valid (an approximation for MessagePack: where the value that
  // failed starts).
  bool syntax_error = false;
  std::string message;
  std::size_t offset = 0;

  // 422: the first envelope that is well-formed but unusable; every other valid one is in
  // `events`. `bad_field` is the path of the field ("data.id", "data.headers[2]"), `message`
  // says what is wrong ("missing field \"data.id\"").
  std::optional<std::size_t> bad_index;
  std::string bad_field;
  std::size_t bad_items = 0;  // how many envelopes were refused
};

// Holds the parsers; one per loop thread (STYLE.md §6). Not thread-safe.
class event_decoder {
 public:
  event_decoder();
  ~event_decoder();
  event_decoder(const event_decoder&) = delete;
  event_decoder& operator=(const event_decoder&) = delete;

  // Never throws except std::bad_alloc. Copies what it keeps: `body` may go away afterwards.
  ingest_result decode(body_format f, std::string_view body, std::int64_t now_us);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The byte offset where `json` stops being one valid JSON text (RFC 8259, UTF-8, nesting at
// most 1024 deep), json.size() when it ends too early, or nothing when it is valid. Used to
// place simdjson's error, which carries no position.
std::optional<std::size_t> json_error_offset(std::string_view json);

}  // namespace api
