// SPDX-License-Identifier: Apache-2.0
#include "correlate/json_redact.h"

#include <algorithm>
#include <cctype>
#include <variant>

namespace correlate {

namespace {

constexpr std::string_view masked = "\"[REDACTED]\"";

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// End of the string starting at s[i] == '"' (one past the closing quote), s.size() if cut.
std::size_t string_end(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

// End of the value starting at s[i] (a string, a number or literal, or a whole nested
// object/array), s.size() if cut.
std::size_t value_end(std::string_view s, std::size_t i) {
  if (i >= s.size()) return i;
  if (s[i] == '"') return string_end(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = string_end(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return i;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i])) ++i;
  return i;
}

std::string unescape_simple(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size() &&
        (raw[i + 1] == '"' || raw[i + 1] == '\\' || raw[i + 1] == '/')) {
      ++i;
    }
    out += raw[i];
  }
  return out;
}

bool json_content_type(const std::vector<correlate::header>& hs) {
  for (const auto& [name, value] : hs) {
    if (name.size() != 12) continue;
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (n != "content-type") continue;
    std::string v = value.substr(0, value.find(';'));
    std::transform(v.begin(), v.end(), v.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    while (!v.empty() && is_ws(v.back())) v.pop_back();
    return v == "application/json" || v.ends_with("+json");
  }
  return false;
}

}  // namespace

void redact_json_text(std::string& body, const std::vector<std::string>& fields,
                      std::vector<std::size_t>& hits) {
  hits.assign(fields.size(), 0);
  if (fields.empty()) return;
  std::string out;
  std::size_t copied = 0;  // body[copied, i) is still to be copied to `out`
  const std::string_view s = body;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '"') {
      ++i;
      continue;
    }
    const std::size_t end = string_end(s, i);
    // A string followed by ':' is a member name.
    std::size_t j = end;
    while (j < s.size() && is_ws(s[j])) ++j;
    if (end > i + 1 && j < s.size() && s[j] == ':') {
      const auto name = unescape_simple(s.substr(i + 1, end - i - 2));
      const auto it = std::find(fields.begin(), fields.end(), name);
      std::size_t v = j + 1;
      while (v < s.size() && is_ws(s[v])) ++v;
      if (it != fields.end() && v < s.size()) {
        const std::size_t vend = value_end(s, v);
        out.append(s.substr(copied, v - copied));
        out.append(masked);
        copied = vend;
        hits[static_cast<std::size_t>(it - fields.begin())]++;
        i = vend;
        continue;
      }
    }
    i = end;
  }
  if (copied == 0) return;
  out.append(s.substr(copied));
  body = std::move(out);
}

void redact_json_fields(correlate::exchange& x, const std::vector<std::string>& fields) {
  if (fields.empty()) return;
  std::vector<std::size_t> total(fields.size(), 0), hits;
  auto apply = [&](std::vector<correlate::header>& hs, correlate::body& b) {
    if (!b.captured || b.data.empty() || !json_content_type(hs)) return;
    redact_json_text(b.data, fields, hits);
    for (std::size_t k = 0; k < hits.size(); ++k) total[k] += hits[k];
  };
  if (x.request) apply(x.request->headers, x.request->body);
  if (x.response) apply(x.response->headers, x.response->body);
  for (std::size_t k = 0; k < fields.size(); ++k) {
    if (total[k] == 0) continue;
    auto label = "body:" + fields[k];
    if (std::find(x.redacted.begin(), x.redacted.end(), label) == x.redacted.end()) {
      x.redacted.push_back(std::move(label));
    }
  }
}

void redact_json_fields(correlate::event& e, const std::vector<std::string>& fields) {
  if (fields.empty()) return;
  std::vector<std::size_t> hits;
  std::visit(
      [&](auto& half) {
        if (half.body.captured && !half.body.data.empty() && json_content_type(half.headers)) {
          redact_json_text(half.body.data, fields, hits);
        }
      },
      e.half);
}

}  // namespace correlate
