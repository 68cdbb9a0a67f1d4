// SPDX-License-Identifier: Apache-2.0
#include "storage/json.h"

#include <fmt/format.h>
#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace storage {

namespace {

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";  // U+FFFD

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

// Bytes that end a run copied as is. RFC 8259 §7: '"', '\\' and U+0000..U+001F must be
// escaped; other ASCII, 0x7F included, is copied. With CheckUtf8, bytes >= 0x80 stop a run too:
// each is copied once it is known to start a well-formed UTF-8 sequence, else replaced by
// U+FFFD. Without, the string is known to be valid UTF-8 and they are copied like ASCII.
template <bool CheckUtf8>
constexpr std::array<bool, 256> k_stop = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = true;
  t['"'] = true;
  t['\\'] = true;
  for (int c = 0x80; c < 0x100; ++c) t[static_cast<std::size_t>(c)] = CheckUtf8;
  return t;
}();

// The escape of each byte that needs one, padded to 8 bytes so it is written with one store:
// \" \\ \b \f \n \r \t, and \u00XX for the other control characters.
struct escape_code {
  std::array<char, 8> bytes{};
  std::uint8_t size = 0;
};
constexpr std::array<escape_code, 256> k_escapes = [] {
  std::array<escape_code, 256> t{};
  constexpr char hex[] = "0123456789abcdef";
  for (int c = 0; c < 0x20; ++c) {
    auto& e = t[static_cast<std::size_t>(c)];
    e.bytes = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
    e.size = 6;
  }
  const std::pair<char, char> short_forms[] = {{'\b', 'b'}, {'\f', 'f'}, {'\n', 'n'},
                                               {'\r', 'r'}, {'\t', 't'}, {'"', '"'},
                                               {'\\', '\\'}};
  for (const auto& [c, letter] : short_forms) {
    auto& e = t[static_cast<std::size_t>(c)];
    e.bytes = {'\\', letter};
    e.size = 2;
  }
  return t;
}();

