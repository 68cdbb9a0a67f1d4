// SPDX-License-Identifier: Apache-2.0
#include "replay/source.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <system_error>

#include "replay/request.h"
#include "storage/json.h"

namespace replay {

namespace {

namespace dom = simdjson::dom;
namespace fs = std::filesystem;

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view str_or(dom::element e, std::string_view key, std::string_view dflt = {}) {
  std::string_view s;
  return e[key].get_string().get(s) ? dflt : s;
}

bool bool_or(dom::element e, std::string_view key, bool dflt) {
  bool b = false;
  return e[key].get_bool().get(b) ? dflt : b;
}

// Stored records: [["name","value"],...]; HAR: [{"name":..,"value":..},...].
std::vector<header> headers_of(dom::element half, bool har) {
  std::vector<header> out;
  dom::array arr;
  if (half["headers"].get_array().get(arr)) return out;
  for (auto h : arr) {
    std::string_view n, v;
    if (har ? (h["name"].get_string().get(n) || h["value"].get_string().get(v))
            : (h.at(0).get_string().get(n) || h.at(1).get_string().get(v))) {
      continue;
    }
    // HTTP/2 pseudo-headers (":authority") in browsers' HAR files are not headers to send.
    if (har && !n.empty() && n.front() == ':') continue;
    out.push_back({std::string(n), std::string(v)});
  }
  return out;
}

// The body of a stored half: "body" (string or null) and "body_encoding".
bool body_of(dom::element half, std::string& out) {
  std::string_view text;
  if (half["body"].get_string().get(text)) return false;
  if (str_or(half, "body_encoding") == "base64") {
    if (!storage::base64_decode(text, out)) out.assign(text);
  } else {
    out.assign(text);
  }
  return true;
}

std::optional<exchange> record_from(dom::element root) {
  dom::element rq;
  if (root["request"].get(rq) || rq.is_null()) return std::nullopt;
  exchange x;
  x.id = std::string(str_or(root, "id"));
  auto& r = x.request;
  r.method = std::string(str_or(rq, "method", "GET"));
  r.path = std::string(str_or(rq, "path", "/"));
  std::string_view q;
  if (!rq["query"].get_string().get(q)) r.query = std::string(q);
  r.headers = headers_of(rq, false);
  body_of(rq, r.body);
  r.truncated = bool_or(rq, "truncated", false);
  r.time_us = storage::parse_rfc3339(str_or(rq, "time")).value_or(0);
  dom::element rs;
  if (!root["response"].get(rs) && !rs.is_null()) {
    captured_response c;
    std::int64_t status = 0;
    if (!rs["status"].get_int64().get(status)) c.status = static_cast<int>(status);
    c.headers = headers_of(rs, false);
    c.body_captured = body_of(rs, c.body);
    if (!c.body_captured) {
      // A body of size 0 is an empty body; one with a size but no bytes was not captured.
      std::int64_t size = -1;
      c.body_captured = !rs["body_size"].get_int64().get(size) && size == 0;
    }
    c.truncated = bool_or(rs, "truncated", false);
    x.response = std::move(c);
  }
  return x;
}

void append_percent_encoded(std::string_view s, std::string& out) {
  constexpr char hex[] = "0123456789ABCDEF";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || c == '*' || c == '/' || c == ':') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
}

// "exchanges-HHMMSS-<number>.jsonl" -> number.
std::optional<std::uint64_t> segment_number(const std::string& name) {
  constexpr std::string_view prefix = "exchanges-", suffix = ".jsonl";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix)) {
    return std::nullopt;
  }
  const auto stem = std::string_view(name).substr(0, name.size() - suffix.size());
  const auto dash = stem.rfind('-');
  std::uint64_t n = 0;
  const auto* end = stem.data() + stem.size();
  const auto [p, ec] = std::from_chars(stem.data() + dash + 1, end, n);
  if (ec != std::errc() || p != end) return std::nullopt;
  return n;
}

}  // namespace

