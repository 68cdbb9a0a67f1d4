// SPDX-License-Identifier: Apache-2.0
#include "api/fleet.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "api/har.h"
#include "api/router.h"
#include "storage/filter.h"
#include "storage/json.h"

namespace api {

namespace {

namespace dom = simdjson::dom;

constexpr std::string_view b64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view instance_key = "@";
constexpr std::size_t default_limit = 100;
constexpr std::size_t max_page = 1000;
constexpr std::uint64_t max_har_records = 1000000;

int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// The first `limit` parameter of `query`, `fallback` when absent; nothing when it is not an
// integer from 1 to hi (the caller answers the router's 400: the local query never sees it,
// since each source is asked with a limit of the fleet's choosing).
std::optional<std::uint64_t> query_limit(std::string_view query, std::uint64_t fallback,
                                         std::uint64_t hi) {
  for (const auto& [name, value] : parse_query(query)) {
    if (name != "limit") continue;
    std::uint64_t n = 0;
    const auto* end = value.data() + value.size();
    const auto [p, ec] = std::from_chars(value.data(), end, n);
    if (!value.empty() && ec == std::errc() && p == end && n >= 1 && n <= hi) return n;
    return std::nullopt;
  }
  return fallback;
}

response bad_limit(std::uint64_t hi) {
  return error_response(400, fmt::format("invalid limit: expected an integer from 1 to {}", hi));
}

std::optional<std::string> query_param(std::string_view query, std::string_view want) {
  for (auto& [name, value] : parse_query(query)) {
    if (name == want) return std::move(value);
  }
  return std::nullopt;
}

void append_percent_encoded(std::string_view v, std::string& out) {
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      fmt::format_to(std::back_inserter(out), "%{:02X}", u);
    }
  }
}

response with_instance(response r, const peer_client& pc) {
  r.headers.emplace_back("X-HEP-Instance", pc.instance());
  return r;
}

// One fan-out round of GET /events: every source of `at` not "done" asked from its cursor.
struct round_result {
  std::optional<response> error;  // a local 400 (or 500) to return as it is
  merged_page page;
  std::vector<peer_reply> failed;
  std::size_t answered = 0;
};

round_result fleet_round(std::string_view query, const fleet_cursor& at, std::size_t limit,
                         peer_client& pc, const local_events_fn& local) {
  round_result out;
  const std::string lim = std::to_string(limit);
  auto target_query = [&](const std::string& cursor) {
    std::string q = replace_query_param(query, "limit", lim);
    q = replace_query_param(q, "cursor", cursor);
    return replace_query_param(q, "scope", "local");
  };
  std::vector<source_page> pages;
  if (auto it = at.find(local_source); it != at.end() && it->second != cursor_done) {
    auto r = local(target_query(it->second));
    if (r.status != 200) {
      out.error = std::move(r);
      return out;
    }
    source_page p;
    p.source = std::string(local_source);
    if (auto err = parse_source_page(r.body, p)) {
      out.error = error_response(500, "storage read failed");
      return out;
    }
    pages.push_back(std::move(p));
  }
  std::vector<peer_call> calls;
  for (const auto& [source, cursor] : at) {
    if (source == local_source || cursor == cursor_done) continue;
    calls.push_back({source, "/events?" + target_query(cursor)});
  }
  fleet_cursor before = at;
  if (!calls.empty()) {
    auto replies = pc.fetch(calls, false);
    for (auto& rp : replies) {
      if (!rp.instance.empty() && rp.instance == pc.instance()) {
        // The agent itself behind a peer name (a headless Service lists every pod).
        pc.mark_self(rp.peer);
        before.erase(rp.peer);
        continue;
      }
      if (rp.error.empty() && rp.status != 200) rp.error = fmt::format("HTTP {}", rp.status);
      source_page p;
      p.source = rp.peer;
      if (rp.error.empty()) {
        if (auto err = parse_source_page(rp.body, p)) rp.error = "bad answer: " + *err;
      }
      if (!rp.error.empty()) {
        out.failed.push_back(std::move(rp));
        continue;
      }
      ++out.answered;
      pages.push_back(std::move(p));
    }
  }
  out.page = merge_pages(std::move(pages), before, limit);
  return out;
}

