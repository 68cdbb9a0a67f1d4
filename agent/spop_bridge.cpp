// SPDX-License-Identifier: Apache-2.0
#include "agent/spop_bridge.h"

#include <arpa/inet.h>

#include <array>
#include <span>

#include "spop/varint.h"

namespace agent {

std::string_view to_string(bridge_error e) {
  switch (e) {
    case bridge_error::none:
      return "none";
    case bridge_error::not_http:
      return "message carries neither method nor status";
    case bridge_error::missing_id:
      return "message carries no unique_id (set unique-id-format in HAProxy)";
    case bridge_error::bad_argument:
      return "argument has an unexpected type";
    case bridge_error::bad_headers:
      return "header block is malformed";
  }
  return "unknown";
}

namespace {

std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Reads one varint-length string from the front of `in`.
bool read_string(std::string_view& in, std::string_view& out) {
  auto r = spop::decode_varint(bytes_of(in));
  if (r.status != spop::varint_status::ok) return false;
  in.remove_prefix(r.size);
  if (r.value > in.size()) return false;
  out = in.substr(0, static_cast<std::size_t>(r.value));
  in.remove_prefix(out.size());
  return true;
}

bool as_int(const spop::value& v, std::int64_t& out) {
  if (!v.is_integer()) return false;
  out = v.i64;
  return true;
}

bool as_text(const spop::value& v, std::string& out) {
  if (v.type != spop::data_type::string && v.type != spop::data_type::binary) return false;
  out.assign(v.bytes);
  return true;
}

bool as_address(const spop::value& v, std::string& out) {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (v.type == spop::data_type::ipv4) {
    if (inet_ntop(AF_INET, v.addr.data(), buf.data(), buf.size()) == nullptr) return false;
  } else if (v.type == spop::data_type::ipv6) {
    if (inet_ntop(AF_INET6, v.addr.data(), buf.data(), buf.size()) == nullptr) return false;
  } else {
    return as_text(v, out);
  }
  out.assign(buf.data());
  return true;
}

correlate::extra_value to_extra(const spop::value& v) {
  switch (v.type) {
    case spop::data_type::null:
      return std::monostate{};
    case spop::data_type::boolean:
      return v.boolean;
    case spop::data_type::int32:
    case spop::data_type::int64:
      return v.i64;
    case spop::data_type::uint32:
    case spop::data_type::uint64:
      return v.u64;
    case spop::data_type::ipv4:
    case spop::data_type::ipv6: {
      std::string s;
      as_address(v, s);
      return s;
    }
    case spop::data_type::string:
    case spop::data_type::binary:
      return std::string(v.bytes);
  }
  return std::monostate{};
}

struct body_parts {
  std::optional<std::string_view> data;
  std::optional<std::int64_t> len;
  std::optional<std::int64_t> size;
};

void finish_body(const body_parts& p, correlate::body& b) {
  b.captured = p.data.has_value();
  if (p.data) b.data.assign(*p.data);
  const auto present = static_cast<std::uint64_t>(b.data.size());
  // body_size is what the message announced (Content-Length, or what was seen if chunked);
  // anything beyond the bytes HAProxy could buffer was cut.
  std::uint64_t size = present;
  if (p.size && *p.size >= 0) size = static_cast<std::uint64_t>(*p.size);
  if (p.len && *p.len >= 0 && static_cast<std::uint64_t>(*p.len) > size) {
    size = static_cast<std::uint64_t>(*p.len);
  }
  b.size = size;
  b.truncated = size > present;
}

bool is(std::string_view name, std::string_view a, std::string_view b = {}) {
  return name == a || (!b.empty() && name == b);
}

}  // namespace

bool decode_header_block(std::string_view block, std::vector<correlate::header>& out) {
  const std::size_t start = out.size();
  while (true) {
    std::string_view name;
    std::string_view value;
    if (!read_string(block, name) || !read_string(block, value)) {
      out.resize(start);
      return false;
    }
    if (name.empty() && value.empty()) return true;  // end marker
    out.emplace_back(std::string(name), std::string(value));
  }
}

namespace {

// Arguments both halves carry: version, the header block, the body and its sizes, ts_us.
// `prefix` ("req_" or "res_") may precede hdrs/body/body_len/body_size.
struct common_fields {
  std::string* version;
  std::vector<correlate::header>* headers;
  body_parts body;
  std::int64_t ts;
};

enum class handled { no, ok, bad_argument, bad_headers };

handled read_common(const spop::kv& a, std::string_view prefix, common_fields& f) {
  const auto& v = a.value;
  const bool null = v.type == spop::data_type::null;
  if (a.name == "version")
    return null || as_text(v, *f.version) ? handled::ok : handled::bad_argument;
  if (a.name == "ts_us") return null || as_int(v, f.ts) ? handled::ok : handled::bad_argument;
  auto n = a.name;
  if (n.starts_with(prefix)) n.remove_prefix(prefix.size());
  const bool bytes = v.type == spop::data_type::binary || v.type == spop::data_type::string;
  if (n == "hdrs") {
    if (null) return handled::ok;  // HAProxy sends NULL when the block does not fit a buffer
    if (!bytes) return handled::bad_argument;
    return decode_header_block(v.bytes, *f.headers) ? handled::ok : handled::bad_headers;
  }
  if (n == "body") {
    if (null) return handled::ok;
    if (!bytes) return handled::bad_argument;
    f.body.data = v.bytes;
    return handled::ok;
  }
  if (n == "body_len")
    return null || as_int(v, f.body.len.emplace()) ? handled::ok : handled::bad_argument;
  if (n == "body_size")
    return null || as_int(v, f.body.size.emplace()) ? handled::ok : handled::bad_argument;
  return handled::no;
}

// Request-only arguments; false when one has the wrong type. Unknown ones go to `extra`.
bool read_request_arg(const spop::kv& a, correlate::request_half& r, correlate::event& e) {
  const auto& v = a.value;
  const auto n = a.name;
  const bool null = v.type == spop::data_type::null;
  if (n == "method") return as_text(v, r.method);
  if (n == "path") return null || as_text(v, r.path);
  if (n == "query") return null || as_text(v, r.query.emplace());
  if (is(n, "client_ip", "src")) return null || as_address(v, r.client_ip);
  if (is(n, "client_port", "src_port")) {
    std::int64_t port = 0;
    if (null) return true;
    if (!as_int(v, port) || port < 0 || port > 65535) return false;
    r.client_port = static_cast<std::uint16_t>(port);
    return true;
  }
  if (is(n, "frontend", "fe_name")) return null || as_text(v, r.frontend);
  e.extra.emplace_back(std::string(n), to_extra(v));
  return true;
}

bool read_response_arg(const spop::kv& a, correlate::response_half& r, correlate::event& e) {
  const auto& v = a.value;
  const auto n = a.name;
  const bool null = v.type == spop::data_type::null;
  if (n == "status") {
    std::int64_t status = 0;
    if (!as_int(v, status) || status < 0 || status > 999) return false;
    r.status = static_cast<int>(status);
    return true;
  }
  if (is(n, "backend", "be_name")) return null || as_text(v, r.backend);
  if (is(n, "server", "srv_name")) return null || as_text(v, r.server);
  if (n == "elapsed_us") return null || as_int(v, r.elapsed_us);
  e.extra.emplace_back(std::string(n), to_extra(v));
  return true;
}

// Fills one half from every argument but the id.
template <typename Half, typename ReadOwn>
bridge_result fill(const spop::message& m, std::int64_t now_us, std::string_view prefix,
                   correlate::event&& e, ReadOwn read_own) {
  bridge_result res;
  Half half;
  common_fields f{&half.version, &half.headers, {}, now_us};
  for (const auto& a : m.args) {
    if (is(a.name, "unique_id", "id")) continue;
    auto h = read_common(a, prefix, f);
    if (h == handled::no) h = read_own(a, half, e) ? handled::ok : handled::bad_argument;
    if (h != handled::ok) {
      res.error =
          h == handled::bad_headers ? bridge_error::bad_headers : bridge_error::bad_argument;
      res.argument = a.name;
      return res;
    }
  }
  half.time_us = f.ts;
  finish_body(f.body, half.body);
  e.half = std::move(half);
  res.event = std::move(e);
  return res;
}

}  // namespace

bridge_result to_event(const spop::message& m, std::int64_t now_us,
                       std::string_view fallback_id) {
  bridge_result res;
  const spop::value* id = nullptr;
  bool request = false;
  bool response = false;
  for (const auto& a : m.args) {
    if (is(a.name, "unique_id", "id")) id = &a.value;
    if (a.name == "method") request = true;
    if (a.name == "status") response = true;
  }
  if (request == response) {
    res.error = bridge_error::not_http;
    return res;
  }
  const bool has_id = id != nullptr &&
                      (id->type == spop::data_type::string || id->type == spop::data_type::binary) &&
                      !id->bytes.empty();
  if (!has_id && fallback_id.empty()) {
    res.error = bridge_error::missing_id;
    res.argument = "unique_id";
    return res;
  }
  correlate::event e;
  e.id.assign(has_id ? id->bytes : fallback_id);
  e.source = correlate::source::spop;
  auto out = request ? fill<correlate::request_half>(m, now_us, "req_", std::move(e),
                                                     read_request_arg)
                     : fill<correlate::response_half>(m, now_us, "res_", std::move(e),
                                                      read_response_arg);
  if (!has_id && out.event) {
    out.error = bridge_error::missing_id;
    out.argument = "unique_id";
  }
  return out;
}

}  // namespace agent
