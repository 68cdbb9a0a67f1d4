// SPDX-License-Identifier: Apache-2.0
#include "agent/spop_bridge.h"

#include <arpa/inet.h>

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <span>
#include <tuple>
#include <utility>

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

// ---- argument names -----------------------------------------------------------------------

// What an argument is, from its name alone (see spop_bridge.h). `other` goes to `extra`.
enum class field : std::uint8_t {
  other,
  id,
  version,
  ts_us,
  hdrs,
  body,
  body_len,
  body_size,
  method,
  path,
  query,
  client_ip,
  client_port,
  frontend,
  status,
  backend,
  server,
  elapsed_us,
};

constexpr std::uint8_t k_request = 1;
constexpr std::uint8_t k_response = 2;
constexpr std::uint8_t k_both = k_request | k_response;

// A name of up to 16 bytes as two words, so that comparing two names is comparing sizes and
// two words: the first and last 8 bytes (overlapping when shorter than 16), or 4 and 4 for
// 4 to 7 bytes, or the bytes themselves, zero-extended, for fewer.
struct name_key {
  std::size_t size = 0;
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  friend bool operator==(const name_key&, const name_key&) = default;
};

// `width` bytes of `p` as one word, in the machine's byte order (what memcpy to a word gives).
constexpr std::uint64_t word_of(const char* p, std::size_t width) {
  std::uint64_t w = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const std::size_t shift =
        std::endian::native == std::endian::little ? 8 * i : 8 * (width - 1 - i);
    w |= std::uint64_t{static_cast<unsigned char>(p[i])} << shift;
  }
  return w;
}

constexpr name_key key_of(std::string_view n) {
  const std::size_t size = n.size();
  if (size > 16) return {size, 0, 0};  // longer than any known name: the size alone differs
  if (size >= 8) return {size, word_of(n.data(), 8), word_of(n.data() + size - 8, 8)};
  if (size >= 4) return {size, word_of(n.data(), 4), word_of(n.data() + size - 4, 4)};
  return {size, word_of(n.data(), size), 0};
}

// The first and last sizeof(Word) bytes of `p`, loaded as words: key_of() at run time.
template <typename Word>
name_key head_and_tail(const char* p, std::size_t size) {
  Word head;
  Word tail;
  std::memcpy(&head, p, sizeof head);
  std::memcpy(&tail, p + size - sizeof tail, sizeof tail);
  return {size, head, tail};
}

name_key runtime_key_of(std::string_view n) {
  const std::size_t size = n.size();
  if (size > 16) return {size, 0, 0};
  if (size >= 8) return head_and_tail<std::uint64_t>(n.data(), size);
  if (size >= 4) return head_and_tail<std::uint32_t>(n.data(), size);
  return key_of(n);
}

struct known_arg {
  std::string_view name;
  field what;
  std::uint8_t halves;  // the halves in which the name means `what`; elsewhere it is `other`
};

// Every name the bridge understands. The req_/res_ forms count only in their own half: a
// request's "res_hdrs" is an unknown argument, kept under `extra`.
constexpr known_arg k_known_args[] = {
    {"unique_id", field::id, k_both},
    {"id", field::id, k_both},
    {"version", field::version, k_both},
    {"ts_us", field::ts_us, k_both},
    {"hdrs", field::hdrs, k_both},
    {"req_hdrs", field::hdrs, k_request},
    {"res_hdrs", field::hdrs, k_response},
    {"body", field::body, k_both},
    {"req_body", field::body, k_request},
    {"res_body", field::body, k_response},
    {"body_len", field::body_len, k_both},
    {"req_body_len", field::body_len, k_request},
    {"res_body_len", field::body_len, k_response},
    {"body_size", field::body_size, k_both},
    {"req_body_size", field::body_size, k_request},
    {"res_body_size", field::body_size, k_response},
    {"method", field::method, k_request},
    {"path", field::path, k_request},
    {"query", field::query, k_request},
    {"client_ip", field::client_ip, k_request},
    {"src", field::client_ip, k_request},
    {"client_port", field::client_port, k_request},
    {"src_port", field::client_port, k_request},
    {"frontend", field::frontend, k_request},
    {"fe_name", field::frontend, k_request},
    {"status", field::status, k_response},
    {"backend", field::backend, k_response},
    {"be_name", field::backend, k_response},
    {"server", field::server, k_response},
    {"srv_name", field::server, k_response},
    {"elapsed_us", field::elapsed_us, k_response},
};

