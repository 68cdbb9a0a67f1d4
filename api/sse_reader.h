// SPDX-License-Identifier: Apache-2.0
//
// The client side of Server-Sent Events without sockets: bytes of a text/event-stream body in
// (already de-chunked), events out. The fleet's GET /events/stream reads its peers' streams
// with it. It follows the parsing rules of the HTML standard, "9.2.6 Interpreting an event
// stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html):
//
//   - lines end with CRLF, LF or CR, and a line ending may be split between two feed() calls;
//   - a line that starts with ':' is a comment, and is ignored;
//   - "name:value" (one space after the colon is dropped) or "name" alone (the value is "");
//   - "event" sets the type, "data" appends the value and a LF to the data, "id" and "retry"
//     are kept as the standard says, any other field is ignored;
//   - a blank line dispatches the event unless its data is empty, with the data's last LF
//     removed and the type "message" when none was set; type and data are then reset.
//
// A leading UTF-8 byte order mark is skipped. Bytes are otherwise taken as they are: the
// events are UTF-8 JSON, checked by whoever parses them.
//
// Memory is bounded: a line, or the data of one event, longer than `max_event_bytes` is an
// error, wherever the bytes were split. Errors are sticky: once feed() returned false, it returns false again, and error()
// says why, until reset().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace api {

struct sse_event {
  std::string_view type;  // "message" when the event set none
  std::string_view data;
  std::string_view id;    // the last event id seen so far (it carries over, as the standard says)
};

class sse_reader {
 public:
  // The views of an sse_event are valid during the call only.
  using on_event_fn = std::function<void(const sse_event&)>;

  explicit sse_reader(std::size_t max_event_bytes = 64u << 20) : max_(max_event_bytes) {}

  // Reads `bytes`, calling `on_event` for each event they complete, in order. Returns false
  // when the stream broke the size bound (now or before); nothing more is read then.
  bool feed(std::string_view bytes, const on_event_fn& on_event);

  // Empty while no error happened.
  const std::string& error() const { return error_; }
  // The last "retry" field's value in milliseconds, if any came.
  std::optional<std::uint64_t> retry_ms() const { return retry_; }
  // Forgets everything, the error included (a new connection).
  void reset();

 private:
  bool feed_lines(std::string_view bytes, const on_event_fn& on_event);
  void line(std::string_view l, const on_event_fn& on_event);

  std::size_t max_;
  std::string partial_;      // a line without its end yet
  std::string type_;
  std::string data_;
  std::string id_;
  std::optional<std::uint64_t> retry_;
  std::string error_;
  bool after_cr_ = false;    // the last byte was CR: a LF first in the next feed() ends nothing
  bool started_ = false;     // past the optional byte order mark
  std::size_t bom_matched_ = 0;
};

}  // namespace api
