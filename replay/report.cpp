// SPDX-License-Identifier: Apache-2.0
#include "replay/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "storage/json.h"

namespace replay {

namespace {

constexpr std::size_t max_body_in_report = 1024;

void append_cut(std::string_view s, std::string& out) {
  if (s.size() <= max_body_in_report) {
    storage::append_json_string(s, out);
    return;
  }
  std::string cut(s.substr(0, max_body_in_report));
  cut += "...";
  storage::append_json_string(cut, out);
}

void append_head(const exchange& x, const outgoing_request& rq, outcome o, std::string& out) {
  out += "{\"id\":";
  storage::append_json_string(x.id, out);
  out += ",\"method\":";
  storage::append_json_string(rq.method, out);
  out += ",\"url\":";
  storage::append_json_string(rq.url, out);
  out += ",\"outcome\":\"";
  out += to_string(o);
  out += '"';
}

void append_value(const difference& d, bool expected, std::string& out) {
  const bool present = expected ? d.expected_present : d.actual_present;
  const auto& v = expected ? d.expected : d.actual;
  if (!present) {
    out += "null";
    return;
  }
  switch (d.kind) {
    case difference_kind::status:
    case difference_kind::json:
      out += v;
      break;
    case difference_kind::header:
      storage::append_json_string(v, out);
      break;
    case difference_kind::body:
      append_cut(v, out);
      break;
  }
}

}  // namespace

void append_report_lines(const exchange& x, const outgoing_request& rq, outcome o,
                         const std::vector<difference>& diffs, std::string_view error,
                         std::string& out) {
  if (o == outcome::failed) {
    append_head(x, rq, o, out);
    out += ",\"kind\":\"error\",\"error\":";
    storage::append_json_string(error, out);
    out += "}\n";
    return;
  }
  for (const auto& d : diffs) {
    append_head(x, rq, o, out);
    out += ",\"kind\":\"";
    out += to_string(d.kind);
    out += "\",\"where\":";
    storage::append_json_string(d.where, out);
    out += ",\"expected\":";
    append_value(d, true, out);
    out += ",\"actual\":";
    append_value(d, false, out);
    if (!d.expected_present) out += ",\"expected_present\":false";
    if (!d.actual_present) out += ",\"actual_present\":false";
    out += "}\n";
  }
}

void summary::add(const exchange& x, outcome o) {
  const auto k = static_cast<std::size_t>(o);
  ++rows_[{x.request.method, x.request.path, x.response ? x.response->status : 0}][k];
  ++totals_[k];
}

std::string summary::table(std::size_t max_rows) const {
  using row = std::pair<std::string, std::array<std::size_t, 3>>;
  std::vector<row> rows;
  for (const auto& [key, n] : rows_) {
    const auto& [method, path, status] = key;
    rows.push_back({fmt::format("{} {} {}", status == 0 ? std::string("-") : std::to_string(status),
                                method, path),
                    n});
  }
  auto total = [](const row& r) { return r.second[0] + r.second[1] + r.second[2]; };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const row& a, const row& b) { return total(a) > total(b); });
  if (rows.size() > max_rows) {
    row other{"(other)", {}};
    for (std::size_t i = max_rows - 1; i < rows.size(); ++i) {
      for (std::size_t k = 0; k < 3; ++k) other.second[k] += rows[i].second[k];
    }
    rows.resize(max_rows - 1);
    rows.push_back(std::move(other));
  }
  std::size_t width = 24;
  for (const auto& r : rows) width = std::max(width, std::min<std::size_t>(r.first.size(), 72));
  std::string out;
  auto line = [&](std::string_view label, const std::array<std::size_t, 3>& n) {
    std::string l(label.substr(0, 72));
    fmt::format_to(std::back_inserter(out), "{:<{}}  {:>8}  {:>8}  {:>8}\n", l, width, n[0], n[1],
                   n[2]);
  };
  fmt::format_to(std::back_inserter(out), "{:<{}}  {:>8}  {:>8}  {:>8}\n",
                 "captured status, request", width, "same", "changed", "failed");
  for (const auto& r : rows) line(r.first, r.second);
  line("total", totals_);
  return out;
}

}  // namespace replay