std::optional<std::string> to_storage_filter(const filter_options& o, storage::filter& out) {
  storage::filter f;
  for (auto [name, value, slot] :
       {std::tuple{"since", &o.since, &f.since_us}, std::tuple{"until", &o.until, &f.until_us}}) {
    if (value->empty()) continue;
    *slot = storage::parse_rfc3339(*value);
    if (!*slot) return fmt::format("invalid --{}: expected an RFC 3339 date-time", name);
  }
  for (char c : o.method) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) {
      return std::string("invalid --method");
    }
    f.method += upper(c);
  }
  if (!o.status.empty()) {
    const auto& s = o.status;
    int code = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), code);
    if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && lower(s[1]) == 'x' && lower(s[2]) == 'x') {
      f.status_class = s[0] - '0';
    } else if (s.size() == 3 && ec == std::errc() && p == s.data() + 3 && code >= 100 &&
               code <= 599) {
      f.status = code;
    } else {
      return std::string("invalid --status: expected a code (404) or a class (1xx to 5xx)");
    }
  }
  f.path = o.path;
  f.host = o.host;
  f.id = o.id;
  if (o.complete == "true" || o.complete == "1")
    f.complete = true;
  else if (o.complete == "false" || o.complete == "0")
    f.complete = false;
  else if (!o.complete.empty())
    return std::string("invalid --complete: expected true or false");
  out = std::move(f);
  return std::nullopt;
}

std::string to_query_string(const filter_options& o) {
  std::string q;
  for (auto [name, value] :
       {std::pair{"since", &o.since}, std::pair{"until", &o.until}, std::pair{"method", &o.method},
        std::pair{"status", &o.status}, std::pair{"path", &o.path}, std::pair{"host", &o.host},
        std::pair{"id", &o.id}, std::pair{"complete", &o.complete}}) {
    if (value->empty()) continue;
    if (!q.empty()) q += '&';
    q += name;
    q += '=';
    append_percent_encoded(*value, q);
  }
  return q;
}

std::optional<exchange> parse_record(std::string_view line) {
  dom::parser parser;
  dom::element root;
  if (parser.parse(line).get(root)) return std::nullopt;
  return record_from(root);
}

load_result read_data_dir(const fs::path& data_dir, const storage::filter& f) {
  load_result out;
  const auto segments = data_dir / "segments";
  std::error_code ec;
  if (!fs::is_directory(segments, ec)) {
    out.error = fmt::format("{}: not a data directory (no segments/ in it)", data_dir.string());
    return out;
  }
  std::vector<std::pair<std::uint64_t, fs::path>> files;
  for (auto it = fs::recursive_directory_iterator(segments, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (auto n = segment_number(it->path().filename().string())) files.emplace_back(*n, it->path());
  }
  if (ec) {
    out.error = fmt::format("{}: {}", segments.string(), ec.message());
    return out;
  }
  std::sort(files.begin(), files.end());
  storage::record_matcher match(f);
  const bool filtered = !f.empty();
  dom::parser parser;
  std::string buf;
  for (const auto& [n, path] : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) continue;  // removed by retention meanwhile
    buf.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const std::size_t size = buf.size();
    buf.append(simdjson::SIMDJSON_PADDING, '\0');
    std::size_t pos = 0;
    while (pos < size) {
      auto nl = buf.find('\n', pos);
      if (nl == std::string::npos || nl > size) break;  // a torn last line: still being written
      const std::string_view line(buf.data() + pos, nl - pos);
      pos = nl + 1;
      if (line.empty()) continue;
      if (filtered &&
          !match(line, buf.size() - (static_cast<std::size_t>(line.data() - buf.data())))) {
        continue;
      }
      dom::element root;
      if (parser.parse(line.data(), line.size(), false).get(root)) continue;
      if (auto x = record_from(root)) {
        out.exchanges.push_back(std::move(*x));
      } else {
        ++out.skipped;
      }
    }
  }
  return out;
}

std::optional<std::string> parse_events_page(std::string_view body, load_result& into) {
  dom::parser parser;
  dom::element root;
  dom::array events;
  if (parser.parse(body).get(root) || root["events"].get_array().get(events)) {
    into.error = "the answer is not an /events page ({\"events\":[...],\"next\":...})";
    return std::nullopt;
  }
  for (auto e : events) {
    if (auto x = record_from(e)) {
      into.exchanges.push_back(std::move(*x));
    } else {
      ++into.skipped;
    }
  }
  std::string_view next;
  if (root["next"].get_string().get(next) || next.empty()) return std::nullopt;
  return std::string(next);
}

