// SPDX-License-Identifier: Apache-2.0
//
// HAProxy's variable-length integer (include/haproxy/intops.h, SPOE.txt 3.1; PROTOCOL.md §2).
// Unsigned, up to 64 bits, 1 to 10 bytes:
//   encode(v): v < 240 -> one byte v. Otherwise emit (v | 0xF0) & 0xFF, v = (v - 240) >> 4,
//              then while v >= 128: emit (v | 0x80) & 0xFF, v = (v - 128) >> 7; finally emit v.
//   decode:    v = b0; if b0 >= 240, add each following byte c shifted by 4, 11, 18, ... until
//              a byte < 128. Whole bytes are added (marker bits included), in wrapping 64-bit
//              arithmetic; the encoder's biases cancel the marker bits.
// Signed values travel as their two's complement cast to uint64 (-1 takes 10 bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "spop/types.h"

namespace spop {

enum class varint_status : std::uint8_t {
  ok,
  truncated,  // the input ended before the last byte (< 128) was seen
  overlong,   // more than max_varint_bytes (10) bytes: HAProxy never produces that
};

struct varint_result {
  varint_status status = varint_status::truncated;
  std::uint64_t value = 0;
  std::size_t size = 0;  // bytes consumed; 0 unless status == ok
};

// Decodes one varint from the front of `in`. Never reads past `in`. A truncated result means
// "need more bytes" to a stream reader, and "malformed" inside a frame whose length is known.
constexpr varint_result decode_varint(std::span<const std::byte> in) noexcept {
  if (in.empty()) return {};
  std::uint64_t v = static_cast<std::uint8_t>(in[0]);
  if (v < 240) return {varint_status::ok, v, 1};
  unsigned shift = 4;
  for (std::size_t i = 1; i < in.size(); ++i) {
    if (i == max_varint_bytes) return {varint_status::overlong, 0, 0};
    const auto c = static_cast<std::uint8_t>(in[i]);
    v += static_cast<std::uint64_t>(c) << shift;  // wraps on purpose, like HAProxy
    if (c < 128) return {varint_status::ok, v, i + 1};
    shift += 7;
  }
  // Ten bytes already seen with the last one still asking for more is over-long, not truncated.
  if (in.size() >= max_varint_bytes) return {varint_status::overlong, 0, 0};
  return {};
}

// Number of bytes encode_varint() writes for `v` (1..10).
constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  if (v < 240) return 1;
  std::size_t n = 2;
  v = (v - 240) >> 4;
  while (v >= 128) {
    v = (v - 128) >> 7;
    ++n;
  }
  return n;
}

// Writes the shortest encoding of `v` to `dst`, which must have room for varint_size(v) bytes
// (max_varint_bytes always suffices). Returns the number of bytes written.
constexpr std::size_t encode_varint(std::uint64_t v, std::byte* dst) noexcept {
  if (v < 240) {
    dst[0] = static_cast<std::byte>(v);
    return 1;
  }
  std::size_t n = 0;
  dst[n++] = static_cast<std::byte>((v | 0xF0) & 0xFF);
  v = (v - 240) >> 4;
  while (v >= 128) {
    dst[n++] = static_cast<std::byte>((v | 0x80) & 0xFF);
    v = (v - 128) >> 7;
  }
  dst[n++] = static_cast<std::byte>(v);
  return n;
}

// Appends the encoding of `v` to `out`; returns the number of bytes appended.
inline std::size_t encode_varint(std::uint64_t v, std::vector<std::byte>& out) {
  std::byte tmp[max_varint_bytes];
  const std::size_t n = encode_varint(v, tmp);
  out.insert(out.end(), tmp, tmp + n);
  return n;
}

}  // namespace spop
