// SPDX-License-Identifier: Apache-2.0
//
// --redact-json-field: masks the values of named fields in JSON bodies before they are stored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "correlate/types.h"

namespace correlate {

// Replaces the value of every member named one of `fields` (exact, case-sensitive, at any
// depth) in the JSON text `body` with the string "[REDACTED]" (a nested object or array
// value is replaced whole). The text is scanned, not parsed, so the rest of the body keeps its
// bytes and formatting, and a body cut short by HAProxy's buffer is masked as far as it goes.
// A member name written with escapes ("p\u0061ss") is compared after unescaping simple
// escapes only (\" \\ \/), which is what clients send in practice. Returns how many values
// were masked per field, in `fields` order (`hits` is resized to fields.size()).
void redact_json_text(std::string& body, const std::vector<std::string>& fields,
                      std::vector<std::size_t>& hits);

// Applies redact_json_text() to the request and response bodies of `x` whose Content-Type is
// JSON (application/json or */*+json), and lists each field that was masked once in
// `x.redacted` as "body:<name>". No-op when `fields` is empty.
void redact_json_fields(correlate::exchange& x, const std::vector<std::string>& fields);

// The same for one half (Kafka pairing's halves topic); the labels are listed when the pair is
// stored, since the masked members still match.
void redact_json_fields(correlate::event& e, const std::vector<std::string>& fields);

}  // namespace correlate