template <typename Word>
Word load(const unsigned char* p) {
  Word x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

// 8 bytes as one little-endian word, so the first byte in memory is the least significant
// and a borrow between bytes only runs towards later ones.
std::uint64_t load_le64(const unsigned char* p) {
  const auto x = load<std::uint64_t>(p);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return __builtin_bswap64(x);
#else
  return x;
#endif
}

// For 4 or 8 bytes at once (SWAR; `x` from load_le64 where the position matters): the high bit
// of each byte that stops a run. Whether any byte is flagged is exact; of the flagged bytes,
// only the lowest is (a borrow may flag bytes after it), which is all that is used.
template <bool CheckUtf8, typename Word>
Word stop_mask(Word x) {
  constexpr auto ones = static_cast<Word>(0x0101010101010101ull);
  constexpr auto highs = static_cast<Word>(0x8080808080808080ull);
  const auto zero_byte = [](Word v) { return static_cast<Word>((v - ones) & ~v & highs); };
  auto m = static_cast<Word>(((x - ones * 0x20) & ~x & highs)  // < 0x20 (and not >= 0x80)
                             | zero_byte(x ^ (ones * '"')) | zero_byte(x ^ (ones * '\\')));
  if constexpr (CheckUtf8) m |= x & highs;
  return m;
}

// Builds JSON output through a raw pointer in a per-thread staging buffer and appends it to
// `out` in one piece: no zero-filled slack in `out`, no capacity check per byte or per escape,
// one append to `out` per record (more only for a record larger than the staging buffer).
// need(n) before writing n bytes; the staging buffer is flushed to `out`, or grown, only when
// it has less room than that.
class writer {
 public:
  explicit writer(std::string& out) : out_(out), buf_(staging()) {
    if (buf_.size() < k_initial) buf_.resize(k_initial);
    o_ = buf_.data();
    end_ = o_ + buf_.size();
  }
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  // Appends what was written to `out`; call once, at the end.
  void finish() {
    out_.append(buf_.data(), static_cast<std::size_t>(o_ - buf_.data()));
    o_ = buf_.data();
  }

  void need(std::size_t n) {
    if (static_cast<std::size_t>(end_ - o_) < n) make_room(n);
  }
  // A string literal: its size is a constant, so the copy is a few moves, not a memcpy call.
  template <std::size_t N>
  void lit(const char (&s)[N]) {
    need(N - 1);
    std::memcpy(o_, s, N - 1);
    o_ += N - 1;
  }
  void raw(std::string_view s) {  // short strings only: see k_initial
    need(s.size());
    std::memcpy(o_, s.data(), s.size());
    o_ += s.size();
  }
  void put(char c) {
    need(1);
    *o_++ = c;
  }

  template <typename Int>
  void integer(Int v) {
    need(24);
    o_ = std::to_chars(o_, o_ + 24, v).ptr;
  }
  void boolean(bool b) {
    if (b) {
      lit("true");
    } else {
      lit("false");
    }
  }

  // `s` as a JSON string literal, quotes included.
  template <bool CheckUtf8>
  void string(std::string_view s) {
    put('"');
    escaped<CheckUtf8>(s);
    put('"');
  }

  // `s` escaped, without quotes.
  template <bool CheckUtf8>
  void escaped(std::string_view s) {
    if (s.size() <= 16 && copy_if_clean<CheckUtf8>(s)) return;
    escape_loop<CheckUtf8>(s);
  }
  void base64(std::string_view in);
  void rfc3339(std::int64_t time_us);

 private:
  // The staging buffer starts at 16 KiB and never grows past the largest single need(), about
  // 48 KiB (escaped() and base64() ask for room one k_chunk at a time; the rest asks for a
  // few bytes), however large the record: a full buffer is flushed to `out` first.
  static constexpr std::size_t k_initial = 16 * 1024;
  // escaped() asks for room for this many input bytes at a time (6 output bytes each at most),
  // so a large body does not need a staging buffer of 6 times its size.
  static constexpr std::size_t k_chunk = 8 * 1024;

  template <bool CheckUtf8>
  bool copy_if_clean(std::string_view s);
  template <bool CheckUtf8>
  void escape_loop(std::string_view s);

  static std::string& staging() {
    thread_local std::string buf;
    return buf;
  }

  void make_room(std::size_t n) {
    out_.append(buf_.data(), static_cast<std::size_t>(o_ - buf_.data()));
    if (buf_.size() < n) buf_.resize(std::max(n, 2 * buf_.size()));
    o_ = buf_.data();
    end_ = o_ + buf_.size();
  }

  // Writes the byte at p[i], which stops a run, and the bytes of its UTF-8 sequence if it
  // starts one; advances i past what it consumed. At most 6 output bytes per input byte.
  template <bool CheckUtf8>
  static char* special(const unsigned char* p, std::size_t& i, std::size_t n, char* o) {
    const unsigned char c = p[i];
    if (CheckUtf8 && c >= 0x80) {
      const std::size_t len = utf8_sequence_length(p + i, n - i);
      if (len == 0) {
        std::memcpy(o, k_replacement.data(), k_replacement.size());
        ++i;
        return o + k_replacement.size();
      }
      std::memcpy(o, p + i, len);
      i += len;
      return o + len;
    }
    // The room asked for has 8 bytes past any byte that stops a run.
    const escape_code& e = k_escapes[c];
    std::memcpy(o, e.bytes.data(), 8);
    ++i;
    return o + e.size;
  }

  std::string& out_;
  std::string& buf_;
  char* o_ = nullptr;
  char* end_ = nullptr;
};

// Strings of at most 16 bytes with nothing to escape (most header names and values, methods,
// versions, addresses) are copied with two overlapping loads and stores, without a loop.
template <bool CheckUtf8>
bool writer::copy_if_clean(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  need(16);
  if (n >= 8) {
    const auto head = load<std::uint64_t>(p);
    const auto tail = load<std::uint64_t>(p + n - 8);
    if ((stop_mask<CheckUtf8>(head) | stop_mask<CheckUtf8>(tail)) != 0) return false;
    std::memcpy(o_, &head, 8);
    std::memcpy(o_ + n - 8, &tail, 8);
  } else if (n >= 4) {
    const auto head = load<std::uint32_t>(p);
    const auto tail = load<std::uint32_t>(p + n - 4);
    if ((stop_mask<CheckUtf8>(head) | stop_mask<CheckUtf8>(tail)) != 0) return false;
    std::memcpy(o_, &head, 4);
    std::memcpy(o_ + n - 4, &tail, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      if (k_stop<CheckUtf8>[p[i]]) return false;
      o_[i] = static_cast<char>(p[i]);
    }
  }
  o_ += n;
  return true;
}

// Copies runs that need no escape 16 bytes (SSE2) or 8 bytes (SWAR) at a time: each block is
// stored whole (the room asked for covers it), then the cursor moves to the first byte that
// stops the run, whose escape is written through the pointer.
template <bool CheckUtf8>
void writer::escape_loop(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const std::size_t stop = n - i > k_chunk ? i + k_chunk : n;
    // special() may run up to 3 bytes past `stop` (a UTF-8 sequence): 6 bytes of room a byte.
    need(6 * (stop - i) + 32);
    char* o = o_;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    while (i + 16 <= stop) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
      if constexpr (CheckUtf8) {
        // Signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them as well.
        m = _mm_or_si128(m, _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
      } else {
        m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v));
      }
      auto mask = static_cast<unsigned>(_mm_movemask_epi8(m));
      if (mask == 0) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o), v);
        o += 16;
        i += 16;
        continue;
      }
      // No byte >= 0x80 in the block (or valid UTF-8) and 16 more input bytes after it: every
      // flagged byte is one escape, and each run (before, between, after them) is one 16-byte
      // load and store.
      if ((!CheckUtf8 || _mm_movemask_epi8(v) == 0) && i + 32 <= n) {
        const unsigned char* b = p + i;
        unsigned pos = 0;
        do {
          const auto k = static_cast<unsigned>(__builtin_ctz(mask));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o),
                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + pos)));
          o += k - pos;
          const escape_code& e = k_escapes[b[k]];
          std::memcpy(o, e.bytes.data(), 8);
          o += e.size;
          pos = k + 1;
          mask &= mask - 1;
        } while (mask != 0);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + pos)));
        o += 16 - pos;
        i += 16;
        continue;
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o), v);
      // The general walk over this block's flagged bytes: the run before the first one is in
      // place already; a later run is copied with a 16-byte load from the input, or from `v`
      // at the end of the input.
      const std::size_t block = i;
      std::size_t k = block + static_cast<std::size_t>(__builtin_ctz(mask));
      o += k - i;
      i = k;
      while (true) {
        o = special<CheckUtf8>(p, i, n, o);
        if constexpr (CheckUtf8) {
          // A UTF-8 sequence consumes flagged bytes too, and may run past the block.
          mask &= i - block >= 16 ? 0u : ~0u << (i - block);
        } else {
          mask &= mask - 1;
        }
        const std::size_t next =
            mask != 0 ? block + static_cast<std::size_t>(__builtin_ctz(mask)) : block + 16;
        if (next > i) {
          __m128i run;
          if (i + 16 <= n) {
            run = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
          } else {
            // The last block of the input: take the run from `v` rather than read past the end.
            alignas(16) char last[32] = {};
            _mm_store_si128(reinterpret_cast<__m128i*>(last), v);
            run = _mm_loadu_si128(reinterpret_cast<const __m128i*>(last + (i - block)));
          }
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o), run);
          o += next - i;
          i = next;
        }
        if (mask == 0) break;
      }
    }
