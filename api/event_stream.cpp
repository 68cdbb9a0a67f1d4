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
  return queue(r.line(), max_pending);
}

bool event_stream::relay(std::string_view line, std::size_t max_pending) {
  return queue(line, max_pending);
}

void event_stream::add_dropped(std::uint64_t n) {
  // Not a gap of this stream: what is relayed next is still queued.
  dropped_ += n;
  unreported_peer_drops_ += n;
}

void event_stream::notice(std::string_view event, std::string_view data) {
  pending_ += "event: ";
  pending_ += event;
  pending_ += "\ndata: ";
  pending_ += data;
  pending_ += "\n\n";
}

bool event_stream::queue(std::string_view line, std::size_t max_pending) {
  const std::size_t size = exchange_head.size() + line.size() + 2;
  // After a drop, everything is dropped until the client has taken what was queued: the gap
  // stays one run, reported between the exchanges before it and those after it.
  if (unreported_drops_ != 0 || (!pending_.empty() && pending_.size() + size > max_pending)) {
    dropped_++;
    unreported_drops_++;
    return false;
  }
  pending_ += exchange_head;
  pending_ += line;
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
  if (const auto gap = unreported_drops_ + unreported_peer_drops_; gap != 0) {
    fmt::format_to(std::back_inserter(out),
                   "event: dropped\ndata: {{\"dropped\":{},\"total\":{}}}\n\n", gap, dropped_);
    unreported_drops_ = 0;
    unreported_peer_drops_ = 0;
  }
}

}  // namespace api