// The sources of a first page: this agent and every peer, from the newest. Names that did
// not resolve go to `failed`.
fleet_cursor first_cursor(peer_client& pc, std::vector<peer_reply>& failed) {
  fleet_cursor c;
  c.emplace(std::string(local_source), "");
  for (auto& p : pc.peers()) c.emplace(std::move(p), "");
  for (auto& u : pc.unresolved()) failed.push_back(std::move(u));
  return c;
}

// The fleet cursor of `query`, or the 400 to answer.
std::optional<response> start_cursor(std::string_view query, peer_client& pc, fleet_cursor& c,
                                     std::vector<peer_reply>& failed) {
  const auto given = query_param(query, "cursor");
  if (!given) {
    c = first_cursor(pc, failed);
    return std::nullopt;
  }
  std::string issuer;
  auto decoded = decode_fleet_cursor(*given, issuer);
  if (!decoded) return error_response(400, "invalid cursor");
  if (issuer != pc.instance()) {
    return error_response(
        400, fmt::format("invalid cursor: issued by another replica (instance {}); a fleet "
                         "cursor pages on the replica that issued it",
                         issuer));
  }
  c = std::move(*decoded);
  return std::nullopt;
}

}  // namespace

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += b64url_alphabet[(acc >> bits) & 63u];
    }
  }
  if (bits > 0) out += b64url_alphabet[(acc << (6 - bits)) & 63u];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = b64url_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xffu);
    }
  }
  // Leftover bits must be zero: one spelling per byte string.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string encode_fleet_cursor(const fleet_cursor& c, std::string_view instance) {
  std::string json = "{\"@\":";
  append_json_string(instance, json);
  for (const auto& [source, cursor] : c) {
    json += ',';
    append_json_string(source, json);
    json += ':';
    append_json_string(cursor, json);
  }
  json += '}';
  return base64url_encode(json);
}

std::optional<fleet_cursor> decode_fleet_cursor(std::string_view s, std::string& instance) {
  auto json = base64url_decode(s);
  if (!json) return std::nullopt;
  thread_local dom::parser parser;
  dom::object obj;
  if (parser.parse(json->data(), json->size(), true).get_object().get(obj)) return std::nullopt;
  fleet_cursor c;
  bool has_instance = false;
  for (auto field : obj) {
    std::string_view v;
    if (field.value.get_string().get(v)) return std::nullopt;
    if (field.key == instance_key) {
      instance = std::string(v);
      has_instance = true;
    } else {
      c.emplace(std::string(field.key), std::string(v));
    }
  }
  if (!has_instance) return std::nullopt;
  return c;
}

std::optional<std::string> parse_source_page(std::string_view body, source_page& out) {
  thread_local dom::parser parser;
  dom::object obj;
  if (auto e = parser.parse(body.data(), body.size(), true).get_object().get(obj)) {
    return std::string(simdjson::error_message(e));
  }
  dom::array events, cursors;
  if (obj["events"].get_array().get(events)) return "no \"events\" array";
  if (obj["cursors"].get_array().get(cursors)) return "no \"cursors\" array (not scope=local)";
  for (auto ev : events) out.records.emplace_back(simdjson::minify(ev));
  for (auto cu : cursors) {
    std::string_view v;
    if (cu.get_string().get(v)) return "a cursor is not a string";
    out.cursors.emplace_back(v);
  }
  if (out.cursors.size() != out.records.size()) return "\"cursors\" and \"events\" differ in size";
  auto next = obj["next"];
  std::string_view n;
  if (!next.get_string().get(n)) out.next = std::string(n);
  return std::nullopt;
}

