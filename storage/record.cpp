// SPDX-License-Identifier: Apache-2.0
#include "storage/record.h"

#include "storage/json.h"

namespace storage {

record::record(correlate::exchange&& x) : x_(std::move(x)), bytes_(x_.approx_bytes()) {}

std::string_view record::json_line() const {
  std::call_once(once_, [this] {
    storage::append_json_line(x_, line_);
    made_.store(true, std::memory_order_release);
  });
  return line_;
}

namespace {
// Nobody else holds `r` (and nobody can get it: there are no weak references) and its line is
// not made: making it in the caller's buffer saves a copy and the cache's allocation.
bool alone_and_unmade(const record_ptr& r, const std::atomic<bool>& made) {
  return r.use_count() == 1 && !made.load(std::memory_order_acquire);
}
}  // namespace

void record::append_json_line(const record_ptr& r, std::string& out) {
  if (alone_and_unmade(r, r->made_)) {
    storage::append_json_line(r->x_, out);
    return;
  }
  out += r->json_line();
}

std::string_view record::json_line(const record_ptr& r, std::string& scratch) {
  if (alone_and_unmade(r, r->made_)) {
    scratch.clear();
    storage::append_json_line(r->x_, scratch);
    return scratch;
  }
  return r->json_line();
}

}  // namespace storage
