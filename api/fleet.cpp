// SPDX-License-Identifier: Apache-2.0
#include "api/fleet.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <set>

#include "api/har.h"
#include "api/router.h"
#include "storage/filter.h"
#include "storage/json.h"

namespace api {

namespace {

namespace dom = simdjson::dom;

constexpr std::string_view b64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// The issuer's key in the cursors of the versions before instance keys.
constexpr std::string_view old_issuer_key = "@";
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

// One fan-out round of GET /events: this agent and every peer but `skip`, each from its entry
// of `at` (the whole cursor is sent; each source picks its own).
struct round_result {
  std::optional<response> error;  // a local 400 (or 500) to return as it is
  merged_page page;
  std::vector<peer_reply> failed;
  std::vector<std::pair<std::string, std::string>> answered;  // (peer, its instance)
};

round_result fleet_round(std::string_view query, const fleet_cursor& at, std::size_t limit,
                         peer_client& pc, const local_events_fn& local,
                         const std::set<std::string>& skip) {
  round_result out;
  std::string q = replace_query_param(query, "limit", std::to_string(limit));
  q = replace_query_param(q, "cursor", at.empty() ? std::string() : encode_fleet_cursor(at));
  q = replace_query_param(q, "scope", "local");
  std::vector<source_page> pages;
  auto r = local(q);
  if (r.status != 200) {
    out.error = std::move(r);
    return out;
  }
  source_page own;
  own.source = pc.instance();
  if (auto err = parse_source_page(r.body, own)) {
    out.error = error_response(500, "storage read failed");
    return out;
  }
  pages.push_back(std::move(own));

  std::vector<peer_call> calls;
  for (auto& p : pc.peers()) {
    if (skip.count(p) == 0) calls.push_back({std::move(p), "/events?" + q});
  }
  auto replies = calls.empty() ? std::vector<peer_reply>() : pc.fetch(calls, false);
  for (auto& rp : replies) {
    if (!rp.instance.empty() && rp.instance == pc.instance()) {
      // The agent itself behind a peer name (a headless Service lists every pod).
      pc.mark_self(rp.peer);
      continue;
    }
    if (rp.error.empty() && rp.status != 200) rp.error = fmt::format("HTTP {}", rp.status);
    if (rp.error.empty() && rp.instance.empty()) rp.error = "bad answer: no X-HEP-Instance";
    source_page p;
    p.source = rp.instance;
    if (rp.error.empty()) {
      if (auto err = parse_source_page(rp.body, p)) rp.error = "bad answer: " + *err;
    }
    if (!rp.error.empty()) {
      out.failed.push_back(std::move(rp));
      continue;
    }
    // One replica behind two addresses answers the same records twice: keep one page.
    const bool seen = std::any_of(pages.begin(), pages.end(),
                                  [&](const source_page& x) { return x.source == p.source; });
    if (seen) continue;
    out.answered.emplace_back(rp.peer, rp.instance);
    pages.push_back(std::move(p));
  }
  for (auto& u : pc.unresolved()) out.failed.push_back(std::move(u));
  // A source the client was paging through and nothing answered for: its records from its
  // entry on are missing from this page, so say it (it is asked again on the next page).
  for (const auto& entry : at) {
    // Not a structured binding: clang before 16 cannot capture one in a lambda.
    const std::string& instance = entry.first;
    if (entry.second == cursor_done) continue;
    const bool got = std::any_of(pages.begin(), pages.end(),
                                 [&](const source_page& x) { return x.source == instance; });
    if (got) continue;
    peer_reply gone;
    gone.peer = "instance " + instance;
    gone.error = "no answer from this instance";
    out.failed.push_back(std::move(gone));
  }
  out.page = merge_pages(std::move(pages), at, limit);
  return out;
}

// The fleet cursor of `query` (empty for a first page), or the 400 to answer.
std::optional<response> start_cursor(std::string_view query, fleet_cursor& c) {
  const auto given = query_param(query, "cursor");
  if (!given) return std::nullopt;
  auto decoded = decode_fleet_cursor(*given);
  if (!decoded) return error_response(400, "invalid cursor");
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

std::string encode_fleet_cursor(const fleet_cursor& c) {
  assert(!c.empty());
  std::string json = "{";
  for (const auto& [source, cursor] : c) {
    if (json.size() > 1) json += ',';
    append_json_string(source, json);
    json += ':';
    append_json_string(cursor, json);
  }
  json += '}';
  return base64url_encode(json);
}

std::optional<fleet_cursor> decode_fleet_cursor(std::string_view s) {
  auto json = base64url_decode(s);
  if (!json) return std::nullopt;
  thread_local dom::parser parser;
  dom::object obj;
  if (parser.parse(json->data(), json->size(), true).get_object().get(obj)) return std::nullopt;
  fleet_cursor c;
  for (auto field : obj) {
    std::string_view v;
    if (field.value.get_string().get(v)) return std::nullopt;
    if (field.key.empty() || field.key == old_issuer_key) return std::nullopt;
    c.emplace(std::string(field.key), std::string(v));
  }
  if (c.empty()) return std::nullopt;
  return c;
}

std::string_view own_entry(const fleet_cursor& c, std::string_view instance) {
  const auto it = c.find(instance);
  return it == c.end() ? std::string_view() : std::string_view(it->second);
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
  if (auto err = start_cursor(query, at)) return with_instance(std::move(*err), pc);
  const auto limit = query_limit(query, default_limit, max_page);
  if (!limit) return with_instance(bad_limit(max_page), pc);
  auto rd = fleet_round(query, at, static_cast<std::size_t>(*limit), pc, local, {});
  if (rd.error) return with_instance(std::move(*rd.error), pc);

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
    body += encode_fleet_cursor(rd.page.next);
    body += '"';
  } else {
    body += "null";
  }
  fmt::format_to(std::back_inserter(body), ",\"peers\":{},\"partial\":{},\"peers_failed\":{}}}",
                 rd.answered.size(), rd.failed.empty() ? "false" : "true",
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
  if (auto err = start_cursor(query, at)) return with_instance(std::move(*err), pc);
  const auto given_limit = query_limit(query, max_har_records, max_har_records);
  if (!given_limit) return with_instance(bad_limit(max_har_records), pc);
  const std::uint64_t limit = *given_limit;
  std::vector<std::string> records;
  std::vector<peer_reply> failed;
  // Peers not asked again in this export: those that failed once, and those with nothing left.
  std::set<std::string> skip;
  bool more = true;
  while (more && records.size() < limit) {
    const auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(max_page, limit - records.size()));
    auto rd = fleet_round(query, at, want, pc, local, skip);
    if (rd.error) return with_instance(std::move(*rd.error), pc);
    for (auto& f : rd.failed) {
      skip.insert(f.peer);
      const bool seen = std::any_of(failed.begin(), failed.end(),
                                    [&](const peer_reply& x) { return x.peer == f.peer; });
      if (!seen) failed.push_back(std::move(f));
    }
    for (const auto& [peer, instance] : rd.answered) {
      if (own_entry(rd.page.next, instance) == cursor_done) skip.insert(peer);
    }
    for (auto& rec : rd.page.records) records.push_back(std::move(rec));
    at = std::move(rd.page.next);
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