#endif
    while (i + 8 <= stop) {
      const std::uint64_t mask = stop_mask<CheckUtf8>(load_le64(p + i));
      std::memcpy(o, p + i, 8);
      if (mask == 0) {
        o += 8;
        i += 8;
        continue;
      }
      const auto k = static_cast<std::size_t>(__builtin_ctzll(mask)) / 8;
      o += k;
      i += k;
      o = special<CheckUtf8>(p, i, n, o);
    }
    while (i < stop) {
      if (!k_stop<CheckUtf8>[p[i]]) {
        *o++ = static_cast<char>(p[i++]);
      } else {
        o = special<CheckUtf8>(p, i, n, o);
      }
    }
    o_ = o;
  }
}

void writer::base64(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  std::size_t i = 0;
  while (n - i >= 3) {
    // Whole groups of 3 bytes, k_chunk of them at most per need().
    const std::size_t groups = std::min((n - i) / 3, k_chunk);
    need(4 * groups);
    char* o = o_;
    for (const std::size_t stop = i + 3 * groups; i < stop; i += 3) {
      const std::uint32_t v =
          (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
      *o++ = alphabet[(v >> 18) & 63];
      *o++ = alphabet[(v >> 12) & 63];
      *o++ = alphabet[(v >> 6) & 63];
      *o++ = alphabet[v & 63];
    }
    o_ = o;
  }
  if (n - i == 0) return;
  need(4);
  const std::uint32_t v =
      (std::uint32_t{p[i]} << 16) | (n - i == 2 ? std::uint32_t{p[i + 1]} << 8 : 0);
  o_[0] = alphabet[(v >> 18) & 63];
  o_[1] = alphabet[(v >> 12) & 63];
  o_[2] = n - i == 2 ? alphabet[(v >> 6) & 63] : '=';
  o_[3] = '=';
  o_ += 4;
}

void put_digits(char* p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

void writer::rfc3339(std::int64_t time_us) {
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
    char b[64];
    const auto r = fmt::format_to_n(b, sizeof b, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", y,
                                    m, d, hh, mm, ss, us);
    raw(std::string_view(b, std::min(r.size, sizeof b)));
    return;
  }
  need(27);
  char* b = o_;
  std::memcpy(b, "0000-00-00T00:00:00.000000Z", 27);
  put_digits(b, static_cast<unsigned>(y), 4);
  put_digits(b + 5, static_cast<unsigned>(m), 2);
  put_digits(b + 8, static_cast<unsigned>(d), 2);
  put_digits(b + 11, hh, 2);
  put_digits(b + 14, mm, 2);
  put_digits(b + 17, ss, 2);
  put_digits(b + 20, static_cast<unsigned>(us), 6);
  o_ += 27;
}

void append_headers(const std::vector<correlate::header>& headers, writer& w) {
  w.put('[');
  bool first = true;
  for (const auto& [name, value] : headers) {
    if (first) {
      w.lit("[\"");
    } else {
      w.lit(",[\"");
    }
    first = false;
    w.escaped<true>(name);
    w.lit("\",\"");
    w.escaped<true>(value);
    w.lit("\"]");
  }
  w.put(']');
}

// "body":...,"body_encoding":...,"body_bytes":N,"body_size":N,"truncated":B
void append_body(const correlate::body& b, writer& w) {
  if (!b.captured) {
    w.lit(",\"body\":null,\"body_encoding\":null");
  } else if (is_utf8(b.data)) {
    w.lit(",\"body\":\"");
    w.escaped<false>(b.data);
    w.lit("\",\"body_encoding\":\"utf8\"");
  } else {
    w.lit(",\"body\":\"");
    w.base64(b.data);
    w.lit("\",\"body_encoding\":\"base64\"");
  }
  w.lit(",\"body_bytes\":");
  w.integer(b.data.size());
  w.lit(",\"body_size\":");
  w.integer(b.size);
  w.lit(",\"truncated\":");
  w.boolean(b.truncated);
}

// {"time":"..." : how each half starts.
void open_half(std::int64_t time_us, writer& w) {
  w.lit("{\"time\":\"");
  w.rfc3339(time_us);
  w.put('"');
}

// "version", "headers" and the body fields, which both halves have, in this order.
void append_message(std::string_view version, const std::vector<correlate::header>& headers,
                    const correlate::body& body, writer& w) {
  w.lit(",\"version\":");
  w.string<true>(version);
  w.lit(",\"headers\":");
  append_headers(headers, w);
  append_body(body, w);
}

void append_request(const correlate::request_half& r, writer& w) {
  open_half(r.time_us, w);
  w.lit(",\"method\":");
  w.string<true>(r.method);
  w.lit(",\"path\":");
  w.string<true>(r.path);
  w.lit(",\"query\":");
  if (r.query) {
    w.string<true>(*r.query);
  } else {
    w.lit("null");
  }
  append_message(r.version, r.headers, r.body, w);
  w.lit(",\"client\":{\"ip\":");
  w.string<true>(r.client_ip);
  w.lit(",\"port\":");
  w.integer(r.client_port);
  w.lit("},\"frontend\":");
  w.string<true>(r.frontend);
  w.put('}');
}

void append_response(const correlate::response_half& r, writer& w) {
  open_half(r.time_us, w);
  w.lit(",\"status\":");
  w.integer(r.status);
  append_message(r.version, r.headers, r.body, w);
  w.lit(",\"backend\":");
  w.string<true>(r.backend);
  w.lit(",\"server\":");
  w.string<true>(r.server);
  if (r.elapsed_us != -1) {
    w.lit(",\"elapsed_us\":");
    w.integer(r.elapsed_us);
  }
  w.put('}');
}

void append_extra_value(const correlate::extra_value& v, writer& w) {
  std::visit(
      [&w](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          w.lit("null");
        } else if constexpr (std::is_same_v<T, bool>) {
          w.boolean(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          // Arbitrary bytes (an unknown BINARY argument) must survive: base64 them.
          if (is_utf8(x)) {
            w.string<false>(x);
          } else {
            w.lit("{\"base64\":\"");
            w.base64(x);
            w.lit("\"}");
          }
        } else {
          w.integer(x);
        }
      },
      v);
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
  writer w(out);
  w.string<true>(s);
  w.finish();
}

void append_base64(std::string_view in, std::string& out) {
  writer w(out);
  w.base64(in);
  w.finish();
}

bool base64_decode(std::string_view in, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return false;
  std::string dec;
  dec.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = val(c)) < 0) {
        return false;
      }
    }
    const unsigned n = static_cast<unsigned>((v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3]);
    dec += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) dec += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) dec += static_cast<char>(n & 0xff);
  }
  out += dec;
  return true;
}

