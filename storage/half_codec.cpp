// SPDX-License-Identifier: Apache-2.0
#include "storage/half_codec.h"

#include <fmt/core.h>

#include <msgpack.hpp>
#include <stdexcept>
#include <variant>

namespace storage {

namespace {

struct string_stream {
  std::string* out;
  void write(const char* p, std::size_t n) { out->append(p, n); }
};

class writer {
 public:
  explicit writer(std::string& out) : stream_{&out}, pk_(stream_) {}

  void event(const correlate::event& e) {
    pk_.pack_array(6);
    pk_.pack(half_codec_version);
    bin(e.id);
    pk_.pack(static_cast<unsigned>(e.source));
    pk_.pack(static_cast<unsigned>(e.kind()));
    if (const auto* r = std::get_if<correlate::request_half>(&e.half)) {
      pk_.pack_array(10);
      pk_.pack(r->time_us);
      bin(r->method);
      bin(r->path);
      if (r->query) bin(*r->query);
      else pk_.pack_nil();
      bin(r->version);
      headers(r->headers);
      body(r->body);
      bin(r->client_ip);
      pk_.pack(r->client_port);
      bin(r->frontend);
    } else {
      const auto& s = std::get<correlate::response_half>(e.half);
      pk_.pack_array(8);
      pk_.pack(s.time_us);
      pk_.pack(s.status);
      bin(s.version);
      headers(s.headers);
      body(s.body);
      bin(s.backend);
      bin(s.server);
      pk_.pack(s.elapsed_us);
    }
    pk_.pack_array(static_cast<std::uint32_t>(e.extra.size() * 2));
    for (const auto& [name, value] : e.extra) {
      bin(name);
      std::visit(
          [this](const auto& v) {
            using t = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<t, std::monostate>) pk_.pack_nil();
            else if constexpr (std::is_same_v<t, std::string>) bin(v);
            else pk_.pack(v);
          },
          value);
    }
  }

 private:
  void bin(std::string_view s) {
    pk_.pack_bin(static_cast<std::uint32_t>(s.size()));
    pk_.pack_bin_body(s.data(), static_cast<std::uint32_t>(s.size()));
  }
  void headers(const std::vector<correlate::header>& hs) {
    pk_.pack_array(static_cast<std::uint32_t>(hs.size() * 2));
    for (const auto& [n, v] : hs) {
      bin(n);
      bin(v);
    }
  }
  void body(const correlate::body& b) {
    pk_.pack_array(4);
    bin(b.data);
    pk_.pack(b.size);
    pk_.pack(b.truncated);
    pk_.pack(b.captured);
  }

  string_stream stream_;
  msgpack::packer<string_stream> pk_;
};

// Reading: each accessor names the field it wanted, so a bad record says where it is bad.
struct bad_half : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class reader {
 public:
  correlate::event event(const msgpack::object& o) {
    const auto& top = array(o, 6, "half");
    if (uint(top[0], "version") != half_codec_version) {
      throw bad_half(fmt::format("half: format version {}, this agent reads {}",
                                 top[0].via.u64, half_codec_version));
    }
    correlate::event e;
    e.id = bin(top[1], "id");
    if (e.id.empty()) throw bad_half("half: empty id");
    const auto src = uint(top[2], "source");
    if (src > 1) throw bad_half("half: field source out of range");
    e.source = static_cast<correlate::source>(src);
    const auto kind = uint(top[3], "kind");
    if (kind == 0) {
      const auto& h = array(top[4], 10, "request");
      correlate::request_half r;
      r.time_us = sint(h[0], "request.time_us");
      r.method = bin(h[1], "request.method");
      r.path = bin(h[2], "request.path");
      if (h[3].type != msgpack::type::NIL) r.query = bin(h[3], "request.query");
      r.version = bin(h[4], "request.version");
      headers(h[5], r.headers, "request.headers");
      body(h[6], r.body, "request.body");
      r.client_ip = bin(h[7], "request.client_ip");
      const auto port = uint(h[8], "request.client_port");
      if (port > 65535) throw bad_half("half: field request.client_port out of range");
      r.client_port = static_cast<std::uint16_t>(port);
      r.frontend = bin(h[9], "request.frontend");
      e.half = std::move(r);
    } else if (kind == 1) {
      const auto& h = array(top[4], 8, "response");
      correlate::response_half s;
      s.time_us = sint(h[0], "response.time_us");
      const auto status = sint(h[1], "response.status");
      if (status < 0 || status > 999) throw bad_half("half: field response.status out of range");
      s.status = static_cast<int>(status);
      s.version = bin(h[2], "response.version");
      headers(h[3], s.headers, "response.headers");
      body(h[4], s.body, "response.body");
      s.backend = bin(h[5], "response.backend");
      s.server = bin(h[6], "response.server");
      s.elapsed_us = sint(h[7], "response.elapsed_us");
      e.half = std::move(s);
    } else {
      throw bad_half("half: field kind out of range");
    }
    const auto& x = top[5];
    if (x.type != msgpack::type::ARRAY || x.via.array.size % 2 != 0) {
      throw bad_half("half: field extra is not a name/value array");
    }
    for (std::uint32_t i = 0; i < x.via.array.size; i += 2) {
      const auto& v = x.via.array.ptr[i + 1];
      correlate::extra_value value;
      switch (v.type) {
        case msgpack::type::NIL:
          break;
        case msgpack::type::BOOLEAN:
          value = v.via.boolean;
          break;
        case msgpack::type::POSITIVE_INTEGER:
          value = v.via.u64;
          break;
        case msgpack::type::NEGATIVE_INTEGER:
          value = v.via.i64;
          break;
        case msgpack::type::BIN:
          value = std::string(v.via.bin.ptr, v.via.bin.size);
          break;
        default:
          throw bad_half("half: field extra holds a value of an unknown type");
      }
      e.extra.emplace_back(bin(x.via.array.ptr[i], "extra name"), std::move(value));
    }
    return e;
  }

