// SPDX-License-Identifier: Apache-2.0
//
// Prototype for the lead (bench only, not used by the agent): a JSON string writer that gives
// byte-for-byte the output of storage::append_json_string() (escapes per RFC 8259, each byte
// that does not start a well-formed UTF-8 sequence replaced by U+FFFD), but scans 16 bytes at a
// time with SSE2 and copies whole runs, instead of classifying every byte and zero-filling 6n
// bytes of `out` first. bench_micro checks it against the real one on random inputs before
// timing both (bm_json_string_body vs bm_proto_json_string_body). Its IPv4 formatting is now
// agent::append_ipv4 (agent/spop_bridge.h).
#pragma once

#include <emmintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace proto {

namespace detail {

inline bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), 0 when ill-formed.
inline std::size_t utf8_len(const unsigned char* p, std::size_t n) {
  const unsigned char c = p[0];
  if (c < 0xC2) return 0;
  if (c < 0xE0) return n >= 2 && continuation(p[1]) ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3) return 0;
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return p[1] >= lo && p[1] <= hi && continuation(p[2]) ? 3 : 0;
  }
  if (c < 0xF5) {
    if (n < 4) return 0;
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return p[1] >= lo && p[1] <= hi && continuation(p[2]) && continuation(p[3]) ? 4 : 0;
  }
  return 0;
}

// Writes the special byte at p[i] (control, '"', '\\' or >= 0x80) at `o`; advances both.
inline char* special(const unsigned char* p, std::size_t& i, std::size_t n, char* o) {
  const unsigned char c = p[i];
  if (c >= 0x80) {
    const std::size_t len = utf8_len(p + i, n - i);
    if (len == 0) {
      std::memcpy(o, "\xEF\xBF\xBD", 3);
      ++i;
      return o + 3;
    }
    std::memcpy(o, p + i, len);
    i += len;
    return o + len;
  }
  ++i;
  *o++ = '\\';
  switch (c) {
    case '"':
    case '\\':
      *o++ = static_cast<char>(c);
      return o;
    case '\b': *o++ = 'b'; return o;
    case '\f': *o++ = 'f'; return o;
    case '\n': *o++ = 'n'; return o;
    case '\r': *o++ = 'r'; return o;
    case '\t': *o++ = 't'; return o;
    default: {
      static constexpr char hex[] = "0123456789abcdef";
      *o++ = 'u';
      *o++ = '0';
      *o++ = '0';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 0xF];
      return o;
    }
  }
}

}  // namespace detail

inline void append_json_string(std::string_view s, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  // Worst case 6 bytes out per byte in; written through a pointer, then cut back.
  const std::size_t old = out.size();
  out.resize(old + 6 * n + 2);
  char* const base = out.data();
  char* o = base + old;
  *o++ = '"';
  std::size_t i = 0;
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  // 16 bytes at a time: store the block whole (the 6n slack makes that safe), keep the bytes up
  // to the first special one, write that one's escape, go on right after it.
  while (n - i >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them as well.
    const __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                _mm_cmpeq_epi8(v, backslash)));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(m));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o), v);
    if (mask == 0) {
      o += 16;
      i += 16;
      continue;
    }
    const auto k = static_cast<std::size_t>(__builtin_ctz(mask));
    o += k;
    i += k;
    o = detail::special(p, i, n, o);
  }
  while (i < n) {
    const unsigned char c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      *o++ = static_cast<char>(c);
      ++i;
    } else {
      o = detail::special(p, i, n, o);
    }
  }
  *o++ = '"';
  out.resize(static_cast<std::size_t>(o - base));
}

}  // namespace proto
