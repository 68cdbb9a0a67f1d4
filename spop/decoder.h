// SPDX-License-Identifier: Apache-2.0
//
// SPOP 2.0 decoding, sans-I/O: frames from a byte stream, then the payload shapes
// (typed data, KV-LIST, LIST-OF-MESSAGES, LIST-OF-ACTIONS). Nothing here allocates except the
// list decoders, which only grow the caller's reusable vectors (no allocation once their
// capacity suffices). No exceptions except std::bad_alloc from those vectors.
//
// Every view handed out (frame payload, names, string/binary values) points into the input
// span given to the call, so it stays valid as long as those input bytes do: for a stream, until
// the caller drops the consumed bytes or feeds a buffer that moved.
//
// All malformed-input errors carry status::invalid except a frame length over the limit
// (status::too_big). Offsets are byte offsets in the span given to the call, plus the
// `base_offset` argument of the payload readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "spop/types.h"
#include "spop/varint.h"

namespace spop {

// The tri-state of STYLE §4.
struct decode_result {
  enum class kind : std::uint8_t {
    need_more,  // no complete frame at the front of the input; nothing consumed
    frame,      // `view` is one whole frame; `consumed` = 4 + FRAME-LEN
    error,      // `err` says why; the stream cannot be resynchronised
  };
  kind what = kind::need_more;
  std::size_t consumed = 0;
  spop::frame view;
  spop::error err;
};

// Stateless: decodes the frame at the front of `in` (4-byte big-endian FRAME-LEN, then
// TYPE:u8 FLAGS:u32be STREAM-ID:varint FRAME-ID:varint PAYLOAD).
//  - FRAME-LEN > max_frame_size -> error too_big at offset 0, decided from the first 4 bytes
//    alone (so HTTP bytes sent to the port fail at once and nothing near the claimed size is
//    ever buffered by a caller that stops on errors).
//  - FRAME-LEN < min_frame_size (7) -> error invalid at offset 0.
//  - fewer than 4 + FRAME-LEN bytes -> need_more.
//  - a stream-id/frame-id varint that is over-long or runs past FRAME-LEN -> error invalid.
// The type byte is not validated: `view.raw_type` always holds it and `view.type` is its
// frame_type cast (compare raw_type for unknown types).
decode_result decode_frame(std::span<const std::byte> in, std::uint32_t max_frame_size) noexcept;

// decode_frame() with a limit and a sticky error: once it has returned an error it returns the
// same error (same offset) until reset().
class frame_decoder {
 public:
  explicit frame_decoder(std::uint32_t max_frame_size) noexcept : max_(max_frame_size) {}

  // See decode_frame(). At most one frame per call; need_more consumes nothing.
  decode_result feed(std::span<const std::byte> in) noexcept;

  // The limit applies to the next feed() (used once HELLO has negotiated a size).
  void set_max_frame_size(std::uint32_t n) noexcept { max_ = n; }
  std::uint32_t max_frame_size() const noexcept { return max_; }

  bool failed() const noexcept { return failed_; }
  void reset() noexcept { failed_ = false; }

 private:
  std::uint32_t max_;
  bool failed_ = false;
  spop::error err_;
};

// A cursor over one payload. Each read_* returns false on malformed or truncated input and
// then stays failed (err() tells why); views point into the payload.
class payload_reader {
 public:
  explicit payload_reader(std::span<const std::byte> payload, std::size_t base_offset = 0) noexcept
      : data_(payload), base_(base_offset) {}

  bool at_end() const noexcept { return pos_ == data_.size(); }
  bool failed() const noexcept { return failed_; }
  const spop::error& err() const noexcept { return err_; }
  // base_offset + bytes read so far.
  std::size_t offset() const noexcept { return base_ + pos_; }

  // The small readers are inline: a NOTIFY makes a few dozen of these calls per message.
  bool read_u8(std::uint8_t& out) noexcept {
    if (failed_) return false;
    if (pos_ >= data_.size()) return fail("truncated payload", pos_);
    out = static_cast<std::uint8_t>(data_[pos_++]);
    return true;
  }
  bool read_varint(std::uint64_t& out) noexcept {
    if (failed_) return false;
    const varint_result v = decode_varint(data_.subspan(pos_));
    if (v.status != varint_status::ok) return fail_varint(v.status);
    out = v.value;
    pos_ += v.size;
    return true;
  }
  // NAME / STRING body: varint length + that many bytes (no type byte).
  bool read_name(std::string_view& out) noexcept {
    const std::size_t start = pos_;
    std::uint64_t n = 0;
    if (!read_varint(n)) return false;
    if (n > data_.size() - pos_) return fail("string length exceeds payload", start);
    // The only place bytes become chars: a view, no copy.
    out = {reinterpret_cast<const char*>(data_.data() + pos_), static_cast<std::size_t>(n)};
    pos_ += static_cast<std::size_t>(n);
    return true;
  }
  // TYPED-DATA (SPOE.txt 3.1). Types 10-15 are reserved and fail (their length is unknown).
  // Integers: int32 -> i64 sign-extended from the low 32 bits, u64 = raw varint; int64 -> i64
  // = raw cast; uint32/uint64 -> u64 = raw, i64 = raw cast. The flag nibble is ignored except
  // for BOOL (bit 0x10 = true).
  bool read_value(spop::value& out) noexcept;
  // NAME then TYPED-DATA.
  bool read_kv(spop::kv& out) noexcept { return read_name(out.name) && read_value(out.value); }

 private:
  bool fail(std::string_view reason, std::size_t at) noexcept;
  bool fail_varint(varint_status s) noexcept;

  std::span<const std::byte> data_;
  std::size_t base_;
  std::size_t pos_ = 0;
  bool failed_ = false;
  spop::error err_;
};

// KV-LIST (HELLO and DISCONNECT payloads): clears `out`, then appends every item in wire order.
// Returns the first error, if any (`out` then holds the items read before it).
std::optional<spop::error> decode_kv_list(std::span<const std::byte> payload,
                                          std::vector<spop::kv>& out, std::size_t base_offset = 0);

// LIST-OF-MESSAGES (NOTIFY payload): clears both vectors; every message's `args` is a span into
// `args`, so `args` must not be modified while `messages` is in use. Returns the first error.
std::optional<spop::error> decode_messages(std::span<const std::byte> payload,
                                           std::vector<spop::message>& messages,
                                           std::vector<spop::kv>& args,
                                           std::size_t base_offset = 0);

// LIST-OF-ACTIONS (ACK payload): clears `out`, then appends each action. set-var must have
// NB-ARGS 3 and unset-var NB-ARGS 2; unknown action types and scopes > 4 are errors (the list
// cannot be skipped past them). Returns the first error.
std::optional<spop::error> decode_actions(std::span<const std::byte> payload,
                                          std::vector<spop::action>& out,
                                          std::size_t base_offset = 0);

}  // namespace spop