std::int64_t record_time_us(std::string_view record) {
  thread_local dom::parser parser;
  dom::object rec;
  if (parser.parse(record.data(), record.size(), true).get_object().get(rec)) return 0;
  for (const char* half : {"request", "response"}) {
    std::string_view t;
    if (!rec[half]["time"].get_string().get(t)) {
      if (auto us = storage::parse_rfc3339(t)) return *us;
    }
  }
  return 0;
}

merged_page merge_pages(std::vector<source_page> pages, const fleet_cursor& before,
                        std::size_t limit) {
  std::sort(pages.begin(), pages.end(),
            [](const source_page& a, const source_page& b) { return a.source < b.source; });
  std::vector<std::vector<std::int64_t>> times(pages.size());
  for (std::size_t s = 0; s < pages.size(); ++s) {
    for (const auto& r : pages[s].records) times[s].push_back(record_time_us(r));
  }
  std::vector<std::size_t> taken(pages.size(), 0);
  merged_page out;
  while (out.records.size() < limit) {
    std::size_t best = pages.size();
    for (std::size_t s = 0; s < pages.size(); ++s) {
      if (taken[s] == pages[s].records.size()) continue;
      // Strictly newer wins, so on a tie the source first by name keeps it.
      if (best == pages.size() || times[s][taken[s]] > times[best][taken[best]]) best = s;
    }
    if (best == pages.size()) break;
    out.records.push_back(std::move(pages[best].records[taken[best]]));
    ++taken[best];
  }
  out.next = before;
  for (std::size_t s = 0; s < pages.size(); ++s) {
    const auto& p = pages[s];
    std::string pos;
    if (taken[s] == p.records.size()) {
      pos = p.next ? *p.next : std::string(cursor_done);
    } else if (taken[s] > 0) {
      pos = p.cursors[taken[s] - 1];
    } else {
      const auto it = before.find(p.source);
      pos = it == before.end() ? std::string() : it->second;
    }
    if (pos != cursor_done) out.more = true;
    out.next[p.source] = std::move(pos);
  }
  return out;
}

std::string failed_peers_json(const std::vector<peer_reply>& failed) {
  std::string out = "[";
  for (std::size_t i = 0; i < failed.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"peer\":";
    append_json_string(failed[i].peer, out);
    out += ",\"error\":";
    append_json_string(failed[i].error, out);
    out += '}';
  }
  out += ']';
  return out;
}

std::string failed_peers_text(const std::vector<peer_reply>& failed) {
  std::string out = "peers failed:";
  for (std::size_t i = 0; i < failed.size(); ++i) {
    fmt::format_to(std::back_inserter(out), "{} {} ({})", i > 0 ? "," : "", failed[i].peer,
                   failed[i].error);
  }
  return out;
}

std::string replace_query_param(std::string_view query, std::string_view name,
                                std::string_view value) {
  std::string out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto raw_name = part.substr(0, part.find('='));
    const auto decoded = percent_decode(raw_name, true);
    if (decoded && *decoded == name) continue;
    if (!out.empty()) out += '&';
    out += part;
  }
  if (value.empty()) return out;
  if (!out.empty()) out += '&';
  out += name;
  out += '=';
  append_percent_encoded(value, out);
  return out;
}

response fleet_events(std::string_view query, peer_client& pc, const local_events_fn& local) {
  fleet_cursor at;
  std::vector<peer_reply> unresolved;
  if (auto err = start_cursor(query, pc, at, unresolved)) return with_instance(std::move(*err), pc);
  const auto limit = query_limit(query, default_limit, max_page);
  if (!limit) return with_instance(bad_limit(max_page), pc);
  auto rd = fleet_round(query, at, static_cast<std::size_t>(*limit), pc, local);
  if (rd.error) return with_instance(std::move(*rd.error), pc);
  for (auto& u : unresolved) rd.failed.push_back(std::move(u));

  std::size_t size = 128;
  for (const auto& rec : rd.page.records) size += rec.size() + 1;
  std::string body;
  body.reserve(size);
  body += "{\"events\":[";
  for (std::size_t i = 0; i < rd.page.records.size(); ++i) {
    if (i > 0) body += ',';
    body += rd.page.records[i];
  }
  body += "],\"next\":";
  if (rd.page.more) {
    body += '"';
    body += encode_fleet_cursor(rd.page.next, pc.instance());
    body += '"';
  } else {
    body += "null";
  }
  fmt::format_to(std::back_inserter(body), ",\"peers\":{},\"partial\":{},\"peers_failed\":{}}}",
                 rd.answered, rd.failed.empty() ? "false" : "true",
                 failed_peers_json(rd.failed));
  response r;
  r.body = std::move(body);
  return with_instance(std::move(r), pc);
}

