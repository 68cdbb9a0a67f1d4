// SPDX-License-Identifier: Apache-2.0
//
// Mirrors storage/json.cpp field by field; a test decodes this back to JSON text and compares
// it with append_json_line() byte for byte, so a field added there must be added here too.
#include "storage/msgpack_record.h"

#include <msgpack.hpp>
#include <string_view>
#include <type_traits>
#include <variant>

#include "storage/json.h"

namespace storage {

namespace {

struct string_stream {
  std::string* out;
  void write(const char* p, std::size_t n) { out->append(p, n); }
};

using packer = msgpack::packer<string_stream>;

class record_writer {
 public:
  explicit record_writer(std::string& out) : stream_{&out}, pk_(stream_) {}

  void exchange(const correlate::exchange& x) {
    pk_.pack_map(x.extra.empty() ? 7 : 8);
    key("id");
    text(x.id);
    key("source");
    str(correlate::to_string(x.source));
    key("complete");
    pk_.pack(x.complete);
    key("request");
    if (x.request) {
      request(*x.request);
    } else {
      pk_.pack_nil();
    }
    key("response");
    if (x.response) {
      response(*x.response);
    } else {
      pk_.pack_nil();
    }
    key("duration_us");
    if (x.duration_us == -1) {
      pk_.pack_nil();
    } else {
      pk_.pack(x.duration_us);
    }
    key("redacted");
    pk_.pack_array(static_cast<std::uint32_t>(x.redacted.size()));
    for (const auto& r : x.redacted) text(r);
    if (!x.extra.empty()) {
      key("extra");
      pk_.pack_map(static_cast<std::uint32_t>(x.extra.size()));
      for (const auto& [k, v] : x.extra) {
        text(k);
        extra_value(v);
      }
    }
  }

 private:
  void key(std::string_view k) { str(k); }

  void str(std::string_view s) {
    pk_.pack_str(static_cast<std::uint32_t>(s.size()));
    pk_.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
  }

  // A string as append_json_string() would have written it: invalid bytes become U+FFFD.
  void text(std::string_view s) {
    if (is_utf8(s)) {
      str(s);
      return;
    }
    scratch_.clear();
    append_valid_utf8(s, scratch_);
    str(scratch_);
  }

  void base64(std::string_view s) {
    scratch_.clear();
    append_base64(s, scratch_);
    str(scratch_);
  }

  void time(std::int64_t time_us) {
    scratch_.clear();
    append_rfc3339(time_us, scratch_);
    str(scratch_);
  }

  void headers(const std::vector<correlate::header>& hs) {
    pk_.pack_array(static_cast<std::uint32_t>(hs.size()));
    for (const auto& [name, value] : hs) {
      pk_.pack_array(2);
      text(name);
      text(value);
    }
  }

  // Five keys: body, body_encoding, body_bytes, body_size, truncated.
  void body(const correlate::body& b) {
    key("body");
    if (!b.captured) {
      pk_.pack_nil();
      key("body_encoding");
      pk_.pack_nil();
    } else if (is_utf8(b.data)) {
      str(b.data);
      key("body_encoding");
      str("utf8");
    } else {
      base64(b.data);
      key("body_encoding");
      str("base64");
    }
    key("body_bytes");
    pk_.pack(static_cast<std::uint64_t>(b.data.size()));
    key("body_size");
    pk_.pack(b.size);
    key("truncated");
    pk_.pack(b.truncated);
  }

  void request(const correlate::request_half& r) {
    pk_.pack_map(13);
    key("time");
    time(r.time_us);
    key("method");
    text(r.method);
    key("path");
    text(r.path);
    key("query");
    if (r.query) {
      text(*r.query);
    } else {
      pk_.pack_nil();
    }
    key("version");
    text(r.version);
    key("headers");
    headers(r.headers);
    body(r.body);
    key("client");
    pk_.pack_map(2);
    key("ip");
    text(r.client_ip);
    key("port");
    pk_.pack(r.client_port);
    key("frontend");
    text(r.frontend);
  }

  void response(const correlate::response_half& r) {
    pk_.pack_map(r.elapsed_us != -1 ? 12 : 11);
    key("time");
    time(r.time_us);
    key("status");
    pk_.pack(r.status);
    key("version");
    text(r.version);
    key("headers");
    headers(r.headers);
    body(r.body);
    key("backend");
    text(r.backend);
    key("server");
    text(r.server);
    if (r.elapsed_us != -1) {
      key("elapsed_us");
      pk_.pack(r.elapsed_us);
    }
  }

  void extra_value(const correlate::extra_value& v) {
    std::visit(
        [this](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            pk_.pack_nil();
          } else if constexpr (std::is_same_v<T, bool>) {
            pk_.pack(x);
          } else if constexpr (std::is_same_v<T, std::string>) {
            // As in JSON: arbitrary bytes become {"base64": "..."}.
            if (is_utf8(x)) {
              str(x);
            } else {
              pk_.pack_map(1);
              key("base64");
              base64(x);
            }
          } else {
            pk_.pack(x);
          }
        },
        v);
  }

  string_stream stream_;
  packer pk_;
  std::string scratch_;
};

}  // namespace

void append_msgpack_record(const correlate::exchange& x, std::string& out) {
  record_writer(out).exchange(x);
}

}  // namespace storage