 private:
  static const msgpack::object* array(const msgpack::object& o, std::uint32_t n,
                                      const char* what) {
    if (o.type != msgpack::type::ARRAY || o.via.array.size != n) {
      throw bad_half(fmt::format("half: field {} is not an array of {}", what, n));
    }
    return o.via.array.ptr;
  }
  static std::string bin(const msgpack::object& o, const char* what) {
    if (o.type != msgpack::type::BIN) throw bad_half(fmt::format("half: field {} is not bytes", what));
    return {o.via.bin.ptr, o.via.bin.size};
  }
  static std::uint64_t uint(const msgpack::object& o, const char* what) {
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      throw bad_half(fmt::format("half: field {} is not an unsigned integer", what));
    }
    return o.via.u64;
  }
  static std::int64_t sint(const msgpack::object& o, const char* what) {
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    if (o.type == msgpack::type::POSITIVE_INTEGER && o.via.u64 <= INT64_MAX) {
      return static_cast<std::int64_t>(o.via.u64);
    }
    throw bad_half(fmt::format("half: field {} is not an integer", what));
  }
  static bool boolean(const msgpack::object& o, const char* what) {
    if (o.type != msgpack::type::BOOLEAN) throw bad_half(fmt::format("half: field {} is not a boolean", what));
    return o.via.boolean;
  }
  static void headers(const msgpack::object& o, std::vector<correlate::header>& out,
                      const char* what) {
    if (o.type != msgpack::type::ARRAY || o.via.array.size % 2 != 0) {
      throw bad_half(fmt::format("half: field {} is not a name/value array", what));
    }
    out.reserve(o.via.array.size / 2);
    for (std::uint32_t i = 0; i < o.via.array.size; i += 2) {
      out.emplace_back(bin(o.via.array.ptr[i], what), bin(o.via.array.ptr[i + 1], what));
    }
  }
  static void body(const msgpack::object& o, correlate::body& b, const char* what) {
    const auto* f = array(o, 4, what);
    b.data = bin(f[0], what);
    b.size = uint(f[1], what);
    b.truncated = boolean(f[2], what);
    b.captured = boolean(f[3], what);
  }
};

}  // namespace

void encode_half(const correlate::event& e, std::string& out) { writer(out).event(e); }

half_decode_result decode_half(std::string_view bytes) {
  half_decode_result r;
  // Limits keep a hostile length prefix from allocating more than the value could hold.
  const msgpack::unpack_limit limits(bytes.size(), bytes.size(), bytes.size(), bytes.size(),
                                     bytes.size(), 8);
  try {
    std::size_t off = 0;
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limits);
    if (off != bytes.size()) {
      r.error = fmt::format("half: {} bytes after the value", bytes.size() - off);
      return r;
    }
    r.event = reader().event(oh.get());
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    r.event.reset();
    r.error = std::string_view(e.what()).starts_with("half:") ? e.what()
                                                               : fmt::format("half: msgpack: {}", e.what());
  }
  return r;
}

}  // namespace storage
