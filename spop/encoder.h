// SPDX-License-Identifier: Apache-2.0
//
// SPOP 2.0 encoding, sans-I/O: every function appends to a caller's std::vector<std::byte> and
// returns the number of bytes it appended. Nothing is allocated besides the growth of `out`
// (none once its capacity suffices); the only exception is std::bad_alloc from that growth.
//
// Agent frames (AGENT-HELLO, ACK, AGENT-DISCONNECT) are what the session sends. HAProxy frames
// (HAPROXY-HELLO, NOTIFY, HAPROXY-DISCONNECT) exist for tests and the load generator.
// The encoder does not enforce a max-frame-size: callers that must respect one compare the
// returned size (which includes the 4-byte length prefix) with it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "spop/types.h"
#include "spop/varint.h"

namespace spop {

// ---- Typed values -------------------------------------------------------------------------

value make_null() noexcept;
value make_bool(bool b) noexcept;
value make_int32(std::int32_t v) noexcept;
value make_uint32(std::uint32_t v) noexcept;
value make_int64(std::int64_t v) noexcept;
value make_uint64(std::uint64_t v) noexcept;
value make_ipv4(std::array<std::uint8_t, 4> a) noexcept;  // network order
value make_ipv6(std::array<std::uint8_t, 16> a) noexcept;
value make_string(std::string_view s) noexcept;  // the view is kept, not copied
value make_binary(std::string_view s) noexcept;

// NAME: varint length + bytes, no type byte.
std::size_t encode_name(std::vector<std::byte>& out, std::string_view name);
// TYPED-DATA. Signed types (int32, int64) are written from `v.i64` cast to uint64 (so int32 -1
// takes 10 bytes, as HAProxy writes it), unsigned ones (uint32, uint64) from `v.u64`. BOOL is
// 0x11/0x01. Flags other than BOOL's are always 0.
std::size_t encode_value(std::vector<std::byte>& out, const value& v);
// NAME then TYPED-DATA (one KV-LIST item or one message argument).
std::size_t encode_kv(std::vector<std::byte>& out, std::string_view name, const value& v);
// LIST-OF-MESSAGES body. Each message must have at most 255 arguments (asserted).
std::size_t encode_messages(std::vector<std::byte>& out, std::span<const message> messages);
// LIST-OF-ACTIONS body: set-var = 01 03 scope name value, unset-var = 02 02 scope name.
std::size_t encode_actions(std::vector<std::byte>& out, std::span<const action> actions);

// ---- Frames -------------------------------------------------------------------------------

// Appends a placeholder FRAME-LEN and the header (type, flags, stream-id, frame-id) and returns
// the index in `out` where the record starts; append the payload, then call end_frame().
std::size_t begin_frame(std::vector<std::byte>& out, std::uint8_t type, std::uint32_t flags,
                        std::uint64_t stream_id, std::uint64_t frame_id);
// Patches FRAME-LEN of the record begun at `record_start` (the frame must be < 4 GiB, asserted);
// returns the whole record's size (4 + FRAME-LEN).
std::size_t end_frame(std::vector<std::byte>& out, std::size_t record_start) noexcept;
// A whole record with a ready-made payload (e.g. one fragment of a NOTIFY).
std::size_t encode_frame(std::vector<std::byte>& out, std::uint8_t type, std::uint32_t flags,
                         std::uint64_t stream_id, std::uint64_t frame_id,
                         std::span<const std::byte> payload);

// AGENT-HELLO (SPOE.txt 3.2.5): KV-LIST version STRING, max-frame-size UINT32, capabilities
// STRING, in that order, sid = fid = 0, FIN.
struct agent_hello_params {
  std::string_view version = "2.0";
  std::uint32_t max_frame_size = 16380;
  std::string_view capabilities = "pipelining";
};
std::size_t encode_agent_hello(std::vector<std::byte>& out, const agent_hello_params& p);

// ACK (type 103) repeating `stream_id`/`frame_id`. `flags` is FIN (or FIN|ABORT to cancel a
// fragmented NOTIFY, PROTOCOL.md §9). An empty action list gives the minimal ACK (a 7-byte frame
// for ids < 240).
std::size_t encode_ack(std::vector<std::byte>& out, std::uint64_t stream_id, std::uint64_t frame_id,
                       std::span<const action> actions = {}, std::uint32_t flags = flag_fin);

// AGENT-DISCONNECT / HAPROXY-DISCONNECT (SPOE.txt 3.2.7-8): status-code UINT32, message STRING,
// sid = fid = 0, FIN. Codes outside the enum may be passed with a cast (agents may add codes).
std::size_t encode_agent_disconnect(std::vector<std::byte>& out, status code,
                                    std::string_view message);
std::size_t encode_haproxy_disconnect(std::vector<std::byte>& out, status code,
                                      std::string_view message);

// HAPROXY-HELLO as HAProxy 2.6 writes it: supported-versions, max-frame-size (UINT32),
// capabilities, then engine-id when non-empty, then healthcheck=true when set.
struct haproxy_hello_params {
  std::string_view supported_versions = "2.0";
  std::uint32_t max_frame_size = 16380;
  std::string_view capabilities = "pipelining,async";
  std::string_view engine_id;
  bool healthcheck = false;
};
std::size_t encode_haproxy_hello(std::vector<std::byte>& out, const haproxy_hello_params& p);

// NOTIFY (type 3) carrying `messages`. Pass flags 0 and encode_frame() for the UNSET
// continuations to produce a fragmented NOTIFY by hand.
std::size_t encode_notify(std::vector<std::byte>& out, std::uint64_t stream_id,
                          std::uint64_t frame_id, std::span<const message> messages,
                          std::uint32_t flags = flag_fin);

}  // namespace spop
