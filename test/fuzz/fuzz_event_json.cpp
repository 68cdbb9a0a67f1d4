// SPDX-License-Identifier: Apache-2.0
//
// The legacy JSON decoder of POST /http-events (api/ingest.h) under libFuzzer. The first byte
// picks JSON or NDJSON; the rest is the request body. Invariants: a syntax error accepts
// nothing and places its offset inside the body; otherwise every envelope is either an event
// or counted as refused, and the first refused one is named. The same bytes also go through
// json_error_offset() and the --redact-json-field scanner, which must leave a body without the
// field untouched.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/ingest.h"
#include "correlate/json_redact.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto format = (data[0] & 1) != 0 ? api::body_format::ndjson : api::body_format::json;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  static api::event_decoder decoder;
  const auto r = decoder.decode(format, body, 1795830243000000);
  if (r.syntax_error) {
    check(r.events.empty());
    check(r.offset <= body.size());
    check(!r.message.empty());
  } else {
    check(r.events.size() + r.bad_items == r.items);
    check(r.bad_index.has_value() == (r.bad_items > 0));
    if (r.bad_index) check(*r.bad_index < r.items && !r.bad_field.empty());
    for (const auto& e : r.events) {
      check(!e.id.empty());
      check(e.source == correlate::source::http);
    }
  }
  if (const auto off = api::json_error_offset(body)) check(*off <= body.size());

  std::string text(body);
  std::vector<std::size_t> hits;
  correlate::redact_json_text(text, {"password", "a"}, hits);
  if (hits[0] == 0 && hits[1] == 0) check(text == body);
  return 0;
}
