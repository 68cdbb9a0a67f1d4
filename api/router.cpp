// SPDX-License-Identifier: Apache-2.0
#include "api/router.h"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <exception>

#include "api/event_stream.h"
#include "api/har.h"
#include "api/ui.h"
#include "storage/filter.h"
#include "storage/json.h"
#include "storage/stats.h"

namespace api {

struct router::atomic_counters {
  std::atomic<std::uint64_t> ingest_requests{0}, ingest_events{0}, ingest_rejected{0},
      ingest_bad_bodies{0}, ingest_full{0}, unauthorized{0};
};

namespace {

constexpr std::string_view events_path = "/events";
constexpr std::string_view event_prefix = "/events/";
constexpr std::size_t default_limit = 100;
constexpr std::size_t max_limit = 1000;
constexpr std::uint64_t max_har_limit = 1000000;
constexpr std::size_t ndjson_lines_per_chunk = 64;
constexpr std::size_t max_stats_top = 1000;

enum class route {
  none,
  events,
  events_har,
  events_stream,
  events_stats,
  event,
  status,
  healthz,
  readyz,
  metrics,
  ingest,
  ui
};

route match(std::string_view path) {
  if (path == events_path) return route::events;
  if (path == "/events.har") return route::events_har;
  if (path == "/events/stream") return route::events_stream;
  if (path == "/events/stats") return route::events_stats;
  if (path == "/status") return route::status;
  if (path == "/healthz") return route::healthz;
  if (path == "/readyz") return route::readyz;
  if (path == "/metrics") return route::metrics;
  if (path == "/http-events") return route::ingest;
  if (path.starts_with(event_prefix) && path.size() > event_prefix.size() &&
      path.find('/', event_prefix.size()) == std::string_view::npos) {
    return route::event;
  }
  if (find_ui_asset(path) != nullptr) return route::ui;
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

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// A decimal integer from lo to hi, all of `value` (no sign, no spaces).
std::optional<std::uint64_t> parse_count(std::string_view value, std::uint64_t lo,
                                         std::uint64_t hi) {
  std::uint64_t n = 0;
  const auto* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, n);
  if (value.empty() || ec != std::errc() || ptr != end || n < lo || n > hi) return std::nullopt;
  return n;
}

// What GET /events and GET /events.har were asked.
struct events_params {
  std::uint64_t limit = 0;  // 0: not given
  std::optional<std::uint64_t> before;
  storage::filter filter;
  bool local = false;  // scope=local
  bool done = false;   // a fleet cursor whose entry for this agent is "done": nothing to read
};

// Parses the query of /events (max_limit) or /events.har (max_har_limit). On a bad value,
// returns the 400 to send. With `instance`, a fleet cursor (api/fleet.h) is taken too: this
// agent's entry of it.
std::optional<response> parse_events_params(std::string_view query, std::uint64_t limit_max,
                                            events_params& p, std::string_view instance = {}) {
  std::array<bool, 12> seen{};
  auto first = [&](std::size_t k) {
    if (seen[k]) return false;
    seen[k] = true;
    return true;
  };
  for (const auto& [name, value] : parse_query(query)) {
    if (name == "scope" && first(11)) {
      if (value != "local" && value != "fleet") {
        return error_response(400, "invalid scope: expected local or fleet");
      }
      p.local = value == "local";
    } else if (name == "limit" && first(0)) {
      const auto n = parse_count(value, 1, limit_max);
      if (!n) {
        return error_response(
            400, fmt::format("invalid limit: expected an integer from 1 to {}", limit_max));
      }
      p.limit = *n;
    } else if (name == "cursor" && first(1)) {
      p.before = decode_cursor(value);
      if (!p.before && !instance.empty()) {
        if (const auto fleet = decode_fleet_cursor(value)) {
          const auto own = own_entry(*fleet, instance);
          p.done = own == cursor_done;
          if (own.empty() || p.done) continue;
          p.before = decode_cursor(own);
        }
      }
      if (!p.before) return error_response(400, "invalid cursor");
    } else if ((name == "since" || name == "until") && first(name == "since" ? 2 : 3)) {
      auto t = storage::parse_rfc3339(value);
      if (!t) {
        return error_response(400,
                              fmt::format("invalid {}: expected an RFC 3339 date-time", name));
      }
      (name == "since" ? p.filter.since_us : p.filter.until_us) = t;
    } else if (name == "method" && first(4)) {
      std::string m;
      for (char c : value) {
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) {
          return error_response(400, "invalid method");
        }
        m += c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      }
      if (m.empty()) return error_response(400, "invalid method");
      p.filter.method = std::move(m);
    } else if (name == "status" && first(5)) {
      const bool is_class = value.size() == 3 && value[0] >= '1' && value[0] <= '5' &&
                            lower(value[1]) == 'x' && lower(value[2]) == 'x';
      int code = 0;
      const auto* end = value.data() + value.size();
      const auto [ptr, ec] = std::from_chars(value.data(), end, code);
      if (is_class) {
        p.filter.status_class = value[0] - '0';
      } else if (value.size() == 3 && ec == std::errc() && ptr == end && code >= 100 &&
                 code <= 599) {
        p.filter.status = code;
      } else {
        return error_response(400,
                              "invalid status: expected a code (404) or a class (1xx to 5xx)");
      }
    } else if (name == "path" && first(6)) {
      if (value.empty()) return error_response(400, "invalid path: empty");
      p.filter.path = value;
    } else if (name == "host" && first(7)) {
      if (value.empty()) return error_response(400, "invalid host: empty");
      p.filter.host = value;
    } else if (name == "id" && first(8)) {
      if (value.empty()) return error_response(400, "invalid id: empty");
      p.filter.id = value;
    } else if (name == "route" && first(10)) {
      if (value.empty() || value[0] != '/') {
        return error_response(400, "invalid route: expected a folded path (/items/{id})");
      }
      p.filter.route = value;
    } else if (name == "complete" && first(9)) {
      if (value == "true" || value == "1") p.filter.complete = true;
      else if (value == "false" || value == "0") p.filter.complete = false;
      else return error_response(400, "invalid complete: expected true or false");
    }
  }
  return std::nullopt;
}

storage::query make_query(const events_params& p, std::size_t limit,
                          std::shared_ptr<storage::record_matcher>& matcher) {
  storage::query q;
  q.limit = limit;
  q.before = p.before;
  if (!p.filter.empty()) {
    matcher = std::make_shared<storage::record_matcher>(p.filter);
    q.match = [m = matcher.get()](std::string_view line, std::size_t cap) {
      return (*m)(line, cap);
    };
  }
  return q;
}

bool wants_ndjson(const request& r) {
  const auto accept = r.header_value("accept");
  return accept.find("application/x-ndjson") != std::string_view::npos ||
         accept.find("application/ndjson") != std::string_view::npos;
}

// Lines of records already read (at most `limit`), a few dozen per chunk.
class ndjson_producer final : public body_producer {
 public:
  explicit ndjson_producer(std::vector<std::string> records) : records_(std::move(records)) {}
  bool next(std::string& out) override {
    const std::size_t end = std::min(records_.size(), pos_ + ndjson_lines_per_chunk);
    for (; pos_ < end; ++pos_) {
      out += records_[pos_];
      out += '\n';
      std::string().swap(records_[pos_]);
    }
    return pos_ < records_.size();
  }