// An open-addressing table over k_known_args, built at compile time: naming an argument costs
// a hash of its size and two bytes and (almost always) one key comparison, instead of
// comparing it with every name in turn.
constexpr std::size_t k_slots = 64;
struct arg_slot {
  name_key key;
  std::int8_t index = -1;  // into k_known_args, -1 for an empty slot
};
constexpr std::size_t slot_of(std::string_view n) {
  if (n.empty()) return 0;
  return (n.size() * 7 + static_cast<unsigned char>(n.front()) * 3 +
          static_cast<unsigned char>(n.back())) %
         k_slots;
}
constexpr auto k_arg_slots = [] {
  std::array<arg_slot, k_slots> t{};
  for (std::size_t i = 0; i < std::size(k_known_args); ++i) {
    std::size_t s = slot_of(k_known_args[i].name);
    while (t[s].index != -1) s = (s + 1) % k_slots;
    t[s] = {key_of(k_known_args[i].name), static_cast<std::int8_t>(i)};
  }
  return t;
}();
static_assert(std::size(k_known_args) < k_slots / 2, "keep the name table sparse");
static_assert([] {
  for (const auto& k : k_known_args) {
    if (k.name.size() > 16) return false;  // name_key compares at most 16 bytes
  }
  return true;
}());

const known_arg* find_arg(std::string_view name) {
  const name_key key = runtime_key_of(name);
  for (std::size_t s = slot_of(name); k_arg_slots[s].index != -1; s = (s + 1) % k_slots) {
    if (k_arg_slots[s].key == key) {
      return &k_known_args[static_cast<std::size_t>(k_arg_slots[s].index)];
    }
  }
  return nullptr;
}

// ---- values -------------------------------------------------------------------------------

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
  if (v.type == spop::data_type::ipv4) {
    out.clear();
    append_ipv4(v.addr.data(), out);
    return true;
  }
  if (v.type == spop::data_type::ipv6) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    if (inet_ntop(AF_INET6, v.addr.data(), buf.data(), buf.size()) == nullptr) return false;
    out.assign(buf.data());
    return true;
  }
  return as_text(v, out);
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

}  // namespace

void append_ipv4(const std::uint8_t* addr, std::string& out) {
  char buf[16];
  char* o = buf;
  for (int k = 0; k < 4; ++k) {
    unsigned v = addr[k];
    if (v >= 100) {
      *o++ = static_cast<char>('0' + v / 100);
      v %= 100;
      *o++ = static_cast<char>('0' + v / 10);
    } else if (v >= 10) {
      *o++ = static_cast<char>('0' + v / 10);
    }
    *o++ = static_cast<char>('0' + v % 10);
    *o++ = '.';
  }
  out.append(buf, static_cast<std::size_t>(o - buf - 1));  // without the last '.'
}

bool decode_header_block(std::string_view block, std::vector<correlate::header>& out) {
  // Validate and count first, so that `out` grows once and nothing is appended on error. The
  // first k_kept pairs are kept from this pass; any after them are read again.
  constexpr std::size_t k_kept = 32;
  std::array<std::pair<std::string_view, std::string_view>, k_kept> kept;
  std::string_view after_kept;
  std::size_t count = 0;
  for (std::string_view rest = block;; ++count) {
    if (count == k_kept) after_kept = rest;
    std::string_view name;
    std::string_view value;
    if (!read_string(rest, name) || !read_string(rest, value)) return false;
    if (name.empty() && value.empty()) break;  // end marker
    if (count < k_kept) kept[count] = {name, value};
  }
  out.reserve(out.size() + count);
  for (std::size_t i = 0; i < count && i < k_kept; ++i) {
    out.emplace_back(std::piecewise_construct, std::forward_as_tuple(kept[i].first),
                     std::forward_as_tuple(kept[i].second));
  }
  for (std::size_t i = k_kept; i < count; ++i) {
    std::string_view name;
    std::string_view value;
    read_string(after_kept, name);
    read_string(after_kept, value);
    out.emplace_back(std::piecewise_construct, std::forward_as_tuple(name),
                     std::forward_as_tuple(value));
  }
  return true;
}

