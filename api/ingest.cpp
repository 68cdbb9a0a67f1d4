// SPDX-License-Identifier: Apache-2.0
#include "api/ingest.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cmath>
#include <exception>
#include <msgpack.hpp>
#include <utility>
#include <variant>

namespace api {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_copy(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

// A decoded value of either format, with views into the parser's memory. It lives only while
// one envelope is turned into an event.
struct node {
  enum class type { null, boolean, int64, uint64, dbl, string, array, object, other };
  type t = type::null;
  bool b = false;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::string_view s;
  std::vector<node> items;
  struct member;
  std::vector<member> members;

  const node* find(std::string_view name) const;
  bool is_number() const { return t == type::int64 || t == type::uint64 || t == type::dbl; }
  // Integer value when it is an integer that fits.
  std::optional<std::int64_t> integer() const {
    if (t == type::int64) return i;
    if (t == type::uint64 && u <= static_cast<std::uint64_t>(INT64_MAX)) {
      return static_cast<std::int64_t>(u);
    }
    return std::nullopt;
  }
};

struct node::member {
  std::string_view first;
  node second;
};

const node* node::find(std::string_view name) const {
  for (const auto& [k, v] : members) {
    if (k == name) return &v;
  }
  return nullptr;
}

node from_dom(simdjson::dom::element e) {
  node n;
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY:
      n.t = node::type::array;
      {
        const simdjson::dom::array arr = e.get_array().value_unsafe();
        n.items.reserve(arr.size());
        for (auto child : arr) n.items.push_back(from_dom(child));
      }
      break;
    case simdjson::dom::element_type::OBJECT:
      n.t = node::type::object;
      {
        const simdjson::dom::object obj = e.get_object().value_unsafe();
        for (auto field : obj) n.members.push_back({field.key, from_dom(field.value)});
      }
      break;
    case simdjson::dom::element_type::INT64:
      n.t = node::type::int64;
      n.i = e.get_int64().value_unsafe();
      break;
    case simdjson::dom::element_type::UINT64:
      n.t = node::type::uint64;
      n.u = e.get_uint64().value_unsafe();
      break;
    case simdjson::dom::element_type::DOUBLE:
      n.t = node::type::dbl;
      n.d = e.get_double().value_unsafe();
      break;
    case simdjson::dom::element_type::STRING:
      n.t = node::type::string;
      n.s = e.get_string().value_unsafe();
      break;
    case simdjson::dom::element_type::BOOL:
      n.t = node::type::boolean;
      n.b = e.get_bool().value_unsafe();
      break;
    case simdjson::dom::element_type::NULL_VALUE:
      n.t = node::type::null;
      break;
  }
  return n;
}

node from_msgpack(const msgpack::object& o) {
  node n;
  switch (o.type) {
    case msgpack::type::NIL:
      n.t = node::type::null;
      break;
    case msgpack::type::BOOLEAN:
      n.t = node::type::boolean;
      n.b = o.via.boolean;
      break;
    case msgpack::type::POSITIVE_INTEGER:
      n.t = node::type::uint64;
      n.u = o.via.u64;
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      n.t = node::type::int64;
      n.i = o.via.i64;
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      n.t = node::type::dbl;
      n.d = o.via.f64;
      break;
    case msgpack::type::STR:
      n.t = node::type::string;
      n.s = std::string_view(o.via.str.ptr, o.via.str.size);
      break;
    case msgpack::type::BIN:
      n.t = node::type::string;
      n.s = std::string_view(o.via.bin.ptr, o.via.bin.size);
      break;
    case msgpack::type::ARRAY:
      n.t = node::type::array;
      n.items.reserve(o.via.array.size);
      for (std::uint32_t k = 0; k < o.via.array.size; ++k) {
        n.items.push_back(from_msgpack(o.via.array.ptr[k]));
      }
      break;
    case msgpack::type::MAP:
      n.t = node::type::object;
      n.members.reserve(o.via.map.size);
      for (std::uint32_t k = 0; k < o.via.map.size; ++k) {
        const auto& kv = o.via.map.ptr[k];
        // Keys that are not strings cannot name a field of the envelope: skipped.
        if (kv.key.type == msgpack::type::STR) {
          n.members.push_back(
              {std::string_view(kv.key.via.str.ptr, kv.key.via.str.size), from_msgpack(kv.val)});
        } else if (kv.key.type == msgpack::type::BIN) {
          n.members.push_back(
              {std::string_view(kv.key.via.bin.ptr, kv.key.via.bin.size), from_msgpack(kv.val)});
        }
      }
      break;
    default:
      n.t = node::type::other;  // EXT
      break;
  }
  return n;
}

struct item_error {
  std::string field;
  std::string message;
};

item_error missing(std::string field) {
  auto msg = fmt::format("missing field \"{}\"", field);
  return {std::move(field), std::move(msg)};
}

item_error mistyped(std::string field, std::string_view expected) {
  auto msg = fmt::format("field \"{}\" must be {}", field, expected);
  return {std::move(field), std::move(msg)};
}

std::string number_text(const node& n) {
  if (n.t == node::type::int64) return std::to_string(n.i);
  if (n.t == node::type::uint64) return std::to_string(n.u);
  return fmt::format("{}", n.d);
}

std::optional<item_error> read_headers(const node& n, std::vector<correlate::header>& out) {
  const std::string field = "data.headers";
  if (n.t == node::type::null) return std::nullopt;
  if (n.t == node::type::object) {
    for (const auto& [name, v] : n.members) {
      auto lname = lower_copy(name);
      if (v.t == node::type::string) {
        out.emplace_back(lname, std::string(v.s));
      } else if (v.is_number()) {
        out.emplace_back(lname, number_text(v));
      } else if (v.t == node::type::array) {
        for (const auto& e : v.items) {
          if (e.t == node::type::string) {
            out.emplace_back(lname, std::string(e.s));
          } else if (e.is_number()) {
            out.emplace_back(lname, number_text(e));
          } else {
            return mistyped(fmt::format("{}.{}", field, name), "a string or an array of strings");
          }
        }
      } else {
        return mistyped(fmt::format("{}.{}", field, name), "a string or an array of strings");
      }
    }
    return std::nullopt;
  }
  if (n.t == node::type::array) {
    for (std::size_t k = 0; k < n.items.size(); ++k) {
      const auto& p = n.items[k];
      if (p.t != node::type::array || p.items.size() != 2 || p.items[0].t != node::type::string ||
          (p.items[1].t != node::type::string && !p.items[1].is_number())) {
        return mistyped(fmt::format("{}[{}]", field, k), "a [name, value] pair of strings");
      }
      out.emplace_back(lower_copy(p.items[0].s), p.items[1].t == node::type::string
                                                     ? std::string(p.items[1].s)
                                                     : number_text(p.items[1]));
    }
    return std::nullopt;
  }
  return mistyped(field, "an object or an array of [name, value] pairs");
}

std::optional<item_error> read_body(const node& data, correlate::body& out) {
  const node* b = data.find("body");
  if (b == nullptr || b->t == node::type::null) {
    out.captured = false;
  } else if (b->t == node::type::string) {
    out.data.assign(b->s);
    out.size = out.data.size();
  } else if (auto len = b->integer(); len && *len >= 0) {
    out.captured = false;
    out.size = static_cast<std::uint64_t>(*len);
  } else {
    return mistyped("data.body", "a string or a non-negative integer (length only)");
  }
  if (const node* sz = data.find("body_size"); sz != nullptr && sz->t != node::type::null) {
    auto v = sz->integer();
    if (!v || *v < 0 || (out.captured && static_cast<std::uint64_t>(*v) < out.data.size())) {
      return mistyped("data.body_size", "an integer, at least the length of the body sent");
    }
    out.size = static_cast<std::uint64_t>(*v);
  }
  out.truncated = out.captured && out.size > out.data.size();
  if (const node* t = data.find("truncated"); t != nullptr && t->t != node::type::null) {
    if (t->t != node::type::boolean) return mistyped("data.truncated", "a boolean");
    out.truncated = out.truncated || t->b;
  }
  return std::nullopt;
}

// Reads an optional string field into `out`.
std::optional<item_error> opt_string(const node& data, std::string_view name, std::string& out) {
  const node* v = data.find(name);
  if (v == nullptr || v->t == node::type::null) return std::nullopt;
  if (v->t != node::type::string) return mistyped(fmt::format("data.{}", name), "a string");
  out.assign(v->s);
  return std::nullopt;
}

std::string version_of(std::string_view v) {
  if (v.size() > 5 && (v.starts_with("HTTP/") || v.starts_with("http/"))) v.remove_prefix(5);
  return std::string(v);
}

constexpr std::string_view request_fields[] = {"id",        "method",    "path",        "query",
                                               "version",   "headers",   "body",        "body_size",
                                               "truncated", "client_ip", "client_port", "frontend"};
constexpr std::string_view response_fields[] = {
    "id", "status", "version", "headers", "body", "body_size", "truncated", "backend", "server"};

template <std::size_t N>
bool known(const std::string_view (&names)[N], std::string_view name) {
  for (auto n : names) {
    if (n == name) return true;
  }
  return false;
}

std::optional<item_error> to_event(const node& env, std::int64_t now_us, correlate::event& ev) {
  if (env.t != node::type::object) return mistyped("(envelope)", "an object");
  const node* type = env.find("type");
  if (type == nullptr) return missing("type");
  if (type->t != node::type::string || (type->s != "request" && type->s != "response")) {
    return mistyped("type", "\"request\" or \"response\"");
  }
  const bool is_request = type->s == "request";

  std::int64_t time_us = now_us;
  if (const node* ts = env.find("timestamp"); ts != nullptr && ts->t != node::type::null) {
    double secs = 0;
    if (ts->t == node::type::int64)
      secs = static_cast<double>(ts->i);
    else if (ts->t == node::type::uint64)
      secs = static_cast<double>(ts->u);
    else if (ts->t == node::type::dbl)
      secs = ts->d;
    else
      return mistyped("timestamp", "a number (seconds since the epoch)");
    if (secs > 1e11) secs /= 1000;                                    // milliseconds
    if (!std::isfinite(secs) || secs < 0 || secs > 253402300799.0) {  // 9999-12-31
      return mistyped("timestamp", "a number (seconds since the epoch)");
    }
    time_us = std::llround(secs * 1e6);
  }

  const node* data = env.find("data");
  if (data == nullptr) return missing("data");
  if (data->t != node::type::object) return mistyped("data", "an object");
  const node* id = data->find("id");
  if (id == nullptr) return missing("data.id");
  if (id->t != node::type::string || id->s.empty()) {
    return mistyped("data.id", "a non-empty string");
  }
  ev.id.assign(id->s);
  ev.source = correlate::source::http;

  if (is_request) {
    correlate::request_half r;
    r.time_us = time_us;
    const node* method = data->find("method");
    if (method == nullptr) return missing("data.method");
    if (method->t != node::type::string || method->s.empty()) {
      return mistyped("data.method", "a non-empty string");
    }
    r.method.assign(method->s);
    const node* path = data->find("path");
    if (path == nullptr) return missing("data.path");
    if (path->t != node::type::string) return mistyped("data.path", "a string");
    r.path.assign(path->s);
    if (const node* q = data->find("query"); q != nullptr && q->t != node::type::null) {
      if (q->t != node::type::string) return mistyped("data.query", "a string or null");
      r.query.emplace(q->s);
    } else if (const auto qm = r.path.find('?'); qm != std::string::npos) {
      r.query = r.path.substr(qm + 1);
      r.path.resize(qm);
    }
    std::string v = "1.1";
    if (auto e = opt_string(*data, "version", v)) return e;
    r.version = version_of(v);
    if (const node* h = data->find("headers")) {
      if (auto e = read_headers(*h, r.headers)) return e;
    }
    if (auto e = read_body(*data, r.body)) return e;
    if (auto e = opt_string(*data, "client_ip", r.client_ip)) return e;
    if (const node* p = data->find("client_port"); p != nullptr && p->t != node::type::null) {
      auto port = p->integer();
      if (!port || *port < 0 || *port > 65535) {
        return mistyped("data.client_port", "an integer from 0 to 65535");
      }
      r.client_port = static_cast<std::uint16_t>(*port);
    }
    if (auto e = opt_string(*data, "frontend", r.frontend)) return e;
    ev.half = std::move(r);
  } else {
    correlate::response_half r;
    r.time_us = time_us;
    const node* status = data->find("status");
    if (status == nullptr) return missing("data.status");
    auto st = status->integer();
    if (!st || *st < 100 || *st > 599) {
      return mistyped("data.status", "an integer from 100 to 599");
    }
    r.status = static_cast<int>(*st);
    std::string v = "1.1";
    if (auto e = opt_string(*data, "version", v)) return e;
    r.version = version_of(v);
    if (const node* h = data->find("headers")) {
      if (auto e = read_headers(*h, r.headers)) return e;
    }
    if (auto e = read_body(*data, r.body)) return e;
    if (auto e = opt_string(*data, "backend", r.backend)) return e;
    if (auto e = opt_string(*data, "server", r.server)) return e;
    ev.half = std::move(r);
  }

  for (const auto& [name, v] : data->members) {
    if (is_request ? known(request_fields, name) : known(response_fields, name)) continue;
    correlate::extra_value x;
    switch (v.t) {
      case node::type::boolean:
        x = v.b;
        break;
      case node::type::int64:
        x = v.i;
        break;
      case node::type::uint64:
        x = v.u;
        break;
      case node::type::dbl:
        x = fmt::format("{}", v.d);
        break;
      case node::type::string:
        x = std::string(v.s);
        break;
      case node::type::null:
        break;
      default:
        continue;  // nested values are not kept
    }
    ev.extra.emplace_back(std::string(name), std::move(x));
  }
  return std::nullopt;
}

// ---- JSON error offsets ----

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Length of the well-formed UTF-8 sequence at s[i], 0 when ill-formed.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  const auto cont = [&](std::size_t k) { return (at(k) & 0xC0u) == 0x80u; };
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return cont(1) ? 2 : 0;
  if (c < 0xF0) {
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return at(1) >= lo && at(1) <= hi && cont(2) ? 3 : 0;
  }
  if (c < 0xF5) {
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return at(1) >= lo && at(1) <= hi && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

class json_scanner {
 public:
  explicit json_scanner(std::string_view s) : s_(s) {}

  std::optional<std::size_t> run() {
    std::vector<char> stack;
    bool need_value = true;
    for (;;) {
      if (need_value) {
        ws();
        if (i_ >= s_.size()) return i_;
        const char c = s_[i_];
        if (c == '{' || c == '[') {
          stack.push_back(c);
          if (stack.size() > 1024) return i_;
          ++i_;
          ws();
          if (i_ < s_.size() && s_[i_] == (c == '{' ? '}' : ']')) {
            ++i_;
            stack.pop_back();
          } else if (c == '{') {
            if (!key()) return i_;
            continue;
          } else {
            continue;
          }
        } else if (c == '"') {
          if (!string()) return i_;
        } else if (c == '-' || is_digit(c)) {
          if (!number()) return i_;
        } else if (!literal("true") && !literal("false") && !literal("null")) {
          return i_;
        }
        need_value = false;
      }
      ws();
      if (stack.empty()) {
        if (i_ < s_.size()) return i_;
        return std::nullopt;
      }
      if (i_ >= s_.size()) return i_;
      const char c = s_[i_];
      if (c == ',') {
        ++i_;
        if (stack.back() == '{' && !(ws(), key())) return i_;
        need_value = true;
      } else if (c == (stack.back() == '{' ? '}' : ']')) {
        ++i_;
        stack.pop_back();
      } else {
        return i_;
      }
    }
  }

 private:
  void ws() {
    while (i_ < s_.size() && is_ws(s_[i_])) ++i_;
  }

  // "name" ws ':'
  bool key() {
    if (i_ >= s_.size() || s_[i_] != '"' || !string()) return false;
    ws();
    if (i_ >= s_.size() || s_[i_] != ':') return false;
    ++i_;
    return true;
  }

  bool string() {
    ++i_;  // the opening quote
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++i_ >= s_.size()) return false;
        const char e = s_[i_];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            if (++i_ >= s_.size() || !is_hex(s_[i_])) return false;
          }
          ++i_;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                   e == 'r' || e == 't') {
          ++i_;
        } else {
          return false;
        }
        continue;
      }
      const std::size_t len = utf8_len(s_, i_);
      if (len == 0) return false;
      i_ += len;
    }
    return false;
  }

  bool number() {
    if (s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || !is_digit(s_[i_])) return false;
    if (s_[i_] == '0') {
      ++i_;
    } else {
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (i_ >= s_.size() || !is_digit(s_[i_])) return false;
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size() || !is_digit(s_[i_])) return false;
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
    }
    return true;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

