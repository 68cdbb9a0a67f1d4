// SPDX-License-Identifier: Apache-2.0
#include "api/event_stream.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <iterator>

#include "storage/json.h"

namespace api {

namespace {

constexpr std::string_view preamble = "retry: 3000\n\nevent: ready\ndata: {}\n\n";
constexpr std::string_view exchange_head = "event: exchange\ndata: ";

}  // namespace

void stream_record::assign(const correlate::exchange& x) {
  buf_.clear();
  storage::append_json_line(x, buf_);
  size_ = buf_.size() - 1;  // the newline stays as the first padding byte
  buf_.append(simdjson::SIMDJSON_PADDING, '\0');
}

event_stream::event_stream(storage::filter f) : pending_(preamble) {
  // No filter: every exchange matches, without parsing it.
  if (!f.empty()) matcher_.emplace(std::move(f));
}

event_stream::~event_stream() = default;

bool event_stream::offer(const stream_record& r, std::size_t max_pending) {
  if (matcher_ && !(*matcher_)(r.line(), r.capacity())) return false;
  const std::size_t size = exchange_head.size() + r.line().size() + 2;
  // After a drop, everything is dropped until the client has taken what was queued: the gap
  // stays one run, reported between the exchanges before it and those after it.
  if (unreported_drops_ != 0 || (!pending_.empty() && pending_.size() + size > max_pending)) {
    dropped_++;
    unreported_drops_++;
    return false;
  }
  pending_ += exchange_head;
  pending_ += r.line();
  pending_ += "\n\n";
  sent_++;
  return true;
}

void event_stream::heartbeat() {
  if (pending_.empty()) pending_ = ": keepalive\n\n";
}

void event_stream::take(std::string& out) {
  out += pending_;
  pending_.clear();
  if (unreported_drops_ != 0) {
    fmt::format_to(std::back_inserter(out),
                   "event: dropped\ndata: {{\"dropped\":{},\"total\":{}}}\n\n", unreported_drops_,
                   dropped_);
    unreported_drops_ = 0;
  }
}

}  // namespace api