namespace {

// Arguments both halves carry: version, the header block, the body and its sizes, ts_us.
struct common_fields {
  std::string* version;
  std::vector<correlate::header>* headers;
  body_parts body;
  std::int64_t ts;
};

enum class handled { no, ok, bad_argument, bad_headers };

handled read_common(field f, const spop::value& v, common_fields& c) {
  const bool null = v.type == spop::data_type::null;
  const bool bytes = v.type == spop::data_type::binary || v.type == spop::data_type::string;
  switch (f) {
    case field::version:
      return null || as_text(v, *c.version) ? handled::ok : handled::bad_argument;
    case field::ts_us:
      return null || as_int(v, c.ts) ? handled::ok : handled::bad_argument;
    case field::hdrs:
      if (null) return handled::ok;  // HAProxy sends NULL when the block does not fit a buffer
      if (!bytes) return handled::bad_argument;
      return decode_header_block(v.bytes, *c.headers) ? handled::ok : handled::bad_headers;
    case field::body:
      if (null) return handled::ok;
      if (!bytes) return handled::bad_argument;
      c.body.data = v.bytes;
      return handled::ok;
    case field::body_len:
      return null || as_int(v, c.body.len.emplace()) ? handled::ok : handled::bad_argument;
    case field::body_size:
      return null || as_int(v, c.body.size.emplace()) ? handled::ok : handled::bad_argument;
    default:
      return handled::no;
  }
}

// Request-only arguments (fill() gives the other half's names as `other`); false when one
// has the wrong type.
bool read_own(field f, const spop::value& v, correlate::request_half& r) {
  const bool null = v.type == spop::data_type::null;
  switch (f) {
    case field::method:
      return as_text(v, r.method);
    case field::path:
      return null || as_text(v, r.path);
    case field::query:
      return null || as_text(v, r.query.emplace());
    case field::client_ip:
      return null || as_address(v, r.client_ip);
    case field::client_port: {
      std::int64_t port = 0;
      if (null) return true;
      if (!as_int(v, port) || port < 0 || port > 65535) return false;
      r.client_port = static_cast<std::uint16_t>(port);
      return true;
    }
    case field::frontend:
      return null || as_text(v, r.frontend);
    default:
      return true;  // not reached: the caller keeps `other` under extra
  }
}

bool read_own(field f, const spop::value& v, correlate::response_half& r) {
  const bool null = v.type == spop::data_type::null;
  switch (f) {
    case field::status: {
      std::int64_t status = 0;
      if (!as_int(v, status) || status < 0 || status > 999) return false;
      r.status = static_cast<int>(status);
      return true;
    }
    case field::backend:
      return null || as_text(v, r.backend);
    case field::server:
      return null || as_text(v, r.server);
    case field::elapsed_us:
      return null || as_int(v, r.elapsed_us);
    default:
      return true;  // not reached: the caller keeps `other` under extra
  }
}

// The known_arg of each argument (nullptr for an unknown name), looked up once per message.
// SPOP messages carry at most 255 arguments; past the first k_cached the lookup is repeated.
struct arg_names {
  static constexpr std::size_t k_cached = 32;
  std::array<const known_arg*, k_cached> cached;
  const known_arg* operator()(const spop::message& m, std::size_t i) const {
    return i < k_cached ? cached[i] : find_arg(m.args[i].name);
  }
};

// Fills one half of `res.event` (already holding the id) from every argument but the id; on
// error `res` gets the error and no event.
template <typename Half>
void fill(const spop::message& m, const arg_names& names, std::int64_t now_us,
          std::uint8_t half_bit, bridge_result& res) {
  correlate::event& e = *res.event;
  Half& half = e.half.emplace<Half>();
  common_fields c{&half.version, &half.headers, {}, now_us};
  for (std::size_t i = 0; i < m.args.size(); ++i) {
    const spop::kv& a = m.args[i];
    const known_arg* k = names(m, i);
    const field f = k != nullptr && (k->halves & half_bit) != 0 ? k->what : field::other;
    if (f == field::id) continue;
    if (f == field::other) {
      e.extra.emplace_back(std::piecewise_construct, std::forward_as_tuple(a.name),
                           std::forward_as_tuple(to_extra(a.value)));
      continue;
    }
    auto h = read_common(f, a.value, c);
    if (h == handled::no) h = read_own(f, a.value, half) ? handled::ok : handled::bad_argument;
    if (h != handled::ok) {
      res.error =
          h == handled::bad_headers ? bridge_error::bad_headers : bridge_error::bad_argument;
      res.argument = a.name;
      res.event.reset();
      return;
    }
  }
  half.time_us = c.ts;
  finish_body(c.body, half.body);
}

}  // namespace

bridge_result to_event(const spop::message& m, std::int64_t now_us,
                       std::string_view fallback_id) {
  bridge_result res;
  const spop::value* id = nullptr;
  bool request = false;
  bool response = false;
  arg_names names;
  for (std::size_t i = 0; i < m.args.size(); ++i) {
    const spop::kv& a = m.args[i];
    const known_arg* k = find_arg(a.name);
    if (i < arg_names::k_cached) names.cached[i] = k;
    if (k == nullptr) continue;
    if (k->what == field::id) id = &a.value;
    if (k->what == field::method) request = true;
    if (k->what == field::status) response = true;
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
  correlate::event& e = res.event.emplace();
  e.id.assign(has_id ? id->bytes : fallback_id);
  e.source = correlate::source::spop;
  if (request) {
    fill<correlate::request_half>(m, names, now_us, k_request, res);
  } else {
    fill<correlate::response_half>(m, names, now_us, k_response, res);
  }
  if (!has_id && res.event) {
    res.error = bridge_error::missing_id;
    res.argument = "unique_id";
  }
  return res;
}

}  // namespace agent
