// SPDX-License-Identifier: Apache-2.0
//
// Small readers over simdjson On Demand values of a stored record, shared by the filters
// (storage/filter.cpp) and the aggregates (storage/stats.cpp). Internal to storage/.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string_view>

namespace storage::detail {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Reads the "headers" field of a half ([[name, value], ...]) up to the first header called
// `name` (case-insensitively), and sets `value` to it (a view into the parser's buffer, valid
// until the next document), or leaves it empty when there is none. Returns false when the
// field is missing or not an array of string pairs. Consumes the object up to "headers".
inline bool first_header(simdjson::ondemand::object& half, std::string_view name,
                         std::optional<std::string_view>& value) {
  namespace od = simdjson::ondemand;
  value.reset();
  od::array headers;
  if (half.find_field("headers").get_array().get(headers)) return false;
  for (auto h : headers) {
    od::array pair;
    if (h.get_array().get(pair)) return false;
    auto it = pair.begin();
    if (it.error()) return false;
    std::string_view n;
    if ((*it).get_string().get(n)) return false;
    if (!iequals(n, name)) continue;
    ++it;
    std::string_view v;
    if ((*it).get_string().get(v)) return false;
    value = v;
    return true;
  }
  return true;
}

}  // namespace storage::detail