response fleet_event(std::string_view path, peer_client& pc, response local) {
  if (local.status != 404) return with_instance(std::move(local), pc);
  std::vector<peer_call> calls;
  for (auto& p : pc.peers()) calls.push_back({std::move(p), std::string(path) + "?scope=local"});
  std::vector<peer_reply> failed = pc.unresolved();
  if (!calls.empty()) {
    for (auto& rp : pc.fetch(calls, true)) {
      if (!rp.instance.empty() && rp.instance == pc.instance()) {
        pc.mark_self(rp.peer);
        continue;
      }
      if (rp.error.empty() && rp.status == 200) {
        response r;
        r.body = std::move(rp.body);
        r.headers.emplace_back("X-HEP-Source", rp.peer);
        return with_instance(std::move(r), pc);
      }
      if (rp.error == "not needed" || (rp.error.empty() && rp.status == 404)) continue;
      if (rp.error.empty()) rp.error = fmt::format("HTTP {}", rp.status);
      failed.push_back(std::move(rp));
    }
  }
  if (failed.empty()) return with_instance(std::move(local), pc);
  response r;
  r.status = 404;
  r.body = "{\"error\":\"exchange not found\",\"partial\":true,\"peers_failed\":";
  r.body += failed_peers_json(failed);
  r.body += '}';
  return with_instance(std::move(r), pc);
}

response fleet_har(std::string_view query, peer_client& pc, const local_events_fn& local,
                   std::string_view version) {
  fleet_cursor at;
  std::vector<peer_reply> failed;
  if (auto err = start_cursor(query, pc, at, failed)) return with_instance(std::move(*err), pc);
  const auto given_limit = query_limit(query, max_har_records, max_har_records);
  if (!given_limit) return with_instance(bad_limit(max_har_records), pc);
  const std::uint64_t limit = *given_limit;
  std::vector<std::string> records;
  bool more = true;
  while (more && records.size() < limit) {
    const auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(max_page, limit - records.size()));
    auto rd = fleet_round(query, at, want, pc, local);
    if (rd.error) return with_instance(std::move(*rd.error), pc);
    for (auto& f : rd.failed) {
      // A failed peer is asked again on the next round, and named once.
      at[f.peer] = std::string(cursor_done);
      const bool seen = std::any_of(failed.begin(), failed.end(),
                                    [&](const peer_reply& x) { return x.peer == f.peer; });
      if (!seen) failed.push_back(std::move(f));
    }
    for (auto& rec : rd.page.records) records.push_back(std::move(rec));
    for (const auto& [source, cursor] : rd.page.next) {
      if (at.count(source) == 0 || at[source] != cursor_done) at[source] = cursor;
    }
    more = rd.page.more && !rd.page.records.empty();
  }
  std::string body =
      "{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"http-event-processor\","
      "\"version\":";
  append_json_string(version, body);
  body += '}';
  if (!failed.empty()) {
    body += ",\"comment\":";
    append_json_string(failed_peers_text(failed), body);
  }
  body += ",\"pages\":[],\"entries\":[";
  bool first = true;
  for (const auto& rec : records) {
    const auto mark = body.size();
    if (!first) body += ',';
    if (append_har_entry(rec, body)) {
      first = false;
    } else {
      body.resize(mark);
    }
  }
  body += "]}}";
  response r;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"events.har\"");
  if (!failed.empty()) r.headers.emplace_back("X-HEP-Partial", failed_peers_text(failed));
  return with_instance(std::move(r), pc);
}

}  // namespace api
