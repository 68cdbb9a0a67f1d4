// SPDX-License-Identifier: Apache-2.0
//
// One exchange on its way to the sinks. The file store and the Kafka sink share it (one
// allocation, no copy), and its JSON line is made once, by whichever sink needs it first: the
// file store's writer thread and the Kafka sink's thread both want the same bytes, and making
// them is most of what each sink costs (bench/RESULTS.md §9).
//
// Immutable once made, except for the line, which json_line() fills exactly once
// (std::call_once); every method is safe to call from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "correlate/types.h"

namespace storage {

class record {
 public:
  explicit record(correlate::exchange&& x);

  const correlate::exchange& exchange() const { return x_; }
  // x_.approx_bytes(), taken once: what the sinks' byte caps count for this record.
  std::uint64_t approx_bytes() const { return bytes_; }

  // append_json_line(exchange()) with its '\n', made on the first call.
  std::string_view json_line() const;

  // Appends the JSON line to `out`. A caller that holds the only reference and finds no line
  // made yet writes it straight into `out`: nobody else can ask for it, so caching it would
  // only cost a copy.
  static void append_json_line(const std::shared_ptr<const record>& r, std::string& out);
  // The line (with its '\n'), from the cache, or, on the same terms, made in `scratch`.
  static std::string_view json_line(const std::shared_ptr<const record>& r, std::string& scratch);

 private:
  correlate::exchange x_;
  std::uint64_t bytes_;
  mutable std::once_flag once_;
  mutable std::atomic<bool> made_{false};
  mutable std::string line_;
};

using record_ptr = std::shared_ptr<const record>;

inline record_ptr make_record(correlate::exchange&& x) {
  return std::make_shared<const record>(std::move(x));
}

}  // namespace storage
