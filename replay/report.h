// SPDX-License-Identifier: Apache-2.0
//
// The results of a replay: one JSONL report line per difference or failure (--report), and
// the summary table printed at the end.
//
// Report lines, one JSON object each:
//   {"id":"<exchange id>","method":"GET","url":"<sent URL>","outcome":"changed",
//    "kind":"status"|"header"|"body"|"json","where":"<header name or JSON path>",
//    "expected":<captured>,"actual":<new>}
//   {"id":..,"method":..,"url":..,"outcome":"failed","kind":"error","error":"<curl's message>"}
// For "status", expected/actual are numbers; for "json", the JSON values themselves (null
// when absent: a key added or removed is "expected":null with "expected_present":false);
// for "header" and "body", strings (bodies cut at 1 KiB, with "..." appended).
#pragma once

#include <array>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "replay/types.h"

namespace replay {

enum class outcome { same, changed, failed };

constexpr std::string_view to_string(outcome o) {
  switch (o) {
    case outcome::same:
      return "same";
    case outcome::changed:
      return "changed";
    case outcome::failed:
      return "failed";
  }
  return "unknown";
}

// Appends the report lines (each with its '\n') of one replayed exchange. `error` is the
// failure message (outcome failed) or empty.
void append_report_lines(const exchange& x, const outgoing_request& rq, outcome o,
                         const std::vector<difference>& diffs, std::string_view error,
                         std::string& out);

// Counts by (method, path, captured status). Paths are the captured paths, without query.
class summary {
 public:
  void add(const exchange& x, outcome o);

  std::size_t same() const { return totals_[0]; }
  std::size_t changed() const { return totals_[1]; }
  std::size_t failed() const { return totals_[2]; }

  // The table: one row per (method, path, status), most exchanges first, at most `max_rows`
  // rows (the rest folded into one "(other)" row), then the totals.
  std::string table(std::size_t max_rows = 40) const;

 private:
  std::map<std::tuple<std::string, std::string, int>, std::array<std::size_t, 3>> rows_;
  std::array<std::size_t, 3> totals_{};
};

}  // namespace replay
