// SPDX-License-Identifier: Apache-2.0
#include "api/router.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <exception>

namespace api {

namespace {

constexpr std::string_view events_path = "/events";
constexpr std::string_view event_prefix = "/events/";
constexpr std::size_t default_limit = 100;
constexpr std::size_t max_limit = 1000;

// Filters DESIGN.md lists for GET /events that the store cannot apply yet. Ignoring them would
// answer a filtered question with unfiltered data, so they are refused by name.
constexpr std::array<std::string_view, 8> unsupported_filters = {
    "since", "until", "method", "status", "path", "host", "id", "complete"};

enum class route { none, events, event, status, healthz };

route match(std::string_view path) {
  if (path == events_path) return route::events;
  if (path == "/status") return route::status;
  if (path == "/healthz") return route::healthz;
  if (path.starts_with(event_prefix) && path.size() > event_prefix.size() &&
      path.find('/', event_prefix.size()) == std::string_view::npos) {
    return route::event;
  }
  return route::none;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

response json_ok(std::string body) {
  response r;
  r.body = std::move(body);
  return r;
}

response events_page(const storage::store& store, std::string_view query) {
  storage::query q;
  q.limit = default_limit;
  bool seen_limit = false;
  bool seen_cursor = false;
  for (const auto& [name, value] : parse_query(query)) {
    if (name == "limit" && !seen_limit) {
      seen_limit = true;
      std::size_t n = 0;
      const auto* end = value.data() + value.size();
      const auto [p, ec] = std::from_chars(value.data(), end, n);
      if (value.empty() || ec != std::errc() || p != end || n < 1 || n > max_limit) {
        return error_response(400, "invalid limit: expected an integer from 1 to 1000");
      }
      q.limit = n;
    } else if (name == "cursor" && !seen_cursor) {
      seen_cursor = true;
      q.before = decode_cursor(value);
      if (!q.before) return error_response(400, "invalid cursor");
    } else {
      for (auto f : unsupported_filters) {
        if (name == f) {
          return error_response(400, fmt::format("parameter \"{}\" is not supported", f));
        }
      }
    }
  }

  const auto page = store.query(q);
  std::size_t size = 32;
  for (const auto& rec : page.records) size += rec.size() + 1;
  std::string body;
  body.reserve(size);
  body += "{\"events\":[";
  // Records are JSON objects already (storage/ wrote them); they are spliced, not re-encoded.
  for (std::size_t i = 0; i < page.records.size(); ++i) {
    if (i > 0) body += ',';
    body += page.records[i];
  }
  body += "],\"next\":";
  if (page.next) {
    body += '"';
    body += encode_cursor(*page.next);
    body += '"';
  } else {
    body += "null";
  }
  body += '}';
  return json_ok(std::move(body));
}

response one_event(const storage::store& store, std::string_view path) {
  const auto id = percent_decode(path.substr(event_prefix.size()), false);
  if (!id) return error_response(400, "invalid percent-encoding in exchange id");
  auto rec = store.get(*id);
  if (!rec) return error_response(404, "exchange not found");
  return json_ok(std::move(*rec));
}

std::uint64_t find_metric(const std::vector<metric_group>& groups, std::string_view group,
                          std::string_view name) {
  for (const auto& g : groups) {
    if (g.name != group) continue;
    for (const auto& m : g.metrics) {
      if (m.name == name) return m.value;
    }
  }
  return 0;
}

response status_page(const std::vector<metric_group>& groups, std::string_view version) {
  std::string body = "{\"status\":\"ok\",\"version\":";
  append_json_string(version, body);
  auto it = std::back_inserter(body);
  fmt::format_to(it, ",\"uptimeSeconds\":{},\"pendingEvents\":{}",
                 find_metric(groups, "process", "uptime_seconds"),
                 find_metric(groups, "correlator", "pending"));
  for (const auto& g : groups) {
    body += ',';
    append_json_string(g.name, body);
    body += ":{";
    for (std::size_t i = 0; i < g.metrics.size(); ++i) {
      if (i > 0) body += ',';
      append_json_string(g.metrics[i].name, body);
      fmt::format_to(it, ":{}", g.metrics[i].value);
    }
    body += '}';
  }
  body += '}';
  return json_ok(std::move(body));
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return std::nullopt;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    const auto raw_name = part.substr(0, eq);
    const auto raw_value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    auto name = percent_decode(raw_name, true);
    auto value = percent_decode(raw_value, true);
    // A malformed escape keeps its bytes as sent: the value then fails its own validation
    // ("invalid cursor") instead of the whole query failing without a name.
    out.emplace_back(name ? std::move(*name) : std::string(raw_name),
                     value ? std::move(*value) : std::string(raw_value));
  }
  return out;
}

std::string encode_cursor(std::uint64_t seq) {
  std::array<char, 16> buf{};
  const auto [p, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), seq, 36);
  return std::string(buf.data(), p);
}

std::optional<std::uint64_t> decode_cursor(std::string_view s) {
  // Lower-case base 36 only, no sign, no leading zeros: one spelling per cursor.
  if (s.empty() || s.size() > 13 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return std::nullopt;
  }
  std::uint64_t v = 0;
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v, 36);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

router::router(const storage::store& store, status_fn status, std::string version)
    : store_(store), status_(std::move(status)), version_(std::move(version)) {}

bool router::blocking(const request& r) {
  if (r.method != "GET") return false;
  const auto rt = match(r.path);
  return rt == route::events || rt == route::event;
}

response router::handle(const request& r) const {
  const auto rt = match(r.path);
  if (rt == route::none) return error_response(404, "not found");
  if (r.method != "GET") {
    auto resp = error_response(405, "method not allowed");
    resp.headers.emplace_back("Allow", "GET");
    return resp;
  }
  switch (rt) {
    case route::healthz:
      return json_ok("{\"status\":\"ok\"}");
    case route::status:
      return status_page(status_ ? status_() : std::vector<metric_group>{}, version_);
    case route::events:
    case route::event:
      // Runs on the thread pool: nothing may escape into the libuv callback (STYLE.md §5).
      try {
        return rt == route::events ? events_page(store_, r.query) : one_event(store_, r.path);
      } catch (const std::exception&) {
        return error_response(500, "storage read failed");
      }
    case route::none:
      break;
  }
  return error_response(404, "not found");
}

}  // namespace api
