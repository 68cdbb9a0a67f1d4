// SPDX-License-Identifier: Apache-2.0
#include "api/sse_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace api {

namespace {

constexpr std::string_view bom = "\xEF\xBB\xBF";

}  // namespace

void sse_reader::reset() {
  partial_.clear();
  type_.clear();
  data_.clear();
  id_.clear();
  retry_.reset();
  error_.clear();
  after_cr_ = false;
  started_ = false;
  bom_matched_ = 0;
}

bool sse_reader::feed(std::string_view bytes, const on_event_fn& on_event) {
  if (!error_.empty()) return false;
  // The byte order mark may itself arrive in pieces; bytes that only looked like its start
  // are the stream's first bytes.
  while (!started_ && !bytes.empty()) {
    if (bytes.front() == bom[bom_matched_]) {
      bytes.remove_prefix(1);
      started_ = ++bom_matched_ == bom.size();
      continue;
    }
    started_ = true;
    if (!feed_lines(bom.substr(0, bom_matched_), on_event)) return false;
  }
  return feed_lines(bytes, on_event);
}

bool sse_reader::feed_lines(std::string_view bytes, const on_event_fn& on_event) {
  while (!bytes.empty()) {
    if (after_cr_) {
      after_cr_ = false;
      if (bytes.front() == '\n') {
        bytes.remove_prefix(1);
        continue;
      }
    }
    const auto end = bytes.find_first_of("\r\n");
    // One rule wherever the bytes are split: no line, and no event's data, past the bound.
    if (partial_.size() + std::min(end, bytes.size()) > max_) {
      error_ = fmt::format("event larger than {} bytes", max_);
      return false;
    }
    if (end == std::string_view::npos) {
      partial_ += bytes;
      return true;
    }
    after_cr_ = bytes[end] == '\r';
    if (partial_.empty()) {
      line(bytes.substr(0, end), on_event);
    } else {
      partial_ += bytes.substr(0, end);
      line(partial_, on_event);
      partial_.clear();
    }
    if (!error_.empty()) return false;
    bytes.remove_prefix(end + 1);
  }
  return true;
}

void sse_reader::line(std::string_view l, const on_event_fn& on_event) {
  if (l.empty()) {
    if (!data_.empty()) {
      data_.pop_back();  // the LF after the last data line
      sse_event e{type_.empty() ? std::string_view("message") : std::string_view(type_), data_,
                  id_};
      on_event(e);
    }
    type_.clear();
    data_.clear();
    return;
  }
  if (l.front() == ':') return;
  const auto colon = l.find(':');
  const std::string_view name = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (value.starts_with(' ')) value.remove_prefix(1);
  if (name == "data") {
    if (data_.size() + value.size() + 1 > max_) {
      error_ = fmt::format("event larger than {} bytes", max_);
      return;
    }
    data_ += value;
    data_ += '\n';
  } else if (name == "event") {
    type_ = value;
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) id_ = value;
  } else if (name == "retry") {
    std::uint64_t ms = 0;
    const auto* end = value.data() + value.size();
    const auto [p, ec] = std::from_chars(value.data(), end, ms);
    if (!value.empty() && ec == std::errc() && p == end) retry_ = ms;
  }
}

}  // namespace api
