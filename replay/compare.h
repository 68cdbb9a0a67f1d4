// SPDX-License-Identifier: Apache-2.0
//
// Comparing a new response with the captured one.
//   - status: always.
//   - headers: only those named in `headers` (--compare-header), all values of a name joined
//     with ", "; a captured "[REDACTED]" value is not compared.
//   - body: when the captured body was recorded (not just its size). If both bodies parse as
//     JSON, they are compared as JSON values: object keys in any order, numbers by value,
//     each difference reported at its path; a captured string "[REDACTED]" (the agent's body
//     redaction) matches any value; paths matching an ignore pattern are skipped. Otherwise
//     the bytes must be equal (a truncated capture: the new body must start with them).
//   At most max_differences differences are reported per response.
//
// Ignore paths (--ignore-json-field): segments separated by '.', each an object key, "*" for
// any key, optionally followed by "[]" (any array index) or "[N]" (index N), repeatable:
//   "meta.timestamp", "items[].id", "items[0].price", "*.updated_at", "[].id" (root array),
//   "matrix[][]". A pattern also ignores everything under the value it names. A key holding
//   '.', '[' or ']' cannot be written.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replay/types.h"

namespace replay {

inline constexpr std::size_t max_differences = 100;

// One parsed ignore pattern.
class json_path_pattern {
 public:
  // Nothing (and `error` set) when `text` is not in the syntax above.
  static std::optional<json_path_pattern> parse(std::string_view text, std::string& error);

  struct segment {
    enum class kind { key, any_key, index, any_index } k;
    std::string key;
    std::size_t index = 0;
  };
  // True when the pattern names `path` or one of its ancestors.
  bool covers(const std::vector<segment>& path) const;

 private:
  std::vector<segment> segs_;
};

struct compare_options {
  std::vector<std::string> headers;  // names to compare, any case
  std::vector<json_path_pattern> ignore;
  bool body = true;
};

std::vector<difference> compare(const captured_response& captured, const received_response& got,
                                const compare_options& opts);

}  // namespace replay
