// SPDX-License-Identifier: Apache-2.0
#include "api/http.h"

#include <fmt/format.h>
#include <llhttp.h>
#include <simdjson.h>

#include <iterator>

#include "api/event_stream.h"

namespace api {

response::response() = default;
response::~response() = default;
response::response(response&&) noexcept = default;
response& response::operator=(response&&) noexcept = default;

std::string_view request::header_value(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return {};
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void append_response(const response& r, bool keep_alive, std::string& out) {
  const bool close = r.close || !keep_alive;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "HTTP/1.1 {} {}\r\n", r.status, reason_phrase(r.status));
  if (!r.content_type.empty()) fmt::format_to(it, "Content-Type: {}\r\n", r.content_type);
  const bool bodiless = r.status == 204 || r.status == 304;
  if (r.stream || r.live) {
    fmt::format_to(it, "Transfer-Encoding: chunked\r\nConnection: {}\r\n",
                   close ? "close" : "keep-alive");
  } else if (bodiless) {
    fmt::format_to(it, "Connection: {}\r\n", close ? "close" : "keep-alive");
  } else {
    fmt::format_to(it, "Content-Length: {}\r\nConnection: {}\r\n", r.body.size(),
                   close ? "close" : "keep-alive");
  }
  for (const auto& [name, value] : r.headers) fmt::format_to(it, "{}: {}\r\n", name, value);
  out += "\r\n";
  if (!r.stream && !r.live && !bodiless) out += r.body;
}

void append_chunk(std::string_view data, std::string& out) {
  if (data.empty()) return;
  fmt::format_to(std::back_inserter(out), "{:x}\r\n", data.size());
  out += data;
  out += "\r\n";
}

void append_last_chunk(std::string& out) { out += "0\r\n\r\n"; }

std::string serialize_response(response& r, bool keep_alive) {
  std::string out;
  append_response(r, keep_alive, out);
  if (r.stream) {
    std::string piece;
    bool more = true;
    while (more) {
      piece.clear();
      more = r.stream->next(piece);
      append_chunk(piece, out);
    }
    append_last_chunk(out);
  }
  return out;
}

void append_json_string(std::string_view s, std::string& out) {
  // Bytes that are not UTF-8 cannot go into JSON as they are; read them as Latin-1 so the
  // output stays valid JSON and the text stays readable.
  const bool utf8 = simdjson::validate_utf8(s.data(), s.size());
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

response error_response(int status, std::string_view message) {
  response r;
  r.status = status;
  r.body = "{\"error\":";
  append_json_string(message, r.body);
  r.body += '}';
  return r;
}

namespace {

// One line per llhttp error, lower case, static storage (STYLE.md §5).
std::string_view llhttp_reason(llhttp_errno_t e) {
  switch (e) {
    case HPE_CR_EXPECTED:
      return "expected CR";
    case HPE_LF_EXPECTED:
      return "expected LF";
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      return "content-length with transfer-encoding";
    case HPE_UNEXPECTED_SPACE:
      return "unexpected whitespace";
    case HPE_CLOSED_CONNECTION:
      return "data after connection close";
    case HPE_INVALID_METHOD:
      return "invalid method";
    case HPE_INVALID_URL:
      return "invalid request target";
    case HPE_INVALID_CONSTANT:
      return "invalid request line";
    case HPE_INVALID_VERSION:
      return "invalid http version";
    case HPE_INVALID_HEADER_TOKEN:
      return "invalid header token";
    case HPE_INVALID_CONTENT_LENGTH:
      return "invalid content-length";
    case HPE_INVALID_CHUNK_SIZE:
      return "invalid chunk size";
    case HPE_INVALID_EOF_STATE:
      return "unexpected end of request";
    case HPE_INVALID_TRANSFER_ENCODING:
      return "invalid transfer-encoding";
    case HPE_PAUSED_UPGRADE:
      return "protocol upgrade not supported";
    case HPE_PAUSED_H2_UPGRADE:
      return "http/2 not supported";
    default:
      return "malformed request";
  }
}

constexpr std::string_view too_large_headers = "request header fields too large";
constexpr std::string_view too_large_body = "request body too large";

}  // namespace

struct request_parser::impl {
  llhttp_t parser{};
  llhttp_settings_t settings{};
  parser_limits limits;

  request req;
  std::string field;  // header name being received (it may come in several pieces)
  std::string value;

  const char* chunk = nullptr;   // start of the input of the current llhttp_execute()
  std::size_t header_bytes = 0;  // header-section bytes of this message before `chunk`
  bool in_headers = true;        // the current message has not finished its headers
  bool headers_paused = false;   // on_headers_complete paused the parser
  bool message_paused = false;   // on_message_complete paused; resume before parsing on
  bool closed = false;           // the last request ends the connection
  bool in_message = false;       // on_message_begin seen, request not returned yet

  // Set by a callback that fails with HPE_USER.
  int user_status = 0;
  std::string_view user_reason;

  bool failed = false;
  result error;

  explicit impl(parser_limits l) : limits(l) {
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    init();
  }

  void init() {
    llhttp_init(&parser, HTTP_REQUEST, &settings);
    parser.data = this;
    req = {};
    field.clear();
    value.clear();
    chunk = nullptr;
    header_bytes = 0;
    in_headers = true;
    headers_paused = message_paused = closed = in_message = false;
    user_status = 0;
    user_reason = {};
    failed = false;
    error = {};
  }

  static impl& self(llhttp_t* p) { return *static_cast<impl*>(p->data); }

  int fail(int status, std::string_view reason) {
    user_status = status;
    user_reason = reason;
    return HPE_USER;
  }

  // Every header-section callback checks the running size, so a huge header never gets
  // buffered: the bytes seen so far are those before this chunk plus this chunk up to the
  // end of the span.
  int check_header_size(const char* at, std::size_t length) {
    const auto seen = header_bytes + static_cast<std::size_t>(at - chunk) + length;
    return seen > limits.max_header_bytes ? fail(431, too_large_headers) : 0;
  }

  static int on_message_begin(llhttp_t* p) {
    auto& s = self(p);
    s.in_message = true;
    s.req = {};
    s.field.clear();
    s.value.clear();
    return 0;
  }

  static int on_url(llhttp_t* p, const char* at, std::size_t length) {
    auto& s = self(p);
    if (int rc = s.check_header_size(at, length)) return rc;
    s.req.target.append(at, length);
    return 0;
  }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t length) {
    auto& s = self(p);
    if (int rc = s.check_header_size(at, length)) return rc;
    s.field.append(at, length);
    return 0;
  }

  static int on_header_field_complete(llhttp_t* p) {
    auto& s = self(p);
    // RFC 9112 5.1: no whitespace between the name and the colon; llhttp 8.1 lets it through.
    if (s.field.find_first_of(" \t") != std::string::npos) {
      return s.fail(400, "whitespace in header name");
    }
    for (auto& ch : s.field) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, std::size_t length) {
    auto& s = self(p);
    if (int rc = s.check_header_size(at, length)) return rc;
    s.value.append(at, length);
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) {
    auto& s = self(p);
    // llhttp drops leading whitespace but keeps trailing whitespace, which RFC 9110 5.5 says
    // is not part of the value.
    while (!s.value.empty() && (s.value.back() == ' ' || s.value.back() == '\t')) {
      s.value.pop_back();
    }
    s.req.headers.emplace_back(std::move(s.field), std::move(s.value));
    s.field.clear();
    s.value.clear();
    return 0;
  }

  // Pauses so that feed() learns exactly where the header section ends.
  static int on_headers_complete(llhttp_t* p) {
    auto& s = self(p);
    s.headers_paused = true;
    return HPE_PAUSED;
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t length) {
    auto& s = self(p);
    // Content-Length was checked up front; this catches chunked bodies.
    if (length > s.limits.max_body_bytes - s.req.body.size()) {
      return s.fail(413, too_large_body);
    }
    s.req.body.append(at, length);
    return 0;
  }

  static int on_message_complete(llhttp_t* p) {
    auto& s = self(p);
    // Upgrades (WebSocket, CONNECT) are not served: the bytes after them are another protocol.
    s.req.keep_alive = llhttp_should_keep_alive(p) != 0 && p->upgrade == 0;
    s.message_paused = true;
    return HPE_PAUSED;
  }

  result set_error(int status, std::string_view reason, std::size_t consumed) {
    failed = true;
    error = {kind::error, 0, status, reason};
    return {kind::error, consumed, status, reason};
  }

  void split_target() {
    const auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    req.query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
  }

  result feed(std::string_view in) {
    if (failed) return error;
    if (message_paused) {
      llhttp_resume(&parser);
      message_paused = false;
      header_bytes = 0;
      in_headers = true;
    }
    if (in.empty()) return {};
    if (closed) return set_error(400, llhttp_reason(HPE_CLOSED_CONNECTION), 0);

    const char* pos = in.data();
    const char* const end = in.data() + in.size();
    while (true) {
      chunk = pos;
      const auto rc = llhttp_execute(&parser, pos, static_cast<std::size_t>(end - pos));
      const auto offset = [&] {
        return static_cast<std::size_t>(llhttp_get_error_pos(&parser) - in.data());
      };
      if (rc == HPE_OK) {
        if (in_headers) {
          header_bytes += static_cast<std::size_t>(end - pos);
          if (header_bytes > limits.max_header_bytes) {
            return set_error(431, too_large_headers, in.size());
          }
        }
        return {kind::need_more, in.size(), 0, {}};
      }
      if (rc == HPE_PAUSED && headers_paused) {
        headers_paused = false;
        const char* stop = llhttp_get_error_pos(&parser);
        header_bytes += static_cast<std::size_t>(stop - pos);
        in_headers = false;
        if (header_bytes > limits.max_header_bytes) {
          return set_error(431, too_large_headers, offset());
        }
        // llhttp also takes HTTP/0.9 ("GET /" alone) and HTTP/2.0 request lines.
        if (parser.http_major != 1 || parser.http_minor > 1) {
          return set_error(400, "unsupported http version", offset());
        }
        if ((parser.flags & F_CONTENT_LENGTH) != 0 &&
            parser.content_length > limits.max_body_bytes) {
          return set_error(413, too_large_body, offset());
        }
        llhttp_resume(&parser);
        pos = stop;
        continue;
      }
      if (rc == HPE_PAUSED && message_paused) {
        split_target();
        req.method = llhttp_method_name(static_cast<llhttp_method_t>(parser.method));
        closed = !req.keep_alive;
        in_message = false;
        return {kind::request, offset(), 0, {}};
      }
      // A failing *_complete callback surfaces as its own HPE_CB_* code, not HPE_USER.
      if (user_status != 0) return set_error(user_status, user_reason, offset());
      return set_error(400, llhttp_reason(rc), offset());
    }
  }
};

request_parser::request_parser(parser_limits limits) : impl_(std::make_unique<impl>(limits)) {}

request_parser::~request_parser() = default;

request_parser::result request_parser::feed(std::string_view in) { return impl_->feed(in); }

request& request_parser::current() { return impl_->req; }

void request_parser::reset() { impl_->init(); }

bool request_parser::in_message() const { return impl_->in_message; }

}  // namespace api