std::optional<std::size_t> json_error_offset(std::string_view json) {
  return json_scanner(json).run();
}

std::optional<body_format> ingest_format(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto mime = content_type.substr(0, semi);
  while (!mime.empty() && is_ws(mime.back())) mime.remove_suffix(1);
  while (!mime.empty() && is_ws(mime.front())) mime.remove_prefix(1);
  const auto m = lower_copy(mime);
  if (m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))) {
    return body_format::json;
  }
  if (m == "application/x-ndjson" || m == "application/ndjson" || m == "application/jsonl" ||
      m == "application/x-jsonlines") {
    return body_format::ndjson;
  }
  if (m == "application/msgpack" || m == "application/x-msgpack" ||
      m == "application/vnd.msgpack") {
    return body_format::msgpack;
  }
  return std::nullopt;
}

struct event_decoder::impl {
  simdjson::dom::parser parser;

  static void add(const node& env, std::int64_t now_us, ingest_result& r) {
    correlate::event ev;
    if (auto err = to_event(env, now_us, ev)) {
      if (!r.bad_index) {
        r.bad_index = r.items;
        r.bad_field = std::move(err->field);
        r.message = std::move(err->message);
      }
      r.bad_items++;
    } else {
      r.events.push_back(std::move(ev));
    }
    r.items++;
  }

