// SPDX-License-Identifier: Apache-2.0
#include "api/har.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <iterator>
#include <vector>

namespace api {

namespace {

namespace dom = simdjson::dom;

struct hdr {
  std::string_view name;
  std::string_view value;
};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<hdr> headers_of(dom::object half) {
  std::vector<hdr> out;
  dom::array arr;
  if (half["headers"].get_array().get(arr)) return out;
  for (auto pair : arr) {
    std::string_view n, v;
    if (pair.at(0).get_string().get(n) || pair.at(1).get_string().get(v)) continue;
    out.push_back({n, v});
  }
  return out;
}

std::string_view find_header(const std::vector<hdr>& hs, std::string_view name) {
  for (const auto& h : hs) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

std::string_view str_or(dom::object o, std::string_view key, std::string_view dflt = {}) {
  std::string_view s;
  return o[key].get_string().get(s) ? dflt : s;
}

std::int64_t int_or(dom::object o, std::string_view key, std::int64_t dflt) {
  std::int64_t v = 0;
  return o[key].get_int64().get(v) ? dflt : v;
}

void append_pair(std::string_view name, std::string_view value, std::string& out) {
  out += "{\"name\":";
  append_json_string(name, out);
  out += ",\"value\":";
  append_json_string(value, out);
  out += '}';
}

void append_headers(const std::vector<hdr>& hs, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < hs.size(); ++i) {
    if (i > 0) out += ',';
    append_pair(hs[i].name, hs[i].value, out);
  }
  out += ']';
}

// Cookie: "a=1; b=2" (every Cookie header), or Set-Cookie: "a=1; Path=/" (name=value only).
void append_cookies(const std::vector<hdr>& hs, bool set_cookie, std::string& out) {
  out += '[';
  bool first = true;
  auto add = [&](std::string_view pair) {
    pair = trim(pair);
    if (pair.empty()) return;
    const auto eq = pair.find('=');
    if (!first) out += ',';
    first = false;
    append_pair(trim(pair.substr(0, eq)),
                eq == std::string_view::npos ? std::string_view() : trim(pair.substr(eq + 1)), out);
  };
  for (const auto& h : hs) {
    if (!iequals(h.name, set_cookie ? "set-cookie" : "cookie")) continue;
    if (set_cookie) {
      add(h.value.substr(0, h.value.find(';')));
    } else {
      std::string_view v = h.value;
      while (!v.empty()) {
        const auto semi = v.find(';');
        add(v.substr(0, semi));
        v = semi == std::string_view::npos ? std::string_view() : v.substr(semi + 1);
      }
    }
  }
  out += ']';
}

void append_query_string(std::string_view q, std::string& out) {
  out += '[';
  bool first = true;
  while (!q.empty()) {
    const auto amp = q.find('&');
    const auto part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (!first) out += ',';
    first = false;
    append_pair(part.substr(0, eq),
                eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), out);
  }
  out += ']';
}

std::string http_version(std::string_view v) {
  return v.empty() ? std::string() : "HTTP/" + std::string(v);
}

// {"size":N,...} parts shared by postData and content: text and its encoding.
struct body_view {
  bool captured = false;
  std::string_view text;
  bool base64 = false;
  std::int64_t size = -1;
};

body_view body_of(dom::object half) {
  body_view b;
  std::string_view text;
  if (!half["body"].get_string().get(text)) {
    b.captured = true;
    b.text = text;
    b.base64 = str_or(half, "body_encoding") == "base64";
  }
  b.size = int_or(half, "body_size", -1);
  return b;
}

void append_request(dom::object rq, std::string& out) {
  const auto hs = headers_of(rq);
  const auto host = find_header(hs, "host");
  std::string_view query;
  const bool has_query = !rq["query"].get_string().get(query);
  std::string url = "http://";
  url += host.empty() ? std::string_view("unknown") : host;
  url += str_or(rq, "path", "/");
  if (has_query) {
    url += '?';
    url += query;
  }
  const auto body = body_of(rq);
  out += "{\"method\":";
  append_json_string(str_or(rq, "method"), out);
  out += ",\"url\":";
  append_json_string(url, out);
  out += ",\"httpVersion\":";
  append_json_string(http_version(str_or(rq, "version")), out);
  out += ",\"cookies\":";
  append_cookies(hs, false, out);
  out += ",\"headers\":";
  append_headers(hs, out);
  out += ",\"queryString\":";
  append_query_string(query, out);
  if (body.captured) {
    out += ",\"postData\":{\"mimeType\":";
    append_json_string(find_header(hs, "content-type"), out);
    out += ",\"params\":[],\"text\":";
    append_json_string(body.text, out);
    if (body.base64) out += ",\"_encoding\":\"base64\"";
    out += '}';
  }
  fmt::format_to(std::back_inserter(out), ",\"headersSize\":-1,\"bodySize\":{}}}", body.size);
}

void append_response(dom::object rs, std::string& out) {
  const auto hs = headers_of(rs);
  const auto status = int_or(rs, "status", 0);
  const auto body = body_of(rs);
  const auto phrase = reason_phrase(static_cast<int>(status));
  fmt::format_to(std::back_inserter(out), "{{\"status\":{},\"statusText\":", status);
  append_json_string(phrase == "Unknown" ? std::string_view() : phrase, out);
  out += ",\"httpVersion\":";
  append_json_string(http_version(str_or(rs, "version")), out);
  out += ",\"cookies\":";
  append_cookies(hs, true, out);
  out += ",\"headers\":";
  append_headers(hs, out);
  fmt::format_to(std::back_inserter(out),
                 ",\"content\":{{\"size\":{},\"mimeType\":", body.size < 0 ? 0 : body.size);
  append_json_string(find_header(hs, "content-type"), out);
  if (body.captured) {
    out += ",\"text\":";
    append_json_string(body.text, out);
    if (body.base64) out += ",\"encoding\":\"base64\"";
  }
  out += "},\"redirectURL\":";
  append_json_string(find_header(hs, "location"), out);
  fmt::format_to(std::back_inserter(out), ",\"headersSize\":-1,\"bodySize\":{}}}", body.size);
}

constexpr std::string_view empty_response =
    "{\"status\":0,\"statusText\":\"\",\"httpVersion\":\"\",\"cookies\":[],\"headers\":[],"
    "\"content\":{\"size\":0,\"mimeType\":\"\"},\"redirectURL\":\"\",\"headersSize\":-1,"
    "\"bodySize\":-1}";
constexpr std::string_view empty_request =
    "{\"method\":\"\",\"url\":\"\",\"httpVersion\":\"\",\"cookies\":[],\"headers\":[],"
    "\"queryString\":[],\"headersSize\":-1,\"bodySize\":-1}";

}  // namespace

