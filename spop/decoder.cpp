// SPDX-License-Identifier: Apache-2.0
#include "spop/decoder.h"

#include <cstring>

namespace spop {

namespace {

constexpr std::uint32_t load_be32(const std::byte* p) noexcept {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

decode_result frame_error(status code, std::string_view reason, std::size_t offset) noexcept {
  decode_result r;
  r.what = decode_result::kind::error;
  r.err = {code, reason, offset};
  return r;
}

// Header varints live inside a frame of known length, so "truncated" is malformed there.
std::string_view varint_reason(varint_status s) noexcept {
  return s == varint_status::overlong ? "over-long varint" : "truncated varint";
}

}  // namespace

decode_result decode_frame(std::span<const std::byte> in, std::uint32_t max_frame_size) noexcept {
  if (in.size() < 4) return {};
  const std::uint32_t len = load_be32(in.data());
  // Checked before waiting for the body: a peer speaking another protocol (HTTP) fails here.
  if (len > max_frame_size)
    return frame_error(status::too_big, "frame length exceeds max-frame-size", 0);
  if (len < min_frame_size) return frame_error(status::invalid, "frame length below minimum", 0);
  if (in.size() - 4 < len) return {};

  const std::span<const std::byte> body = in.subspan(4, len);
  decode_result r;
  r.what = decode_result::kind::frame;
  r.consumed = 4 + static_cast<std::size_t>(len);
  r.view.raw_type = static_cast<std::uint8_t>(body[0]);
  r.view.type = static_cast<frame_type>(r.view.raw_type);
  r.view.flags = load_be32(body.data() + 1);
  std::size_t pos = 5;
  const varint_result sid = decode_varint(body.subspan(pos));
  if (sid.status != varint_status::ok)
    return frame_error(status::invalid, varint_reason(sid.status), 4 + pos);
  pos += sid.size;
  const varint_result fid = decode_varint(body.subspan(pos));
  if (fid.status != varint_status::ok)
    return frame_error(status::invalid, varint_reason(fid.status), 4 + pos);
  pos += fid.size;
  r.view.stream_id = sid.value;
  r.view.frame_id = fid.value;
  r.view.payload = body.subspan(pos);
  return r;
}

decode_result frame_decoder::feed(std::span<const std::byte> in) noexcept {
  if (failed_) {
    decode_result r;
    r.what = decode_result::kind::error;
    r.err = err_;
    return r;
  }
  decode_result r = decode_frame(in, max_);
  if (r.what == decode_result::kind::error) {
    failed_ = true;
    err_ = r.err;
  }
  return r;
}

bool payload_reader::fail(std::string_view reason, std::size_t at) noexcept {
  if (!failed_) {
    failed_ = true;
    err_ = {status::invalid, reason, base_ + at};
  }
  return false;
}

bool payload_reader::fail_varint(varint_status s) noexcept {
  return fail(varint_reason(s), pos_);
}

bool payload_reader::read_value(spop::value& out) noexcept {
  const std::size_t start = pos_;
  std::uint8_t tb = 0;
  if (!read_u8(tb)) return false;
  // PROTOCOL.md §3: the type is the low nibble and the flags the high one, whatever the
  // picture in SPOE.txt suggests.
  const auto t = static_cast<std::uint8_t>(tb & 0x0F);
  out = spop::value{};
  switch (t) {
    case 0:
      out.type = data_type::null;
      return true;
    case 1:
      out.type = data_type::boolean;
      out.boolean = (tb & 0x10) != 0;
      return true;
    case 2:
    case 3:
    case 4:
    case 5: {
      std::uint64_t raw = 0;
      if (!read_varint(raw)) return false;
      out.type = static_cast<data_type>(t);
      out.u64 = raw;
      out.i64 = t == 2 ? static_cast<std::int64_t>(static_cast<std::int32_t>(raw))
                       : static_cast<std::int64_t>(raw);
      return true;
    }
    case 6:
    case 7: {
      const std::size_t n = t == 6 ? 4 : 16;
      if (data_.size() - pos_ < n) return fail("truncated address", start);
      out.type = static_cast<data_type>(t);
      std::memcpy(out.addr.data(), data_.data() + pos_, n);
      pos_ += n;
      return true;
    }
    case 8:
    case 9: {
      std::string_view s;
      if (!read_name(s)) return false;
      out.type = static_cast<data_type>(t);
      out.bytes = s;
      return true;
    }
    default:
      return fail("reserved data type", start);
  }
}

std::optional<spop::error> decode_kv_list(std::span<const std::byte> payload,
                                          std::vector<spop::kv>& out, std::size_t base_offset) {
  out.clear();
  payload_reader r(payload, base_offset);
  while (!r.at_end()) {
    spop::kv item;
    if (!r.read_kv(item)) return r.err();
    out.push_back(item);
  }
  return std::nullopt;
}

std::optional<spop::error> decode_messages(std::span<const std::byte> payload,
                                           std::vector<spop::message>& messages,
                                           std::vector<spop::kv>& args, std::size_t base_offset) {
  messages.clear();
  args.clear();
  payload_reader r(payload, base_offset);
  while (!r.at_end()) {
    spop::message m;
    std::uint8_t nb = 0;
    if (!r.read_name(m.name) || !r.read_u8(nb)) return r.err();
    for (std::uint8_t i = 0; i < nb; ++i) {
      spop::kv item;
      if (!r.read_kv(item)) return r.err();
      args.push_back(item);
    }
    // `args` may still reallocate, so only the count is meaningful for now; the spans are
    // bound below once the vector has stopped moving.
    m.args = std::span<const spop::kv>(args.data(), nb);
    messages.push_back(m);
  }
  std::size_t start = 0;
  for (spop::message& m : messages) {
    m.args = std::span<const spop::kv>(args.data() + start, m.args.size());
    start += m.args.size();
  }
  return std::nullopt;
}

std::optional<spop::error> decode_actions(std::span<const std::byte> payload,
                                          std::vector<spop::action>& out, std::size_t base_offset) {
  out.clear();
  payload_reader r(payload, base_offset);
  while (!r.at_end()) {
    const std::size_t start = r.offset();
    std::uint8_t type = 0;
    std::uint8_t nb = 0;
    std::uint8_t scope = 0;
    if (!r.read_u8(type) || !r.read_u8(nb)) return r.err();
    spop::action a;
    // SPOE.txt 3.4: set-var = scope, name, value; unset-var = scope, name. Anything else has
    // an unknown layout, so the rest of the list cannot be read.
    if (type == static_cast<std::uint8_t>(action_type::set_var)) {
      if (nb != 3) return spop::error{status::invalid, "set-var needs 3 arguments", start};
    } else if (type == static_cast<std::uint8_t>(action_type::unset_var)) {
      if (nb != 2) return spop::error{status::invalid, "unset-var needs 2 arguments", start};
    } else {
      return spop::error{status::invalid, "unknown action type", start};
    }
    a.type = static_cast<action_type>(type);
    const std::size_t scope_at = r.offset();
    if (!r.read_u8(scope)) return r.err();
    if (scope > static_cast<std::uint8_t>(var_scope::res)) {
      return spop::error{status::invalid, "unknown variable scope", scope_at};
    }
    a.scope = static_cast<var_scope>(scope);
    if (!r.read_name(a.name)) return r.err();
    if (a.type == action_type::set_var && !r.read_value(a.value)) return r.err();
    out.push_back(a);
  }
  return std::nullopt;
}

}  // namespace spop