  // A top-level value: one envelope, or an array of them.
  static void add_top(const node& top, std::int64_t now_us, ingest_result& r) {
    if (top.t == node::type::array) {
      for (const auto& env : top.items) add(env, now_us, r);
    } else {
      add(top, now_us, r);
    }
  }

  bool parse_json(std::string_view text, std::size_t base, ingest_result& r, node& out) {
    simdjson::dom::element root;
    if (const auto err = parser.parse(text.data(), text.size(), true).get(root)) {
      r = {};
      r.syntax_error = true;
      r.message = simdjson::error_message(err);
      r.offset = base + json_error_offset(text).value_or(0);
      return false;
    }
    out = from_dom(root);
    return true;
  }

  void decode_json(std::string_view body, std::int64_t now_us, ingest_result& r) {
    node top;
    if (parse_json(body, 0, r, top)) add_top(top, now_us, r);
  }

  void decode_ndjson(std::string_view body, std::int64_t now_us, ingest_result& r) {
    std::size_t pos = 0;
    while (pos < body.size()) {
      auto nl = body.find('\n', pos);
      if (nl == std::string_view::npos) nl = body.size();
      auto line = body.substr(pos, nl - pos);
      std::size_t lead = 0;
      while (lead < line.size() && is_ws(line[lead])) ++lead;
      if (lead < line.size()) {
        node env;
        if (!parse_json(line, pos, r, env)) return;
        add(env, now_us, r);
      }
      pos = nl + 1;
    }
  }