void append_rfc3339(std::int64_t time_us, std::string& out) {
  writer w(out);
  w.rfc3339(time_us);
  w.finish();
}

void append_json_line(const correlate::exchange& x, std::string& out) {
  writer w(out);
  w.lit("{\"id\":");
  w.string<true>(x.id);
  w.lit(",\"source\":\"");
  w.raw(correlate::to_string(x.source));
  w.lit("\",\"complete\":");
  w.boolean(x.complete);
  w.lit(",\"request\":");
  if (x.request) {
    append_request(*x.request, w);
  } else {
    w.lit("null");
  }
  w.lit(",\"response\":");
  if (x.response) {
    append_response(*x.response, w);
  } else {
    w.lit("null");
  }
  w.lit(",\"duration_us\":");
  if (x.duration_us == -1) {
    w.lit("null");
  } else {
    w.integer(x.duration_us);
  }
  w.lit(",\"redacted\":[");
  for (std::size_t i = 0; i < x.redacted.size(); ++i) {
    if (i != 0) w.put(',');
    w.string<true>(x.redacted[i]);
  }
  w.put(']');
  if (!x.extra.empty()) {
    w.lit(",\"extra\":{");
    bool first = true;
    for (const auto& [key, value] : x.extra) {
      if (!first) w.put(',');
      first = false;
      w.string<true>(key);
      w.put(':');
      append_extra_value(value, w);
    }
    w.put('}');
  }
  w.lit("}\n");
  w.finish();
}

}  // namespace storage
