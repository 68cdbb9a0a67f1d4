// SPDX-License-Identifier: Apache-2.0
#include "storage/json.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <variant>

namespace storage {

namespace {

// Byte classes. RFC 8259 §7: '"', '\\' and U+0000..U+001F must be escaped (k_escape); other
// ASCII, 0x7F included, is copied (k_plain); bytes >= 0x80 are copied once they are known to
// belong to a well-formed UTF-8 sequence (k_high).
constexpr std::uint8_t k_plain = 0;
constexpr std::uint8_t k_escape = 1;
constexpr std::uint8_t k_high = 2;
constexpr std::array<std::uint8_t, 256> make_class_table() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = k_escape;
  t['"'] = k_escape;
  t['\\'] = k_escape;
  for (int c = 0x80; c < 0x100; ++c) t[static_cast<std::size_t>(c)] = k_high;
  return t;
}
constexpr std::array<std::uint8_t, 256> k_class = make_class_table();

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";  // U+FFFD

// Writes the escape for one byte of class k_escape at `o`; returns the end.
char* write_escape(unsigned char c, char* o) {
  static constexpr char hex[] = "0123456789abcdef";
  static constexpr std::array<char, 0x20> short_forms = [] {
    std::array<char, 0x20> t{};
    t['\b'] = 'b';
    t['\f'] = 'f';
    t['\n'] = 'n';
    t['\r'] = 'r';
    t['\t'] = 't';
    return t;
  }();
  *o++ = '\\';
  if (c == '"' || c == '\\') {
    *o++ = static_cast<char>(c);
  } else if (short_forms[c] != 0) {
    *o++ = short_forms[c];
  } else {
    *o++ = 'u';
    *o++ = '0';
    *o++ = '0';
    *o++ = hex[c >> 4];
    *o++ = hex[c & 0xF];
  }
  return o;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence at p (Unicode 15 table 3-7), 0 when ill-formed.
std::size_t utf8_sequence_length(const unsigned char* p, std::size_t n) {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return n >= 2 && is_continuation(p[1]) ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3) return 0;
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return p[1] >= lo && p[1] <= hi && is_continuation(p[2]) ? 3 : 0;
  }
  if (c < 0xF5) {
    if (n < 4) return 0;
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return p[1] >= lo && p[1] <= hi && is_continuation(p[2]) && is_continuation(p[3]) ? 4 : 0;
  }
  return 0;
}

// Escapes `s`. With Check, each byte that does not start a well-formed UTF-8 sequence becomes
// U+FFFD, in the same single pass (no simdjson call: most strings here are short header names
// and values); without, `s` must already be valid UTF-8.
template <bool Check>
void append_escaped(std::string_view s, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  if constexpr (!Check) {
    // Valid UTF-8, typically a body: copy runs between escapes, so a large body costs no more
    // than its own size in `out`.
    std::size_t i = 0;
    while (i < n) {
      const std::size_t start = i;
      while (i < n && k_class[p[i]] != k_escape) ++i;
      out.append(s.data() + start, i - start);
      if (i == n) break;
      char esc[6];
      out.append(esc, static_cast<std::size_t>(write_escape(p[i], esc) - esc));
      ++i;
    }
    return;
  }
  // Worst case is 6 output bytes per input byte (\u00XX); grow once, write through a pointer,
  // then cut back to what was written.
  const std::size_t old_size = out.size();
  out.resize(old_size + 6 * n);
  char* const base = out.data();
  char* o = base + old_size;
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    const std::uint8_t cls = k_class[c];
    if (cls == k_plain) {
      *o++ = static_cast<char>(c);
      ++i;
    } else if (cls == k_escape) {
      o = write_escape(c, o);
      ++i;
    } else {
      const std::size_t len = utf8_sequence_length(p + i, n - i);
      if (len == 0) {
        std::memcpy(o, k_replacement.data(), k_replacement.size());
        o += k_replacement.size();
        ++i;
      } else {
        std::memcpy(o, p + i, len);
        o += len;
        i += len;
      }
    }
  }
  out.resize(static_cast<std::size_t>(o - base));
}

template <typename Int>
void append_int(Int v, std::string& out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_bool(bool b, std::string& out) { out.append(b ? "true" : "false"); }

void append_headers(const std::vector<correlate::header>& headers, std::string& out) {
  out.push_back('[');
  bool first = true;
  for (const auto& [name, value] : headers) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('[');
    append_json_string(name, out);
    out.push_back(',');
    append_json_string(value, out);
    out.push_back(']');
  }
  out.push_back(']');
}

// "body":...,"body_encoding":...,"body_bytes":N,"body_size":N,"truncated":B
void append_body(const correlate::body& b, std::string& out) {
  out.append(",\"body\":");
  if (!b.captured) {
    out.append("null,\"body_encoding\":null");
  } else if (is_utf8(b.data)) {
    out.push_back('"');
    append_escaped<false>(b.data, out);
    out.append("\",\"body_encoding\":\"utf8\"");
  } else {
    out.push_back('"');
    append_base64(b.data, out);
    out.append("\",\"body_encoding\":\"base64\"");
  }
  out.append(",\"body_bytes\":");
  append_int(b.data.size(), out);
  out.append(",\"body_size\":");
  append_int(b.size, out);
  out.append(",\"truncated\":");
  append_bool(b.truncated, out);
}