  void decode_msgpack(std::string_view body, std::int64_t now_us, ingest_result& r) {
    // Limits keep a hostile length prefix from allocating more than the body could hold.
    const msgpack::unpack_limit limits(body.size(), body.size(), body.size(), body.size(),
                                       body.size(), 64);
    std::size_t off = 0;
    while (off < body.size()) {
      const std::size_t start = off;
      try {
        msgpack::object_handle oh =
            msgpack::unpack(body.data(), body.size(), off, nullptr, nullptr, limits);
        add_top(from_msgpack(oh.get()), now_us, r);
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception& e) {
        r = {};
        r.syntax_error = true;
        r.message = fmt::format("msgpack: {}", e.what());
        r.offset = start;
        return;
      }
    }
  }
};

event_decoder::event_decoder() : impl_(std::make_unique<impl>()) {}
event_decoder::~event_decoder() = default;

ingest_result event_decoder::decode(body_format f, std::string_view body, std::int64_t now_us) {
  ingest_result r;
  switch (f) {
    case body_format::json:
      impl_->decode_json(body, now_us, r);
      break;
    case body_format::ndjson:
      impl_->decode_ndjson(body, now_us, r);
      break;
    case body_format::msgpack:
      impl_->decode_msgpack(body, now_us, r);
      break;
  }
  return r;
}

}  // namespace api