 private:
  std::vector<std::string> records_;
  std::size_t pos_ = 0;
};

// `instance`: this agent's id, whose entry of a fleet cursor it reads (empty: none taken).
response events_page(const storage::store& store, const request& rq, std::string_view instance) {
  events_params p;
  if (auto err = parse_events_params(rq.query, max_limit, p, instance)) return std::move(*err);
  std::shared_ptr<storage::record_matcher> matcher;
  storage::query_result page;
  if (!p.done) page = store.query(make_query(p, p.limit == 0 ? default_limit : p.limit, matcher));

  if (wants_ndjson(rq)) {
    response r;
    r.content_type = "application/x-ndjson";
    if (page.next) r.headers.emplace_back("X-Next-Cursor", encode_cursor(*page.next));
    r.stream = std::make_unique<ndjson_producer>(std::move(page.records));
    return r;
  }
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
  if (p.local) {
    // A fleet read resumes this agent after any record of the page (api/fleet.h).
    body += ",\"cursors\":[";
    for (std::size_t i = 0; i < page.keys.size(); ++i) {
      if (i > 0) body += ',';
      body += '"';
      body += encode_cursor(page.keys[i]);
      body += '"';
    }
    body += ']';
  }
  body += '}';
  return json_ok(std::move(body));
}

response events_har(const storage::store& store, const request& rq, std::string_view version) {
  events_params p;
  if (auto err = parse_events_params(rq.query, max_har_limit, p)) return std::move(*err);
  har_options o;
  o.filter = std::move(p.filter);
  o.before = p.before;
  o.limit = p.limit;
  o.creator_version = version;
  response r;
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"events.har\"");
  r.stream = make_har_producer(store, std::move(o));
  return r;
}

