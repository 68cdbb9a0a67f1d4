// SPDX-License-Identifier: Apache-2.0
#include "replay/request.h"

#include <algorithm>
#include <array>

namespace replay {

namespace {

constexpr std::string_view redacted = "[REDACTED]";

constexpr std::array<std::string_view, 10> hop_by_hop = {
    "connection",        "keep-alive", "proxy-connection", "te",     "trailer",
    "transfer-encoding", "upgrade",    "content-length",   "expect", "http2-settings"};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The names listed in every Connection header ("close, X-Foo").
std::vector<std::string_view> connection_tokens(const std::vector<header>& hs) {
  std::vector<std::string_view> out;
  for (const auto& h : hs) {
    if (!iequals(h.name, "connection")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      const auto comma = v.find(',');
      const auto tok = trim(v.substr(0, comma));
      if (!tok.empty()) out.push_back(tok);
      v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
  }
  return out;
}

// Rule 4: replaces every `h.name` in `hs` (first keeps its place) or appends; empty removes.
void set_header(std::vector<header>& hs, const header& h) {
  auto first =
      std::find_if(hs.begin(), hs.end(), [&](const header& x) { return iequals(x.name, h.name); });
  if (first == hs.end()) {
    if (!h.value.empty()) hs.push_back(h);
    return;
  }
  const auto at = first - hs.begin();
  hs.erase(
      std::remove_if(first + 1, hs.end(), [&](const header& x) { return iequals(x.name, h.name); }),
      hs.end());
  if (h.value.empty()) {
    hs.erase(hs.begin() + at);
  } else {
    hs[static_cast<std::size_t>(at)] = h;
  }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<target> parse_target(std::string_view url, std::string& error) {
  target t;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    error = "expected http://HOST[:PORT][/PATH] or https://...";
    return std::nullopt;
  }
  for (char c : url.substr(0, sep)) t.scheme += lower(c);
  if (t.scheme != "http" && t.scheme != "https") {
    error = "the scheme must be http or https";
    return std::nullopt;
  }
  auto rest = url.substr(sep + 3);
  const auto slash = rest.find_first_of("/?#");
  t.authority = std::string(rest.substr(0, slash));
  if (t.authority.empty() || t.authority.find('@') != std::string::npos) {
    error = "expected a host (and port) after the scheme, without user info";
    return std::nullopt;
  }
  if (slash != std::string_view::npos) {
    auto path = rest.substr(slash);
    if (path.front() != '/') {
      error = "the target URL may hold a path, not a query or fragment";
      return std::nullopt;
    }
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    t.base_path = std::string(path);
  }
  return t;
}

std::optional<header> parse_header_arg(std::string_view arg) {
  const auto colon = arg.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const auto name = arg.substr(0, colon);
  if (name.find_first_of(" \t\r\n") != std::string_view::npos) return std::nullopt;
  const auto value = trim(arg.substr(colon + 1));
  if (value.find_first_of("\r\n") != std::string_view::npos) return std::nullopt;
  return header{std::string(name), std::string(value)};
}

outgoing_request build_request(const captured_request& rq, const target& t,
                               const request_options& opts) {
  outgoing_request out;
  out.method = rq.method;
  out.url = t.scheme + "://" + t.authority + t.base_path + rq.path;
  if (rq.query) {
    out.url += '?';
    out.url += *rq.query;
  }
  const auto named = connection_tokens(rq.headers);
  auto given = [&](std::string_view name) {
    return std::any_of(opts.headers.begin(), opts.headers.end(),
                       [&](const header& h) { return iequals(h.name, name); });
  };
  for (const auto& h : rq.headers) {
    const bool hop = std::any_of(hop_by_hop.begin(), hop_by_hop.end(),
                                 [&](std::string_view n) { return iequals(n, h.name); }) ||
                     std::any_of(named.begin(), named.end(),
                                 [&](std::string_view n) { return iequals(n, h.name); });
    if (hop) continue;
    if (h.value == redacted && !given(h.name)) continue;
    if (!opts.keep_host && iequals(h.name, "host")) {
      out.headers.push_back({h.name, t.authority});
      continue;
    }
    out.headers.push_back(h);
  }
  if (!opts.keep_host && std::none_of(out.headers.begin(), out.headers.end(),
                                      [](const header& h) { return iequals(h.name, "host"); })) {
    out.headers.insert(out.headers.begin(), header{"host", t.authority});
  }
  for (const auto& h : opts.headers) set_header(out.headers, h);
  out.body = rq.body;
  return out;
}

}  // namespace replay
