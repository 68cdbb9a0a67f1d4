// SPDX-License-Identifier: Apache-2.0
#include "spop/encoder.h"

#include <cassert>
#include <limits>

namespace spop {

namespace {

void put_be32(std::byte* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::byte>(v >> 24);
  p[1] = static_cast<std::byte>((v >> 16) & 0xFF);
  p[2] = static_cast<std::byte>((v >> 8) & 0xFF);
  p[3] = static_cast<std::byte>(v & 0xFF);
}

std::size_t encode_disconnect(std::vector<std::byte>& out, frame_type t, status code,
                              std::string_view message) {
  const std::size_t start = begin_frame(out, static_cast<std::uint8_t>(t), flag_fin, 0, 0);
  encode_kv(out, "status-code", make_uint32(static_cast<std::uint32_t>(code)));
  encode_kv(out, "message", make_string(message));
  return end_frame(out, start);
}

}  // namespace

value make_null() noexcept { return value{}; }

value make_bool(bool b) noexcept {
  value v;
  v.type = data_type::boolean;
  v.boolean = b;
  return v;
}

value make_int32(std::int32_t i) noexcept {
  value v;
  v.type = data_type::int32;
  v.i64 = i;
  v.u64 = static_cast<std::uint64_t>(v.i64);
  return v;
}

value make_uint32(std::uint32_t u) noexcept {
  value v;
  v.type = data_type::uint32;
  v.u64 = u;
  v.i64 = u;
  return v;
}

value make_int64(std::int64_t i) noexcept {
  value v;
  v.type = data_type::int64;
  v.i64 = i;
  v.u64 = static_cast<std::uint64_t>(i);
  return v;
}

value make_uint64(std::uint64_t u) noexcept {
  value v;
  v.type = data_type::uint64;
  v.u64 = u;
  v.i64 = static_cast<std::int64_t>(u);
  return v;
}

value make_ipv4(std::array<std::uint8_t, 4> a) noexcept {
  value v;
  v.type = data_type::ipv4;
  for (std::size_t i = 0; i < a.size(); ++i) v.addr[i] = a[i];
  return v;
}

value make_ipv6(std::array<std::uint8_t, 16> a) noexcept {
  value v;
  v.type = data_type::ipv6;
  v.addr = a;
  return v;
}

value make_string(std::string_view s) noexcept {
  value v;
  v.type = data_type::string;
  v.bytes = s;
  return v;
}

value make_binary(std::string_view s) noexcept {
  value v;
  v.type = data_type::binary;
  v.bytes = s;
  return v;
}

std::size_t encode_name(std::vector<std::byte>& out, std::string_view name) {
  const std::size_t n = encode_varint(name.size(), out);
  const auto* p = reinterpret_cast<const std::byte*>(name.data());
  out.insert(out.end(), p, p + name.size());
  return n + name.size();
}

std::size_t encode_value(std::vector<std::byte>& out, const value& v) {
  const auto t = static_cast<std::uint8_t>(v.type);
  switch (v.type) {
    case data_type::null:
      out.push_back(std::byte{0x00});
      return 1;
    case data_type::boolean:
      out.push_back(static_cast<std::byte>(v.boolean ? 0x11 : 0x01));
      return 1;
    case data_type::int32:
    case data_type::int64:
      out.push_back(static_cast<std::byte>(t));
      return 1 + encode_varint(static_cast<std::uint64_t>(v.i64), out);
    case data_type::uint32:
    case data_type::uint64:
      out.push_back(static_cast<std::byte>(t));
      return 1 + encode_varint(v.u64, out);
    case data_type::ipv4:
    case data_type::ipv6: {
      const std::size_t n = v.type == data_type::ipv4 ? 4 : 16;
      out.push_back(static_cast<std::byte>(t));
      const auto* p = reinterpret_cast<const std::byte*>(v.addr.data());
      out.insert(out.end(), p, p + n);
      return 1 + n;
    }
    case data_type::string:
    case data_type::binary:
      out.push_back(static_cast<std::byte>(t));
      return 1 + encode_name(out, v.bytes);
  }
  assert(false && "value with an invalid data_type");
  return 0;
}

std::size_t encode_kv(std::vector<std::byte>& out, std::string_view name, const value& v) {
  const std::size_t n = encode_name(out, name);
  return n + encode_value(out, v);
}

std::size_t encode_messages(std::vector<std::byte>& out, std::span<const message> messages) {
  const std::size_t before = out.size();
  for (const message& m : messages) {
    assert(m.args.size() <= 255);
    encode_name(out, m.name);
    out.push_back(static_cast<std::byte>(m.args.size()));
    for (const kv& a : m.args) encode_kv(out, a.name, a.value);
  }
  return out.size() - before;
}

std::size_t encode_actions(std::vector<std::byte>& out, std::span<const action> actions) {
  const std::size_t before = out.size();
  for (const action& a : actions) {
    const bool set = a.type == action_type::set_var;
    out.push_back(static_cast<std::byte>(a.type));
    out.push_back(static_cast<std::byte>(set ? 3 : 2));
    out.push_back(static_cast<std::byte>(a.scope));
    encode_name(out, a.name);
    if (set) encode_value(out, a.value);
  }
  return out.size() - before;
}

std::size_t begin_frame(std::vector<std::byte>& out, std::uint8_t type, std::uint32_t flags,
                        std::uint64_t stream_id, std::uint64_t frame_id) {
  const std::size_t start = out.size();
  std::byte hdr[4 + 1 + 4 + 2 * max_varint_bytes];
  std::size_t n = 4;  // FRAME-LEN, patched by end_frame()
  put_be32(hdr, 0);
  hdr[n++] = static_cast<std::byte>(type);
  put_be32(hdr + n, flags);
  n += 4;
  n += encode_varint(stream_id, hdr + n);
  n += encode_varint(frame_id, hdr + n);
  out.insert(out.end(), hdr, hdr + n);
  return start;
}

std::size_t end_frame(std::vector<std::byte>& out, std::size_t record_start) noexcept {
  const std::size_t len = out.size() - record_start - 4;
  assert(len <= std::numeric_limits<std::uint32_t>::max());
  put_be32(out.data() + record_start, static_cast<std::uint32_t>(len));
  return len + 4;
}

std::size_t encode_frame(std::vector<std::byte>& out, std::uint8_t type, std::uint32_t flags,
                         std::uint64_t stream_id, std::uint64_t frame_id,
                         std::span<const std::byte> payload) {
  const std::size_t start = begin_frame(out, type, flags, stream_id, frame_id);
  out.insert(out.end(), payload.begin(), payload.end());
  return end_frame(out, start);
}

std::size_t encode_agent_hello(std::vector<std::byte>& out, const agent_hello_params& p) {
  const std::size_t start =
      begin_frame(out, static_cast<std::uint8_t>(frame_type::agent_hello), flag_fin, 0, 0);
  encode_kv(out, "version", make_string(p.version));
  encode_kv(out, "max-frame-size", make_uint32(p.max_frame_size));
  encode_kv(out, "capabilities", make_string(p.capabilities));
  return end_frame(out, start);
}

std::size_t encode_ack(std::vector<std::byte>& out, std::uint64_t stream_id, std::uint64_t frame_id,
                       std::span<const action> actions, std::uint32_t flags) {
  const std::size_t start =
      begin_frame(out, static_cast<std::uint8_t>(frame_type::ack), flags, stream_id, frame_id);
  encode_actions(out, actions);
  return end_frame(out, start);
}

std::size_t encode_agent_disconnect(std::vector<std::byte>& out, status code,
                                    std::string_view message) {
  return encode_disconnect(out, frame_type::agent_disconnect, code, message);
}

std::size_t encode_haproxy_disconnect(std::vector<std::byte>& out, status code,
                                      std::string_view message) {
  return encode_disconnect(out, frame_type::haproxy_disconnect, code, message);
}

std::size_t encode_haproxy_hello(std::vector<std::byte>& out, const haproxy_hello_params& p) {
  const std::size_t start =
      begin_frame(out, static_cast<std::uint8_t>(frame_type::haproxy_hello), flag_fin, 0, 0);
  encode_kv(out, "supported-versions", make_string(p.supported_versions));
  encode_kv(out, "max-frame-size", make_uint32(p.max_frame_size));
  encode_kv(out, "capabilities", make_string(p.capabilities));
  if (!p.engine_id.empty()) encode_kv(out, "engine-id", make_string(p.engine_id));
  if (p.healthcheck) encode_kv(out, "healthcheck", make_bool(true));
  return end_frame(out, start);
}

std::size_t encode_notify(std::vector<std::byte>& out, std::uint64_t stream_id,
                          std::uint64_t frame_id, std::span<const message> messages,
                          std::uint32_t flags) {
  const std::size_t start =
      begin_frame(out, static_cast<std::uint8_t>(frame_type::notify), flags, stream_id, frame_id);
  encode_messages(out, messages);
  return end_frame(out, start);
}

}  // namespace spop
