// SPDX-License-Identifier: Apache-2.0
//
// exchange -> one line of JSON, the record schema of DESIGN.md ("The stored record").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "correlate/types.h"

namespace storage {

// Appends the JSON object for `x` followed by '\n' to `out`.
// Bodies that are valid UTF-8 are written as JSON strings with "body_encoding":"utf8", any
// other body as base64 with "body_encoding":"base64". Every byte value is escaped correctly
// (control characters as \u00XX, '"' and '\\' escaped). Header names and values, paths and
// other strings that are not valid UTF-8 have each invalid byte replaced by U+FFFD.
void append_json_line(const correlate::exchange& x, std::string& out);

// Appends `s` as a JSON string literal (with quotes), escaping as above.
void append_json_string(std::string_view s, std::string& out);

// Standard base64 (RFC 4648, with padding) of `in`, appended to `out`.
void append_base64(std::string_view in, std::string& out);

// The inverse: decodes standard base64 with padding (what append_base64 writes, and what HAR
// files hold) and appends the bytes to `out`; false, with `out` untouched, on malformed input.
bool base64_decode(std::string_view in, std::string& out);

// True when `s` is valid UTF-8 (simdjson's validator).
bool is_utf8(std::string_view s);

// Appends `s` to `out` unescaped, with each byte that does not start a well-formed UTF-8
// sequence replaced by U+FFFD: the value a JSON reader gets back for a string that
// append_json_string() wrote. The store hashes exchange ids in this form.
void append_valid_utf8(std::string_view s, std::string& out);

// RFC 3339 UTC time with microseconds: "2026-11-28T01:44:03.123456Z".
void append_rfc3339(std::int64_t time_us, std::string& out);

}  // namespace storage