// GET /events/stream: the head of a Server-Sent Events response; the agent feeds its body.
// With peers and no scope=local, the stream is a fleet stream: the agent also relays what
// each peer streams for the same query with scope=local.
response live_events(const request& rq, bool has_peers, std::string_view instance) {
  events_params p;
  if (auto err = parse_events_params(rq.query, max_limit, p)) return std::move(*err);
  response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-store");
  // Reverse proxies that buffer responses (nginx) would hold the events back.
  r.headers.emplace_back("X-Accel-Buffering", "no");
  // A fleet stream that reaches its own agent through a peer's address recognises it by this.
  if (!instance.empty()) r.headers.emplace_back("X-HEP-Instance", std::string(instance));
  const bool fleet = has_peers && !p.local;
  r.live = std::make_unique<event_stream>(std::move(p.filter));
  if (fleet) {
    r.live->set_fleet_target(std::string(events_path) + "/stream?" +
                             replace_query_param(rq.query, "scope", "local"));
  }
  return r;
}

// The stats options of a GET /events/stats query (its filters are parse_events_params()'s).
// On a bad value, returns the 400 to send.
std::optional<response> parse_stats_params(std::string_view query, storage::stats_options& o) {
  std::array<bool, 4> seen{};
  auto first = [&](std::size_t k) {
    if (seen[k]) return false;
    seen[k] = true;
    return true;
  };
  for (const auto& [name, value] : parse_query(query)) {
    if (name == "bucket" && first(0)) {
      const auto w = storage::parse_bucket(value);
      if (!w) {
        return error_response(400,
                              "invalid bucket: expected a whole number and a unit s, m, h or d "
                              "(10s, 5m, 1h), from 1s to 30d");
      }
      o.bucket_us = *w;
    } else if (name == "group" && first(1)) {
      const auto g = storage::parse_stats_group(value);
      if (!g) return error_response(400, "invalid group: expected path, host or method");
      o.group = *g;
    } else if (name == "sort" && first(2)) {
      const auto so = storage::parse_stats_sort(value);
      if (!so) return error_response(400, "invalid sort: expected count, p99 or errors");
      o.sort = *so;
    } else if (name == "top" && first(3)) {
      const auto n = parse_count(value, 1, max_stats_top);
      if (!n) {
        return error_response(
            400, fmt::format("invalid top: expected an integer from 1 to {}", max_stats_top));
      }
      o.top = static_cast<std::size_t>(*n);
    }
  }
  return std::nullopt;
}

// ,"p50_us":N,"p90_us":N,"p99_us":N (null when nothing was timed)
void append_latency(const std::optional<storage::latency_percentiles>& l, std::string& out) {
  if (l) {
    fmt::format_to(std::back_inserter(out), ",\"p50_us\":{},\"p90_us\":{},\"p99_us\":{}",
                   l->p50_us, l->p90_us, l->p99_us);
  } else {
    out += ",\"p50_us\":null,\"p90_us\":null,\"p99_us\":null";
  }
}

// "count":N,"2xx":N,...,"incomplete":N
void append_classes(std::uint64_t count,
                    const std::array<std::uint64_t, storage::status_classes>& classes,
                    std::string& out) {
  fmt::format_to(std::back_inserter(out), "\"count\":{}", count);
  for (std::size_t i = 0; i < classes.size(); ++i) {
    fmt::format_to(std::back_inserter(out), ",\"{}\":{}",
                   storage::to_string(static_cast<storage::status_class>(i)), classes[i]);
  }
}

