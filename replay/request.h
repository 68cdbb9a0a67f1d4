// SPDX-License-Identifier: Apache-2.0
//
// Building the request to send again from a captured one. Rules, in order:
//   1. The captured headers, in their order and with their repeats, except the hop-by-hop
//      ones, which belong to the original connection (RFC 9110 7.6.1): Connection, every
//      header Connection names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
//      Upgrade; and Content-Length and Expect, which the client sets from the body it sends.
//   2. Host is rewritten to the target's authority ("127.0.0.1:8081"), unless keep_host.
//   3. A header whose value is exactly "[REDACTED]" (the agent's redaction) is never sent as
//      if real: it is dropped, unless a --header gives that name (rule 4 replaces it).
//   4. Each --header "Name: value" replaces every header of that name (case-insensitively; the
//      first one keeps its place) or is appended; "Name:" with an empty value removes it.
//   5. The body is the captured bytes, unchanged (HAProxy hands the agent bodies without their
//      chunked framing, so they are sent with a Content-Length).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replay/types.h"

namespace replay {

struct target {
  std::string scheme;     // "http" or "https"
  std::string authority;  // "host:port" or "host" as given (IPv6 in brackets)
  std::string base_path;  // prefix put before every captured path, no trailing '/'; often ""
};

// "http://host:port[/base]" or "https://...". Returns nothing and sets `error` otherwise.
std::optional<target> parse_target(std::string_view url, std::string& error);

// "Name: value" (the value may be empty) -> header. Nothing when there is no ':' or the name
// is empty or holds a space.
std::optional<header> parse_header_arg(std::string_view arg);

struct request_options {
  bool keep_host = false;
  std::vector<header> headers;  // from --header, in order; a later one for a name wins
};

outgoing_request build_request(const captured_request& rq, const target& t,
                               const request_options& opts);

// ASCII case-insensitive equality of header names.
bool iequals(std::string_view a, std::string_view b);

}  // namespace replay
