// SPDX-License-Identifier: Apache-2.0
//
// Header redaction: values of sensitive headers are replaced before anything is stored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "correlate/types.h"

namespace correlate {

// The headers redacted unless the operator says otherwise (DESIGN.md "The stored record").
inline constexpr std::string_view default_redacted_headers[] = {
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"};

inline constexpr std::string_view redacted_value = "[REDACTED]";

// Replaces the value of every request and response header whose name matches one of `names`
// (compared case-insensitively; `names` must be lower-case) with "[REDACTED]", and lists each
// matched name once, lower-case, in `x.redacted` (in order of first appearance).
void redact(exchange& x, const std::vector<std::string>& names);

// The same for one half before it leaves the agent (Kafka pairing's halves topic): values are
// masked; the names are listed when the pair is stored, since redact(exchange&) matches the
// masked headers again.
void redact(event& e, const std::vector<std::string>& names);

}  // namespace correlate
