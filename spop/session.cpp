// SPDX-License-Identifier: Apache-2.0
#include "spop/session.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <limits>

#include "spop/decoder.h"
#include "spop/encoder.h"

namespace spop {

namespace {

// Offset of the stream-id in a record: length (4) + type (1) + flags (4).
constexpr std::size_t sid_offset = 9;

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(item) for each trimmed item of a comma-separated list.
template <typename F>
void for_each_item(std::string_view list, F&& f) {
  while (true) {
    const std::size_t comma = list.find(',');
    f(trim(list.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// SPOE.txt 3.2.4: "supported-versions" lists "Major.Minor" items; announcing a major implies
// its lower minors, so any well-formed 2.x includes the 2.0 we speak.
bool offers_v2(std::string_view list) {
  bool ok = false;
  for_each_item(list, [&](std::string_view item) {
    const std::size_t dot = item.find('.');
    if (dot == std::string_view::npos) return;
    const std::string_view major = item.substr(0, dot);
    if (all_digits(major) && all_digits(item.substr(dot + 1)) && trim(major) == "2") ok = true;
  });
  return ok;
}

}  // namespace

struct session::impl {
  enum class phase : std::uint8_t { connecting, processing, closing };
  enum class frag : std::uint8_t { idle, collecting, dropping };

  explicit impl(session_config c) : cfg(c), dec(std::max(c.max_frame_size, min_max_frame_size)) {}

  session_config cfg;
  frame_decoder dec;
  phase ph = phase::connecting;
  bool hello_done = false;
  bool failed = false;
  bool disconnect_sent = false;
  bool frag_announced = false;
  spop::error err;

  // Scratch reused by every frame, so steady state does not allocate.
  std::vector<kv> kvs;
  std::vector<kv> args;
  std::vector<message> msgs;

  // One fragmented NOTIFY at a time: 2.6 sends all fragments of a frame back to back.
  frag fs = frag::idle;
  std::uint64_t frag_sid = 0;
  std::uint64_t frag_fid = 0;
  std::vector<std::byte> reasm;

  // The capabilities we announced ("pipelining,async,fragmentation" at most).
  std::array<char, 40> caps{};
  std::size_t caps_len = 0;

  result fail(const spop::error& e, std::vector<std::byte>& out);
  result on_hello(const frame& f, std::size_t payload_off, std::vector<std::byte>& out);
  result on_notify(const frame& f, std::size_t payload_off, std::vector<std::byte>& out);
  result on_unset(const frame& f, std::vector<std::byte>& out);
  result on_disconnect(const frame& f, std::size_t payload_off, std::vector<std::byte>& out);
  result deliver(std::uint64_t sid, std::uint64_t fid, std::span<const std::byte> payload,
                 std::size_t payload_off, std::vector<std::byte>& out);
  void add_cap(std::string_view name);
};

void session::impl::add_cap(std::string_view name) {
  if (caps_len != 0) caps[caps_len++] = ',';
  assert(caps_len + name.size() <= caps.size());
  std::copy(name.begin(), name.end(), caps.begin() + static_cast<std::ptrdiff_t>(caps_len));
  caps_len += name.size();
}

session::result session::impl::fail(const spop::error& e, std::vector<std::byte>& out) {
  failed = true;
  err = e;
  ph = phase::closing;
  if (!disconnect_sent) {
    // The precise reason helps whoever reads HAProxy's debug output more than the generic text.
    encode_agent_disconnect(out, e.code, e.reason);
    disconnect_sent = true;
  }
  result r;
  r.what = kind::error;
  r.err = e;
  return r;
}

session::result session::impl::on_hello(const frame& f, std::size_t payload_off,
                                        std::vector<std::byte>& out) {
  if (f.stream_id != 0 || f.frame_id != 0) {
    return fail({status::invalid, "HELLO with non-zero stream-id or frame-id", sid_offset}, out);
  }
  // flt_spoe.c refuses fragmented HELLO frames with "fragmentation not supported".
  if (!f.fin()) return fail({status::fragmentation_not_supported, "HELLO without FIN", 5}, out);
  if (auto e = decode_kv_list(f.payload, kvs, payload_off)) return fail(*e, out);

  bool have_versions = false;
  bool v2 = false;
  bool have_size = false;
  bool size_ok = false;
  std::uint64_t offer = 0;
  bool pipelining = false;
  bool async = false;
  hello_info info;
  for (const kv& item : kvs) {
    if (item.name == "supported-versions") {
      have_versions = true;
      v2 = item.value.type == data_type::string && offers_v2(item.value.bytes);
    } else if (item.name == "max-frame-size") {
      // PROTOCOL.md §3: accept any integer type; a negative signed value is out of range.
      if (!item.value.is_integer()) continue;
      have_size = true;
      const bool is_signed =
          item.value.type == data_type::int32 || item.value.type == data_type::int64;
      size_ok = !(is_signed && item.value.i64 < 0);
      offer = is_signed ? static_cast<std::uint64_t>(item.value.i64) : item.value.u64;
      size_ok = size_ok && offer >= min_max_frame_size;
    } else if (item.name == "capabilities") {
      if (item.value.type != data_type::string) continue;
      for_each_item(item.value.bytes, [&](std::string_view c) {
        if (c == "pipelining") pipelining = true;
        if (c == "async") async = true;
      });
    } else if (item.name == "engine-id") {
      if (item.value.type == data_type::string) info.engine_id = item.value.bytes;
    } else if (item.name == "healthcheck") {
      info.healthcheck = item.value.type == data_type::boolean && item.value.boolean;
    }
  }
  if (!have_versions)
    return fail({status::no_version, "HELLO lacks supported-versions", payload_off}, out);
  if (!v2) return fail({status::bad_version, "HELLO does not offer version 2.x", payload_off}, out);
  if (!have_size)
    return fail({status::no_max_frame_size, "HELLO lacks max-frame-size", payload_off}, out);
  if (!size_ok)
    return fail({status::bad_max_frame_size, "HELLO max-frame-size below 256", payload_off}, out);

  const std::uint32_t negotiated =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(offer, dec.max_frame_size()));
  caps_len = 0;
  if (pipelining) add_cap("pipelining");
  if (async) add_cap("async");
  // "fragmentation" means we can receive fragments; HAProxy 2.6 never offers it itself.
  frag_announced = cfg.fragmentation;
  if (frag_announced) add_cap("fragmentation");

  info.max_frame_size = negotiated;
  info.capabilities = std::string_view(caps.data(), caps_len);
  encode_agent_hello(out, {"2.0", negotiated, info.capabilities});
  dec.set_max_frame_size(negotiated);
  hello_done = true;
  ph = info.healthcheck ? phase::closing : phase::processing;

  result r;
  r.what = kind::hello;
  r.hello = info;
  return r;
}

session::result session::impl::deliver(std::uint64_t sid, std::uint64_t fid,
                                       std::span<const std::byte> payload, std::size_t payload_off,
                                       std::vector<std::byte>& out) {
  if (auto e = decode_messages(payload, msgs, args, payload_off)) return fail(*e, out);
  encode_ack(out, sid, fid);
  result r;
  r.what = kind::notify;
  r.notify = {sid, fid, std::span<const message>(msgs)};
  return r;
}

session::result session::impl::on_notify(const frame& f, std::size_t payload_off,
                                         std::vector<std::byte>& out) {
  if (fs != frag::idle) {
    return fail(
        {status::interlaced_frames, "NOTIFY while a fragmented frame is pending", sid_offset}, out);
  }
  result r;
  r.what = kind::fragment;
  // An aborted frame has nothing to answer.
  if (f.abort()) return r;
  if (!f.fin()) {
    if (!frag_announced) {
      return fail({status::fragmentation_not_supported,
                   "fragmented NOTIFY but fragmentation was not announced", 5},
                  out);
    }
    if (f.payload.size() > cfg.max_reassembly_bytes) {
      return fail({status::too_big, "reassembled frame exceeds the reassembly limit", payload_off},
                  out);
    }
    fs = frag::collecting;
    frag_sid = f.stream_id;
    frag_fid = f.frame_id;
    reasm.assign(f.payload.begin(), f.payload.end());
    return r;
  }
  return deliver(f.stream_id, f.frame_id, f.payload, payload_off, out);
}

session::result session::impl::on_unset(const frame& f, std::vector<std::byte>& out) {
  if (!frag_announced) {
    return fail({status::fragmentation_not_supported,
                 "fragment received but fragmentation was not announced", 4},
                out);
  }
  if (fs == frag::idle) {
    return fail({status::interlaced_frames, "fragment without a pending fragmented frame", 4}, out);
  }
  if (f.stream_id != frag_sid || f.frame_id != frag_fid) {
    return fail({status::interlaced_frames, "fragment of another frame", sid_offset}, out);
  }
  result r;
  r.what = kind::fragment;
  // PROTOCOL.md §9: HAProxy keeps sending the fragments of a frame we aborted; drop them.
  if (fs == frag::dropping) {
    if (f.fin() || f.abort()) fs = frag::idle;
    return r;
  }
  if (f.abort()) {
    fs = frag::idle;
    reasm.clear();
    return r;
  }
  if (f.payload.size() > cfg.max_reassembly_bytes - reasm.size()) {
    return fail({status::too_big, "reassembled frame exceeds the reassembly limit", 4}, out);
  }
  reasm.insert(reasm.end(), f.payload.begin(), f.payload.end());
  if (!f.fin()) return r;
  fs = frag::idle;
  // Error offsets of a reassembled payload are relative to its first byte.
  return deliver(frag_sid, frag_fid, reasm, 0, out);
}

session::result session::impl::on_disconnect(const frame& f, std::size_t payload_off,
                                             std::vector<std::byte>& out) {
  if (f.stream_id != 0 || f.frame_id != 0) {
    return fail({status::invalid, "DISCONNECT with non-zero stream-id or frame-id", sid_offset},
                out);
  }
  if (!f.fin())
    return fail({status::fragmentation_not_supported, "DISCONNECT without FIN", 5}, out);
  if (auto e = decode_kv_list(f.payload, kvs, payload_off)) return fail(*e, out);
  result r;
  r.what = kind::disconnect;
  for (const kv& item : kvs) {
    if (item.name == "status-code" && item.value.is_integer()) {
      r.disconnect.status = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(item.value.u64, std::numeric_limits<std::uint32_t>::max()));
    } else if (item.name == "message" && item.value.type == data_type::string) {
      r.disconnect.message = item.value.bytes;
    }
  }
  // SPOE.txt 3.2.8: answer with our own DISCONNECT, then close.
  encode_agent_disconnect(out, status::normal, status_message(status::normal));
  disconnect_sent = true;
  ph = phase::closing;
  return r;
}

session::session(session_config cfg) : impl_(std::make_unique<impl>(cfg)) {}
session::~session() = default;
session::session(session&&) noexcept = default;
session& session::operator=(session&&) noexcept = default;

session::result session::feed(std::span<const std::byte> in, std::vector<std::byte>& out) {
  impl& s = *impl_;
  result r;
  if (s.failed) {
    r.what = kind::error;
    r.err = s.err;
    return r;
  }
  if (s.ph == impl::phase::closing) return r;

  const decode_result d = s.dec.feed(in);
  if (d.what == decode_result::kind::need_more) return r;
  if (d.what == decode_result::kind::error) return s.fail(d.err, out);

  const frame& f = d.view;
  const std::size_t payload_off = d.consumed - f.payload.size();
  const bool connecting = s.ph == impl::phase::connecting;
  switch (f.raw_type) {
    case static_cast<std::uint8_t>(frame_type::haproxy_hello):
      r = connecting ? s.on_hello(f, payload_off, out)
                     : s.fail({status::invalid, "HELLO received twice", 4}, out);
      break;
    case static_cast<std::uint8_t>(frame_type::notify):
      r = connecting ? s.fail({status::invalid, "NOTIFY before HELLO", 4}, out)
                     : s.on_notify(f, payload_off, out);
      break;
    case static_cast<std::uint8_t>(frame_type::unset):
      r = connecting ? s.fail({status::invalid, "fragment before HELLO", 4}, out)
                     : s.on_unset(f, out);
      break;
    case static_cast<std::uint8_t>(frame_type::haproxy_disconnect):
      r = s.on_disconnect(f, payload_off, out);
      break;
    case static_cast<std::uint8_t>(frame_type::agent_hello):
    case static_cast<std::uint8_t>(frame_type::agent_disconnect):
    case static_cast<std::uint8_t>(frame_type::ack):
      r = s.fail({status::invalid, "agent frame type received from HAProxy", 4}, out);
      break;
    default:
      // SPOE.txt 3.2: unknown frames may be ignored, but not in place of the HELLO.
      r = connecting ? s.fail({status::invalid, "unknown frame type before HELLO", 4}, out)
                     : result{};
      if (!connecting) r.what = kind::skipped;
      break;
  }
  if (r.what != kind::error) r.consumed = d.consumed;
  return r;
}

bool session::closing() const { return impl_->ph == impl::phase::closing; }

bool session::ready() const { return impl_->hello_done; }

std::uint32_t session::max_frame_size() const { return impl_->dec.max_frame_size(); }

void session::disconnect(std::vector<std::byte>& out, status s) {
  impl& st = *impl_;
  if (!st.disconnect_sent) {
    encode_agent_disconnect(out, s, status_message(s));
    st.disconnect_sent = true;
  }
  st.ph = impl::phase::closing;
}

bool session::abort_fragmented(std::vector<std::byte>& out) {
  impl& st = *impl_;
  if (st.fs != impl::frag::collecting || st.ph != impl::phase::processing) return false;
  encode_ack(out, st.frag_sid, st.frag_fid, {}, flag_fin | flag_abort);
  st.fs = impl::frag::dropping;
  st.reasm.clear();
  return true;
}

}  // namespace spop