void append_request(const correlate::request_half& r, std::string& out) {
  out.append("{\"time\":\"");
  append_rfc3339(r.time_us, out);
  out.append("\",\"method\":");
  append_json_string(r.method, out);
  out.append(",\"path\":");
  append_json_string(r.path, out);
  out.append(",\"query\":");
  if (r.query) {
    append_json_string(*r.query, out);
  } else {
    out.append("null");
  }
  out.append(",\"version\":");
  append_json_string(r.version, out);
  out.append(",\"headers\":");
  append_headers(r.headers, out);
  append_body(r.body, out);
  out.append(",\"client\":{\"ip\":");
  append_json_string(r.client_ip, out);
  out.append(",\"port\":");
  append_int(r.client_port, out);
  out.append("},\"frontend\":");
  append_json_string(r.frontend, out);
  out.push_back('}');
}

void append_response(const correlate::response_half& r, std::string& out) {
  out.append("{\"time\":\"");
  append_rfc3339(r.time_us, out);
  out.append("\",\"status\":");
  append_int(r.status, out);
  out.append(",\"version\":");
  append_json_string(r.version, out);
  out.append(",\"headers\":");
  append_headers(r.headers, out);
  append_body(r.body, out);
  out.append(",\"backend\":");
  append_json_string(r.backend, out);
  out.append(",\"server\":");
  append_json_string(r.server, out);
  if (r.elapsed_us != -1) {
    out.append(",\"elapsed_us\":");
    append_int(r.elapsed_us, out);
  }
  out.push_back('}');
}

void append_extra_value(const correlate::extra_value& v, std::string& out) {
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out.append("null");
        } else if constexpr (std::is_same_v<T, bool>) {
          append_bool(x, out);
        } else if constexpr (std::is_same_v<T, std::string>) {
          // Arbitrary bytes (an unknown BINARY argument) must survive: base64 them.
          if (is_utf8(x)) {
            out.push_back('"');
            append_escaped<false>(x, out);
            out.push_back('"');
          } else {
            out.append("{\"base64\":\"");
            append_base64(x, out);
            out.append("\"}");
          }
        } else {
          append_int(x, out);
        }
      },
      v);
}

void put_digits(char* p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

}  // namespace

bool is_utf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

void append_valid_utf8(std::string_view s, std::string& out) {
  if (is_utf8(s)) {
    out.append(s);
    return;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t len = utf8_sequence_length(p + i, s.size() - i);
    if (len == 0) {
      out.append(k_replacement);
      ++i;
    } else {
      out.append(s.data() + i, len);
      i += len;
    }
  }
}

void append_json_string(std::string_view s, std::string& out) {
  out.push_back('"');
  append_escaped<true>(s, out);
  out.push_back('"');
}

void append_base64(std::string_view in, std::string& out) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  const std::size_t start = out.size();
  out.resize(start + (n + 2) / 3 * 4);
  char* o = out.data() + start;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    *o++ = alphabet[(v >> 18) & 63];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    *o++ = alphabet[v & 63];
  }
  if (n - i == 1) {
    const std::uint32_t v = std::uint32_t{p[i]} << 16;
    *o++ = alphabet[(v >> 18) & 63];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (n - i == 2) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
    *o++ = alphabet[(v >> 18) & 63];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    *o++ = '=';
  }
}

void append_rfc3339(std::int64_t time_us, std::string& out) {
  // Floor division, so times before 1970 still get a non-negative microsecond part.
  std::int64_t secs = time_us / 1'000'000;
  std::int64_t us = time_us % 1'000'000;
  if (us < 0) {
    us += 1'000'000;
    --secs;
  }
  std::int64_t days = secs / 86400;
  std::int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  // civil_from_days, H. Hinnant, "chrono-Compatible Low-Level Date Algorithms".
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);

  const auto hh = static_cast<unsigned>(sod / 3600);
  const auto mm = static_cast<unsigned>(sod / 60 % 60);
  const auto ss = static_cast<unsigned>(sod % 60);
  if (y < 0 || y > 9999) {
    // Not representable in RFC 3339; written the same way with a wider year.
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", y, m, d,
                   hh, mm, ss, us);
    return;
  }
  char b[27] = {'0', '0', '0', '0', '-', '0', '0', '-', '0', '0', 'T', '0', '0', ':',
                '0', '0', ':', '0', '0', '.', '0', '0', '0', '0', '0', '0', 'Z'};
  put_digits(b, static_cast<unsigned>(y), 4);
  put_digits(b + 5, static_cast<unsigned>(m), 2);
  put_digits(b + 8, static_cast<unsigned>(d), 2);
  put_digits(b + 11, hh, 2);
  put_digits(b + 14, mm, 2);
  put_digits(b + 17, ss, 2);
  put_digits(b + 20, static_cast<unsigned>(us), 6);
  out.append(b, sizeof b);
}

void append_json_line(const correlate::exchange& x, std::string& out) {
  out.append("{\"id\":");
  append_json_string(x.id, out);
  out.append(",\"source\":\"");
  out.append(correlate::to_string(x.source));
  out.append("\",\"complete\":");
  append_bool(x.complete, out);
  out.append(",\"request\":");
  if (x.request) {
    append_request(*x.request, out);
  } else {
    out.append("null");
  }
  out.append(",\"response\":");
  if (x.response) {
    append_response(*x.response, out);
  } else {
    out.append("null");
  }
  out.append(",\"duration_us\":");
  if (x.duration_us == -1) {
    out.append("null");
  } else {
    append_int(x.duration_us, out);
  }
  out.append(",\"redacted\":[");
  for (std::size_t i = 0; i < x.redacted.size(); ++i) {
    if (i != 0) out.push_back(',');
    append_json_string(x.redacted[i], out);
  }
  out.push_back(']');
  if (!x.extra.empty()) {
    out.append(",\"extra\":{");
    bool first = true;
    for (const auto& [key, value] : x.extra) {
      if (!first) out.push_back(',');
      first = false;
      append_json_string(key, out);
      out.push_back(':');
      append_extra_value(value, out);
    }
    out.push_back('}');
  }
  out.append("}\n");
}

}  // namespace storage