void append_time(std::int64_t us, std::string& out) {
  out += '"';
  storage::append_rfc3339(us, out);
  out += '"';
}

response events_stats(const storage::store& store, const request& rq,
                      std::uint64_t max_records, bool has_peers) {
  const auto started = std::chrono::steady_clock::now();
  events_params p;
  if (auto err = parse_events_params(rq.query, max_limit, p)) return std::move(*err);
  storage::stats_options o;
  if (auto err = parse_stats_params(rq.query, o)) return std::move(*err);
  o.since_us = p.filter.since_us;
  o.until_us = p.filter.until_us;

  storage::stats_builder builder(o);
  std::optional<storage::record_matcher> matcher;
  if (!p.filter.empty()) matcher.emplace(p.filter);
  // Every record goes to the builder and none to the page: the store reads on, without
  // copying a line, until the data or max_scanned ends.
  storage::query q;
  q.limit = 1;
  q.before = p.before;
  q.max_scanned = max_records;
  q.match = [&](std::string_view line, std::size_t cap) {
    if (!matcher || (*matcher)(line, cap)) builder.add(line, cap);
    return false;
  };
  const auto read = store.query(q);
  const auto st = builder.finish();
  if (!st.error.empty()) return error_response(400, st.error);

  std::string body;
  auto it = std::back_inserter(body);
  body.reserve(1024 + st.buckets.size() * 160 + st.routes.size() * 160);
  // With peers the other replicas' exchanges are not counted: say so, never silently.
  body += has_peers ? "{\"replica_only\":true,\"from\":" : "{\"from\":";
  append_time(st.from_us, body);
  body += ",\"to\":";
  append_time(st.to_us, body);
  fmt::format_to(it, ",\"bucket\":\"{}\",\"bucket_seconds\":{}",
                 storage::format_bucket(st.bucket_us), st.bucket_us / 1'000'000);
  fmt::format_to(it,
                 ",\"matched\":{},\"scanned\":{},\"partial\":{},\"max_records\":{},"
                 "\"took_ms\":{}",
                 st.matched, read.scanned, read.capped, max_records,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
  body += ",\"totals\":{";
  append_classes(st.matched, st.classes, body);
  append_latency(st.latency, body);
  body += "},\"buckets\":[";
  for (std::size_t i = 0; i < st.buckets.size(); ++i) {
    const auto& b = st.buckets[i];
    if (i > 0) body += ',';
    body += "{\"start\":";
    append_time(b.start_us, body);
    body += ',';
    append_classes(b.count, b.classes, body);
    append_latency(b.latency, body);
    body += '}';
  }
  fmt::format_to(it,
                 "],\"group\":\"{}\",\"sort\":\"{}\",\"route_count\":{},\"routes_capped\":{},"
                 "\"routes\":[",
                 storage::to_string(o.group), storage::to_string(o.sort), st.route_count,
                 st.routes_capped);
  for (std::size_t i = 0; i < st.routes.size(); ++i) {
    const auto& r = st.routes[i];
    if (i > 0) body += ',';
    body += "{\"route\":";
    append_json_string(r.key, body);
    fmt::format_to(it, ",\"count\":{},\"errors\":{},\"error_share\":{},\"bytes\":{}", r.count,
                   r.errors, std::round(r.error_share() * 10000.0) / 10000.0, r.bytes);
    append_latency(r.latency, body);
    body += '}';
  }
  body += "]}";
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

// Empty when storage is fine, else why not (for /readyz and /status).
std::string storage_problem(const storage::store& store) {
  if (store.writable()) return {};
  return fmt::format("storage not writable ({} exchanges could not be written)",
                     store.stats().write_errors);
}

// "status" is "ok", or "degraded" with a "reason" when `problem` is set.
response status_page(const std::vector<metric_group>& groups, std::string_view version,
                     std::string_view problem, std::string_view instance) {
  std::string body = problem.empty() ? "{\"status\":\"ok\"" : "{\"status\":\"degraded\",\"reason\":";
  if (!problem.empty()) append_json_string(problem, body);
  body += ",\"version\":";
  append_json_string(version, body);
  if (!instance.empty()) {
    body += ",\"instance\":";
    append_json_string(instance, body);
  }
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

// GET /events, /events.har and /events/{id} for the fleet (api/fleet.h).
response fleet_route(route rt, const request& r, const storage::store& store, peer_client& peers,
                     std::string_view version) {
  // The fleet calls ask with scope=local themselves; any other scope than these is a 400.
  for (const auto& [name, value] : parse_query(r.query)) {
    if (name != "scope") continue;
    if (value != "fleet") return error_response(400, "invalid scope: expected local or fleet");
    break;
  }
  auto local = [&store, &peers](std::string_view query) {
    request lr;
    lr.method = "GET";
    lr.path = std::string(events_path);
    lr.query = std::string(query);
    return events_page(store, lr, peers.instance());
  };
  if (rt == route::events) return fleet_events(r.query, peers, local);
  if (rt == route::events_har) return fleet_har(r.query, peers, local, version);
  return fleet_event(r.path, peers, one_event(store, r.path));
}

// True when the query asks for this agent's data only (its first scope is "local").
bool scope_local(std::string_view query) {
  for (const auto& [name, value] : parse_query(query)) {
    if (name == "scope") return value == "local";
  }
  return false;
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

bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (lower(authorization[i]) != scheme[i]) return false;
  }
  auto given = authorization.substr(scheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  // Every byte of the given token is looked at whatever the content, so the time taken says
  // nothing about how much of it was right.
  unsigned diff = given.size() == token.size() ? 0u : 1u;
  for (std::size_t i = 0; i < given.size(); ++i) {
    const char want = token.empty() ? '\0' : token[i % token.size()];
    diff |= static_cast<unsigned>(static_cast<unsigned char>(given[i]) ^
                                  static_cast<unsigned char>(want));
  }
  return diff == 0 && !token.empty();
}

router::router(const storage::store& store, status_fn status, std::string version,
               router_options opts)
    : store_(store),
      status_(std::move(status)),
      version_(std::move(version)),
      opts_(std::move(opts)),
      decoder_(std::make_unique<event_decoder>()),
      stats_(std::make_unique<atomic_counters>()) {}

router::~router() = default;

router::counters router::stats() const {
  counters c;
  c.ingest_requests = stats_->ingest_requests.load(std::memory_order_relaxed);
  c.ingest_events = stats_->ingest_events.load(std::memory_order_relaxed);
  c.ingest_rejected = stats_->ingest_rejected.load(std::memory_order_relaxed);
  c.ingest_bad_bodies = stats_->ingest_bad_bodies.load(std::memory_order_relaxed);
  c.ingest_full = stats_->ingest_full.load(std::memory_order_relaxed);
  c.unauthorized = stats_->unauthorized.load(std::memory_order_relaxed);
  return c;
}

bool router::blocking(const request& r) {
  if (r.method != "GET") return false;
  const auto rt = match(r.path);
  return rt == route::events || rt == route::event || rt == route::events_har ||
         rt == route::events_stats;
}

response router::ingest(const request& r) const {
  stats_->ingest_requests.fetch_add(1, std::memory_order_relaxed);
  const auto ct = r.header_value("content-type");
  const auto format = ingest_format(ct);
  if (!format) {
    stats_->ingest_bad_bodies.fetch_add(1, std::memory_order_relaxed);
    return error_response(
        415, fmt::format("unsupported content type \"{}\": use application/json, "
                         "application/x-ndjson or application/msgpack",
                         ct));
  }
  const std::int64_t now = opts_.now_us
                               ? opts_.now_us()
                               : std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
  auto res = decoder_->decode(*format, r.body, now);
  if (res.syntax_error) {
    stats_->ingest_bad_bodies.fetch_add(1, std::memory_order_relaxed);
    response e;
    e.status = 400;
    e.body = "{\"error\":";
    append_json_string(res.message, e.body);
    fmt::format_to(std::back_inserter(e.body), ",\"offset\":{}}}", res.offset);
    return e;
  }
  const std::size_t accepted = res.events.size();
  if (accepted > 0) {
    if (!opts_.ingest || !opts_.ingest(res.events)) {
      stats_->ingest_full.fetch_add(1, std::memory_order_relaxed);
      auto e = error_response(503, "pipeline full");
      e.headers.emplace_back("Retry-After", "1");
      return e;
    }
  }
  stats_->ingest_events.fetch_add(accepted, std::memory_order_relaxed);
  if (res.bad_index) {
    stats_->ingest_rejected.fetch_add(res.bad_items, std::memory_order_relaxed);
    response e;
    e.status = 422;
    e.body = "{\"error\":";
    append_json_string(fmt::format("item {}: {}", *res.bad_index, res.message), e.body);
    fmt::format_to(std::back_inserter(e.body), ",\"index\":{},\"field\":", *res.bad_index);
    append_json_string(res.bad_field, e.body);
    fmt::format_to(std::back_inserter(e.body), ",\"accepted\":{},\"rejected\":{}}}", accepted,
                   res.bad_items);
    return e;
  }
  response ok;
  ok.status = 202;
  ok.body = fmt::format("{{\"accepted\":{}}}", accepted);
  return ok;
}

bool router::probe_route(std::string_view path) {
  const auto rt = match(path);
  return rt == route::healthz || rt == route::readyz || rt == route::status ||
         rt == route::metrics;
}

response router::handle(const request& r) const {
  const auto rt = match(r.path);
  if (rt == route::none) return error_response(404, "not found");
  const std::string_view allowed = rt == route::ingest ? "POST" : "GET";
  if (r.method != allowed) {
    auto resp = error_response(405, "method not allowed");
    resp.headers.emplace_back("Allow", std::string(allowed));
    return resp;
  }
  // The viewer's page loads without a token: it asks for one and sends it on every data call.
  const bool open =
      rt == route::status || rt == route::healthz || rt == route::readyz || rt == route::ui;
  const std::string& token = rt == route::ingest ? opts_.ingest_token : opts_.api_token;
  if (!open && !token.empty() && !bearer_matches(r.header_value("authorization"), token)) {
    stats_->unauthorized.fetch_add(1, std::memory_order_relaxed);
    auto resp = error_response(401, "unauthorized");
    resp.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"http-event-processor\"");
    return resp;
  }
  switch (rt) {
    case route::healthz:
      return json_ok("{\"status\":\"ok\"}");
    case route::readyz: {
      std::string why = opts_.ready ? opts_.ready() : std::string();
      if (why.empty()) why = storage_problem(store_);
      if (why.empty()) return json_ok("{\"status\":\"ready\"}");
      response resp;
      resp.status = 503;
      resp.body = "{\"status\":\"not ready\",\"reason\":";
      append_json_string(why, resp.body);
      resp.body += '}';
      return resp;
    }
    case route::status:
      return status_page(status_ ? status_() : std::vector<metric_group>{}, version_,
                         storage_problem(store_), opts_.instance);
    case route::metrics: {
      response resp;
      resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
      append_prometheus(status_ ? status_() : std::vector<metric_group>{},
                        opts_.histograms ? opts_.histograms() : std::vector<named_histogram>{},
                        resp.body);
      return resp;
    }
    case route::ingest:
      return ingest(r);
    case route::ui:
      return ui_response(*find_ui_asset(r.path), r.header_value("if-none-match"));
    case route::events_stream:
      return live_events(r, opts_.peers != nullptr, opts_.instance);
    case route::events:
    case route::event:
    case route::events_har:
    case route::events_stats:
      // Runs on the thread pool: nothing may escape into the libuv callback (STYLE.md §5).
      try {
        if (rt == route::events_stats) return events_stats(store_, r, opts_.stats_max_records, opts_.peers != nullptr);
        if (opts_.peers && !scope_local(r.query)) {
          return fleet_route(rt, r, store_, *opts_.peers, version_);
        }
        auto resp = rt == route::events       ? events_page(store_, r, opts_.instance)
                    : rt == route::events_har ? events_har(store_, r, version_)
                                              : one_event(store_, r.path);
        if (!opts_.instance.empty()) resp.headers.emplace_back("X-HEP-Instance", opts_.instance);
        return resp;
      } catch (const std::exception&) {
        return error_response(500, "storage read failed");
      }
    case route::none:
      break;
  }
  return error_response(404, "not found");
}

}  // namespace api