load_result read_har(std::string_view text) {
  load_result out;
  dom::parser parser;
  dom::element root;
  dom::array entries;
  if (auto err = parser.parse(text).get(root)) {
    out.error = fmt::format("not JSON: {}", simdjson::error_message(err));
    return out;
  }
  if (root["log"]["entries"].get_array().get(entries)) {
    out.error = "not a HAR log: no log.entries array";
    return out;
  }
  for (auto e : entries) {
    dom::element rq, rs;
    if (e["request"].get(rq)) {
      ++out.skipped;
      continue;
    }
    exchange x;
    x.id = std::string(str_or(e, "_id"));
    auto& r = x.request;
    r.method = std::string(str_or(rq, "method", "GET"));
    // "scheme://authority/path?query#fragment": the path onwards, without the fragment.
    std::string_view url = str_or(rq, "url");
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
      ++out.skipped;
      continue;
    }
    url.remove_prefix(scheme + 3);
    const auto slash = url.find_first_of("/?#");
    url = slash == std::string_view::npos ? std::string_view() : url.substr(slash);
    url = url.substr(0, url.find('#'));
    const auto qm = url.find('?');
    r.path = std::string(url.substr(0, qm));
    if (r.path.empty()) r.path = "/";
    if (qm != std::string_view::npos) r.query = std::string(url.substr(qm + 1));
    r.headers = headers_of(rq, true);
    dom::element post;
    if (!rq["postData"].get(post)) {
      const auto body = str_or(post, "text");
      const bool b64 =
          str_or(post, "_encoding") == "base64" || str_or(post, "encoding") == "base64";
      if (!b64 || !storage::base64_decode(body, r.body)) r.body.assign(body);
    }
    r.time_us = storage::parse_rfc3339(str_or(e, "startedDateTime")).value_or(0);
    std::int64_t status = 0;
    if (!e["response"].get(rs) && !rs["status"].get_int64().get(status) && status > 0) {
      captured_response c;
      c.status = static_cast<int>(status);
      c.headers = headers_of(rs, true);
      dom::element content;
      std::string_view body;
      if (!rs["content"].get(content) && !content["text"].get_string().get(body)) {
        c.body_captured = true;
        if (str_or(content, "encoding") != "base64" || !storage::base64_decode(body, c.body)) {
          c.body.assign(body);
        }
      }
      x.response = std::move(c);
    }
    out.exchanges.push_back(std::move(x));
  }
  std::stable_sort(
      out.exchanges.begin(), out.exchanges.end(),
      [](const exchange& a, const exchange& b) { return a.request.time_us < b.request.time_us; });
  return out;
}

bool matches(const exchange& x, const storage::filter& f) {
  const auto& r = x.request;
  const int status = x.response ? x.response->status : 0;
  if (f.since_us && r.time_us < *f.since_us) return false;
  if (f.until_us && r.time_us > *f.until_us) return false;
  if (!f.method.empty() && f.method != r.method) return false;
  if (f.status && status != f.status) return false;
  if (f.status_class && (status == 0 || status / 100 != f.status_class)) return false;
  if (!f.path.empty()) {
    const bool glob = f.path.find('*') != std::string::npos;
    if (glob ? !storage::glob_match(f.path, r.path) : !r.path.starts_with(f.path)) return false;
  }
  if (!f.id.empty() && f.id != x.id) return false;
  if (f.complete && *f.complete != x.response.has_value()) return false;
  if (!f.host.empty()) {
    std::string_view host;
    for (const auto& h : r.headers) {
      if (iequals(h.name, "host")) {
        host = h.value;
        break;
      }
    }
    const bool with_port = host.size() > f.host.size() && host[f.host.size()] == ':';
    if (!iequals(host, f.host) && !(with_port && iequals(host.substr(0, f.host.size()), f.host))) {
      return false;
    }
  }
  return true;
}


}  // namespace replay
