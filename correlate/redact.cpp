// SPDX-License-Identifier: Apache-2.0
#include "correlate/redact.h"

#include <algorithm>
#include <variant>

namespace correlate {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == y; });
}

void redact_headers(std::vector<header>& headers, const std::vector<std::string>& names,
                    std::vector<std::string>& seen) {
  for (auto& h : headers) {
    auto hit = std::find_if(names.begin(), names.end(),
                            [&](const std::string& n) { return iequals(h.first, n); });
    if (hit == names.end()) continue;
    h.second.assign(redacted_value);
    if (std::find(seen.begin(), seen.end(), *hit) == seen.end()) seen.push_back(*hit);
  }
}

}  // namespace

void redact(exchange& x, const std::vector<std::string>& names) {
  if (names.empty()) return;
  if (x.request) redact_headers(x.request->headers, names, x.redacted);
  if (x.response) redact_headers(x.response->headers, names, x.redacted);
}

void redact(event& e, const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::vector<std::string> unused;
  std::visit([&](auto& half) { redact_headers(half.headers, names, unused); }, e.half);
}

}  // namespace correlate
