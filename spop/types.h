// SPDX-License-Identifier: Apache-2.0
//
// SPOP 2.0 wire constants and the plain views the decoder hands out (doc/SPOE.txt, and
// ../shared/spop/PROTOCOL.md for what HAProxy really does). std headers only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace spop {

// SPOE.txt 3.2.1: FIN and ABORT are the only defined flag bits; the rest are reserved.
inline constexpr std::uint32_t flag_fin = 0x00000001;
inline constexpr std::uint32_t flag_abort = 0x00000002;

// Frame header: type (1) + flags (4) + stream-id (>=1) + frame-id (>=1).
inline constexpr std::size_t min_frame_size = 7;
// SPOE.txt 3.2.5: an agent's max-frame-size must be at least 256.
inline constexpr std::uint32_t min_max_frame_size = 256;
// Longest varint HAProxy produces (a 64-bit value).
inline constexpr std::size_t max_varint_bytes = 10;

// SPOE.txt 3.2: frame types, numbered as on the wire.
enum class frame_type : std::uint8_t {
  unset = 0,  // 2.x fragment continuation
  haproxy_hello = 1,
  haproxy_disconnect = 2,
  notify = 3,
  agent_hello = 101,
  agent_disconnect = 102,
  ack = 103,
};

// SPOE.txt 3.2.8 / 3.5: DISCONNECT status codes.
enum class status : std::uint32_t {
  normal = 0,
  io_error = 1,
  timeout = 2,
  too_big = 3,
  invalid = 4,
  no_version = 5,
  no_max_frame_size = 6,
  no_capabilities = 7,
  bad_version = 8,
  bad_max_frame_size = 9,
  fragmentation_not_supported = 10,
  interlaced_frames = 11,
  frame_id_not_found = 12,
  resource_allocation = 13,
  unknown = 99,
};

// SPOE.txt 3.1: typed data, low nibble of the type byte.
enum class data_type : std::uint8_t {
  null = 0,
  boolean = 1,
  int32 = 2,
  uint32 = 3,
  int64 = 4,
  uint64 = 5,
  ipv4 = 6,
  ipv6 = 7,
  string = 8,
  binary = 9,
};

// ACK action types and variable scopes (SPOE.txt 3.4).
enum class action_type : std::uint8_t { set_var = 1, unset_var = 2 };
enum class var_scope : std::uint8_t { proc = 0, sess = 1, txn = 2, req = 3, res = 4 };

std::string_view to_string(frame_type t);
std::string_view to_string(status s);  // "normal", "too_big", ...
std::string_view to_string(data_type t);
// The human message HAProxy uses for a status ("frame is too big").
std::string_view status_message(status s);

// One decoded typed value. Views point into the decoder's input; see the function that
// returned it for how long they stay valid.
struct value {
  data_type type = data_type::null;
  bool boolean = false;
  std::int64_t i64 = 0;                 // int32/int64 (sign-extended) and also uint32/uint64 cast
  std::uint64_t u64 = 0;                // uint32/uint64, and the raw varint of int32/int64
  std::array<std::uint8_t, 16> addr{};  // ipv4 in addr[0..3], ipv6 in all 16, network order
  std::string_view bytes;               // string and binary

  bool is_integer() const {
    return type == data_type::int32 || type == data_type::uint32 || type == data_type::int64 ||
           type == data_type::uint64;
  }
};

struct kv {
  std::string_view name;
  spop::value value;
};

// One message of a NOTIFY: its name and arguments in wire order.
struct message {
  std::string_view name;
  std::span<const kv> args;
};

// A frame header and its payload, as views into the decoder's input.
struct frame {
  frame_type type = frame_type::unset;
  std::uint8_t raw_type = 0;  // the type byte as sent (unknown types are skipped by callers)
  std::uint32_t flags = 0;
  std::uint64_t stream_id = 0;
  std::uint64_t frame_id = 0;
  std::span<const std::byte> payload;

  bool fin() const { return (flags & flag_fin) != 0; }
  bool abort() const { return (flags & flag_abort) != 0; }
};

// One action of an ACK (SPOE.txt 3.4, PROTOCOL.md §6). Addition to the original contract, shared
// by decoder.h (reading ACKs) and encoder.h (writing them). `name` is positional (no type
// byte); `value` is used by set_var only. Views follow the same lifetime rule as `value`.
struct action {
  action_type type = action_type::set_var;
  var_scope scope = var_scope::txn;
  std::string_view name;
  spop::value value;
};

struct error {
  spop::status code = status::invalid;
  std::string_view reason;  // static storage
  std::size_t offset = 0;   // byte offset in the input where the problem was found
};

}  // namespace spop
