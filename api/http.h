// SPDX-License-Identifier: Apache-2.0
//
// HTTP/1.1 without sockets: llhttp turns bytes into `request`s, `append_response` turns a
// `response` into bytes. The agent owns the socket and feeds whatever it read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace api {

using header = std::pair<std::string, std::string>;

struct request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/events?limit=10"
  std::string path;    // target up to '?', percent-decoding NOT applied
  std::string query;   // after '?', empty when none
  // Names lower-cased; values verbatim except for the surrounding whitespace, which
  // RFC 9110 5.5 excludes from the value. Order and repeats are kept. The trailer fields of
  // a chunked body are appended after the header fields.
  std::vector<header> headers;
  std::string body;  // de-chunked
  // llhttp_should_keep_alive(): false for HTTP/1.0 without keep-alive, for
  // `Connection: close`, and for upgrade requests (WebSocket, CONNECT), which we do not serve.
  bool keep_alive = true;
  // Value of the first header named `name` (lower-case), empty view when absent.
  std::string_view header_value(std::string_view name) const;
};

// A response body produced piece by piece (HAR exports, NDJSON), sent with
// Transfer-Encoding: chunked so that it is never built whole in memory.
class body_producer {
 public:
  virtual ~body_producer() = default;
  // Appends the next piece of the body to `out` (possibly nothing) and returns true while more
  // may follow; false once the body is complete (what this last call appended still belongs
  // to it). May read the disk: the agent calls it on libuv's thread pool, one call at a time,
  // and writes each piece as one chunk before asking for the next, so memory stays bounded by
  // one piece. Must not throw except std::bad_alloc.
  virtual bool next(std::string& out) = 0;
};

class event_stream;  // api/event_stream.h

struct response {
  response();
  ~response();
  response(response&&) noexcept;
  response& operator=(response&&) noexcept;

  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<header> headers;  // extra headers (e.g. Allow, Retry-After)
  bool close = false;           // send Connection: close and close after writing
  // When set, the body is `stream`'s output instead of `body` (which must be empty), and
  // append_response() writes Transfer-Encoding: chunked instead of Content-Length.
  std::unique_ptr<body_producer> stream;
  // GET /events/stream: a Server-Sent Events body that never ends by itself. The agent takes
  // it, writes the head (chunked, like `stream`) and then feeds it exchanges; `body` is empty.
  std::unique_ptr<event_stream> live;
};

// Reason phrase for a status code ("Not Found"); "Unknown" for codes we never send.
std::string_view reason_phrase(int status);

// Appends the status line, Content-Type, Content-Length, Connection (keep-alive or close),
// the extra headers and the body of `r` to `out`. `keep_alive` false forces Connection: close.
// For a streamed response (r.stream or r.live set) only the head is appended, with
// Transfer-Encoding: chunked; the body follows as append_chunk()s and append_last_chunk().
// 204 and 304 get neither Content-Length nor a body (RFC 9110 8.6).
void append_response(const response& r, bool keep_alive, std::string& out);

// One chunk of a chunked body (RFC 9112 7.1): hex size, CRLF, data, CRLF. Nothing for empty
// `data`, which would end the body.
void append_chunk(std::string_view data, std::string& out);
// The last chunk: "0\r\n\r\n".
void append_last_chunk(std::string& out);

// Drains `r.stream` (if any) into a complete chunked body after the head: what the agent
// writes, in one string. For tests and for small producers.
std::string serialize_response(response& r, bool keep_alive);

// A JSON error response: {"error":"<message>"} with `status`; `message` is escaped with
// append_json_string().
response error_response(int status, std::string_view message);

// Addition to the original contract, shared by the handlers: appends `s` to `out` as a JSON
// string literal, quotes included. '"', '\\' and control characters are escaped; if `s` is not
// valid UTF-8, every byte >= 0x80 is written as \u00XX (read as Latin-1) so that the output is
// always valid JSON.
void append_json_string(std::string_view s, std::string& out);

struct parser_limits {
  std::size_t max_header_bytes = 64 * 1024;      // request line + headers; over it -> 431
  std::size_t max_body_bytes = 8 * 1024 * 1024;  // over it -> 413
};

// Incremental request parser over llhttp. One instance per connection.
class request_parser {
 public:
  explicit request_parser(parser_limits limits = {});
  ~request_parser();
  request_parser(const request_parser&) = delete;
  request_parser& operator=(const request_parser&) = delete;

  // `consumed` per kind:
  //   need_more: always in.size(). The parser copies what it keeps (target, headers, body),
  //              so the caller may drop everything it fed.
  //   request:   the bytes up to the end of that request; the rest of `in` (a pipelined
  //              request) was not looked at and must be fed again.
  //   error:     where parsing stopped in `in` on the call that failed (for logging), 0 on the
  //              sticky repeats.
  enum class kind { need_more, request, error };
  struct result {
    kind what = kind::need_more;
    std::size_t consumed = 0;  // bytes of `in` used; the caller drops them
    int status = 0;            // with kind::error: 400, 413 or 431
    std::string_view reason;   // with kind::error: one line, static storage
  };

  // Parses from `in` until one request is complete (then stops, leaving the rest of `in`
  // unconsumed for the next call), the input runs out, or an error occurs. Errors are sticky:
  // after one, every call returns the same error until reset().
  //   400: anything llhttp rejects (reason from a fixed table: "invalid method", "invalid
  //        request target", "invalid header token", ...), whitespace before a header's colon,
  //        a request line that is not HTTP/1.0 or HTTP/1.1 ("unsupported http version"; llhttp
  //        itself takes HTTP/0.9 and HTTP/2.0), and any byte fed after a request whose
  //        keep_alive is false ("data after connection close"): such a request ends the
  //        connection.
  //   431: the request line plus headers exceed max_header_bytes.
  //   413: Content-Length exceeds max_body_bytes (checked when the headers end), or a chunked
  //        body grows past it.
  // An empty `in` returns need_more with consumed 0.
  result feed(std::string_view in);

  // The request completed by the last feed() that returned kind::request. Valid until the
  // next feed(); the caller may move from it.
  request& current();

  void reset();

  // True while part of a request has been consumed and the request is not complete yet (the
  // agent's request timeout runs only then).
  bool in_message() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace api