bool append_har_entry(std::string_view record, std::string& out) {
  thread_local dom::parser parser;
  dom::object rec;
  if (parser.parse(record.data(), record.size(), true).get_object().get(rec)) return false;
  dom::object rq, rs;
  const bool has_rq = !rec["request"].get_object().get(rq);
  const bool has_rs = !rec["response"].get_object().get(rs);
  if (!has_rq && !has_rs) return false;
  std::string_view started = has_rq ? str_or(rq, "time") : str_or(rs, "time");
  const std::int64_t duration_us = int_or(rec, "duration_us", -1);
  const double ms = duration_us < 0 ? 0.0 : static_cast<double>(duration_us) / 1000.0;
  bool complete = false;
  if (rec["complete"].get_bool().get(complete)) complete = false;

  auto it = std::back_inserter(out);
  out += "{\"startedDateTime\":";
  append_json_string(started, out);
  fmt::format_to(it, ",\"time\":{},\"request\":", ms);
  if (has_rq)
    append_request(rq, out);
  else
    out += empty_request;
  out += ",\"response\":";
  if (has_rs)
    append_response(rs, out);
  else
    out += empty_response;
  fmt::format_to(it, ",\"cache\":{{}},\"timings\":{{\"send\":0,\"wait\":{},\"receive\":0}}", ms);
  out += ",\"_id\":";
  append_json_string(str_or(rec, "id"), out);
  out += ",\"_source\":";
  append_json_string(str_or(rec, "source"), out);
  out += complete ? ",\"_complete\":true}" : ",\"_complete\":false}";
  return true;
}

namespace {

class har_producer final : public body_producer {
 public:
  har_producer(const storage::store& store, har_options opts)
      : store_(store), opts_(std::move(opts)), matcher_(opts_.filter) {}

  bool next(std::string& out) override {
    if (!started_) {
      started_ = true;
      out +=
          "{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"http-event-processor\","
          "\"version\":";
      append_json_string(opts_.creator_version, out);
      out += "},\"pages\":[],\"entries\":[";
    }
    std::size_t want = opts_.page_size;
    if (opts_.limit != 0)
      want = static_cast<std::size_t>(std::min<std::uint64_t>(want, opts_.limit - sent_));
    bool more = false;
    if (want > 0) {
      storage::query q;
      q.limit = want;
      q.before = cursor_;
      if (!opts_.filter.empty()) {
        q.match = [this](std::string_view line, std::size_t cap) { return matcher_(line, cap); };
      }
      const auto page = store_.query(q);
      for (const auto& rec : page.records) {
        const auto mark = out.size();
        if (sent_ > 0) out += ',';
        if (append_har_entry(rec, out)) {
          ++sent_;
        } else {
          out.resize(mark);
        }
      }
      cursor_ = page.next;
      more = page.next.has_value() && (opts_.limit == 0 || sent_ < opts_.limit);
    }
    if (!more) out += "]}}";
    return more;
  }

 private:
  const storage::store& store_;
  har_options opts_;
  storage::record_matcher matcher_;
  std::optional<std::uint64_t> cursor_ = opts_.before;
  std::uint64_t sent_ = 0;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<body_producer> make_har_producer(const storage::store& store, har_options opts) {
  return std::make_unique<har_producer>(store, std::move(opts));
}

}  // namespace api
