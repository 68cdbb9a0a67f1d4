// SPDX-License-Identifier: Apache-2.0
#include "fixture_util.h"

#include <arpa/inet.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "spop/decoder.h"

namespace spop_test {

std::string fixtures_dir() { return std::string(HEP_FIXTURES_DIR) + "/spop"; }

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string to_hex(std::span<const std::byte> b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (std::byte c : b) {
    const auto u = static_cast<unsigned>(c);
    s += digits[u >> 4];
    s += digits[u & 15];
  }
  return s;
}

std::string to_hex(std::string_view b) { return to_hex(as_bytes(b)); }

std::vector<std::byte> parse_hex(std::string_view text) {
  std::vector<std::byte> out;
  int hi = -1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) {
      REQUIRE((c == ' ' || c == '\n' || c == '\t' || c == '\r'));
      REQUIRE(hi < 0);  // no whitespace inside a byte
      continue;
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::byte>(hi * 16 + v));
      hi = -1;
    }
  }
  REQUIRE(hi < 0);
  return out;
}

// ---- SHA-256 (FIPS 180-4), enough to check the recorder's summaries ----------------------

namespace {

constexpr std::array<std::uint32_t, 64> k_sha = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr std::uint32_t rotr(std::uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

void sha_block(std::array<std::uint32_t, 8>& h, const unsigned char* p) {
  std::array<std::uint32_t, 64> w{};
  for (std::size_t i = 0; i < 16; ++i) {
    w[i] = (std::uint32_t{p[4 * i]} << 24) | (std::uint32_t{p[4 * i + 1]} << 16) |
           (std::uint32_t{p[4 * i + 2]} << 8) | std::uint32_t{p[4 * i + 3]};
  }
  for (std::size_t i = 16; i < 64; ++i) {
    const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (std::size_t i = 0; i < 64; ++i) {
    const std::uint32_t t1 =
        hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k_sha[i] + w[i];
    const std::uint32_t t2 =
        (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string m(data);
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  m += '\x80';
  while (m.size() % 64 != 56) m += '\0';
  for (int i = 7; i >= 0; --i) m += static_cast<char>((bits >> (8 * i)) & 0xFF);
  for (std::size_t i = 0; i < m.size(); i += 64) {
    sha_block(h, reinterpret_cast<const unsigned char*>(m.data() + i));
  }
  std::string out;
  char buf[9];
  for (std::uint32_t x : h) {
    std::snprintf(buf, sizeof buf, "%08x", x);
    out += buf;
  }
  return out;
}

// ---- .jsonl loading ------------------------------------------------------------------------

namespace {

std::string get_str(simdjson::dom::element e) {
  std::string_view s;
  REQUIRE(e.get_string().get(s) == simdjson::SUCCESS);
  return std::string(s);
}

std::uint64_t get_u64(simdjson::dom::element e) {
  std::uint64_t v = 0;
  REQUIRE(e.get_uint64().get(v) == simdjson::SUCCESS);
  return v;
}

exp_value parse_value(simdjson::dom::element e) {
  exp_value v;
  v.type = get_str(e["type"]);
  simdjson::dom::element x;
  if (e["len"].get(x) == simdjson::SUCCESS) v.len = get_u64(x);
  if (e["sha256"].get(x) == simdjson::SUCCESS) {
    v.summarised = true;
    v.sha256 = get_str(x);
    v.head_hex = get_str(e["head_hex"]);
    v.tail_hex = get_str(e["tail_hex"]);
  }
  if (e["hex"].get(x) == simdjson::SUCCESS) {
    v.has_hex = true;
    v.hex = get_str(x);
  }
  if (e["value"].get(x) == simdjson::SUCCESS) {
    if (x.is_null()) {
      v.is_null = true;
    } else if (x.is_bool()) {
      v.boolean = x.get_bool().value();
    } else if (x.is_string()) {
      v.has_str = true;
      v.str = get_str(x);
    } else if (x.is_int64()) {
      v.has_number = true;
      v.i64 = x.get_int64().value();
      v.u64 = static_cast<std::uint64_t>(v.i64);
    } else {
      v.has_number = true;
      v.u64 = get_u64(x);
      v.i64 = static_cast<std::int64_t>(v.u64);
    }
  }
  return v;
}

std::vector<exp_kv> parse_kv_array(simdjson::dom::array a) {
  std::vector<exp_kv> out;
  for (simdjson::dom::element item : a) {
    simdjson::dom::array pair;
    REQUIRE(item.get_array().get(pair) == simdjson::SUCCESS);
    REQUIRE(pair.size() == 2);
    out.push_back({get_str(pair.at(0).value()), parse_value(pair.at(1).value())});
  }
  return out;
}

fixture_set load(const std::string& name) {
  fixture_set s;
  s.name = name;
  s.bin = read_file(fixtures_dir() + "/" + name + ".bin");
  std::ifstream f(fixtures_dir() + "/" + name + ".jsonl");
  REQUIRE(f.good());
  simdjson::dom::parser parser;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    simdjson::dom::element o;
    REQUIRE(parser.parse(line).get(o) == simdjson::SUCCESS);
    exp_frame fr;
    fr.index = get_u64(o["i"]);
    fr.offset = get_u64(o["offset"]);
    fr.length = get_u64(o["length"]);
    fr.h2a = get_str(o["dir"]) == "H2A";
    fr.conn = static_cast<int>(get_u64(o["conn"]));
    fr.type = static_cast<int>(get_u64(o["type"]));
    fr.flags = static_cast<std::uint32_t>(get_u64(o["flags"]));
    fr.sid = get_u64(o["sid"]);
    fr.fid = get_u64(o["fid"]);
    simdjson::dom::element x;
    if (o["note"].get(x) == simdjson::SUCCESS) fr.note = get_str(x);
    if (o["reassembled_payload_len"].get(x) == simdjson::SUCCESS) {
      fr.reassembled_payload_len = get_u64(x);
    }
    simdjson::dom::element d;
    if (o["decoded"].get(d) == simdjson::SUCCESS && !d.is_null()) {
      simdjson::dom::array a;
      if (d["kv"].get(a) == simdjson::SUCCESS) {
        fr.decoded = exp_frame::decoded_kind::kv;
        fr.kvs = parse_kv_array(a);
      } else if (d["messages"].get(a) == simdjson::SUCCESS) {
        fr.decoded = exp_frame::decoded_kind::messages;
        for (simdjson::dom::element m : a) {
          simdjson::dom::array args;
          REQUIRE(m["args"].get(args) == simdjson::SUCCESS);
          fr.messages.push_back({get_str(m["name"]), parse_kv_array(args)});
        }
      } else if (d["actions"].get(a) == simdjson::SUCCESS) {
        fr.decoded = exp_frame::decoded_kind::actions;
        for (simdjson::dom::element act : a) {
          exp_action ea;
          ea.action = get_str(act["action"]);
          ea.nb_args = static_cast<int>(get_u64(act["nb_args"]));
          simdjson::dom::array args;
          REQUIRE(act["args"].get(args) == simdjson::SUCCESS);
          REQUIRE(args.size() >= 2);
          ea.scope = get_str(args.at(0).value());
          ea.name = get_str(args.at(1).value());
          if (args.size() == 3) {
            ea.has_value = true;
            ea.value = parse_value(args.at(2).value());
          }
          fr.actions.push_back(ea);
        }
      } else {
        REQUIRE(d["error"].get(x) == simdjson::SUCCESS);
        fr.decoded = exp_frame::decoded_kind::error;
      }
    }
    s.frames.push_back(std::move(fr));
  }
  REQUIRE(!s.frames.empty());
  return s;
}

}  // namespace

std::vector<int> fixture_set::connections() const {
  std::vector<int> out;
  for (const exp_frame& f : frames) {
    if (std::find(out.begin(), out.end(), f.conn) == out.end()) out.push_back(f.conn);
  }
  return out;
}

const fixture_set& load_set(const std::string& name) {
  static std::map<std::string, std::unique_ptr<fixture_set>> cache;
  auto& slot = cache[name];
  if (!slot) slot = std::make_unique<fixture_set>(load(name));
  return *slot;
}

// ---- Comparisons ---------------------------------------------------------------------------

namespace {

std::string json_type(spop::data_type t) {
  switch (t) {
    case spop::data_type::null:
      return "NULL";
    case spop::data_type::boolean:
      return "BOOL";
    case spop::data_type::int32:
      return "INT32";
    case spop::data_type::uint32:
      return "UINT32";
    case spop::data_type::int64:
      return "INT64";
    case spop::data_type::uint64:
      return "UINT64";
    case spop::data_type::ipv4:
      return "IPV4";
    case spop::data_type::ipv6:
      return "IPV6";
    case spop::data_type::string:
      return "STRING";
    case spop::data_type::binary:
      return "BINARY";
  }
  return "?";
}

std::string addr_text(const spop::value& v) {
  char buf[INET6_ADDRSTRLEN] = {};
  const int af = v.type == spop::data_type::ipv4 ? AF_INET : AF_INET6;
  REQUIRE(inet_ntop(af, v.addr.data(), buf, sizeof buf) != nullptr);
  return buf;
}

}  // namespace

void check_value(const spop::value& v, const exp_value& e, const std::string& where) {
  INFO(where);
  REQUIRE(json_type(v.type) == e.type);
  switch (v.type) {
    case spop::data_type::null:
      CHECK(e.is_null);
      break;
    case spop::data_type::boolean:
      CHECK(v.boolean == e.boolean);
      break;
    case spop::data_type::int32:
    case spop::data_type::int64:
      REQUIRE(e.has_number);
      CHECK(v.i64 == e.i64);
      break;
    case spop::data_type::uint32:
    case spop::data_type::uint64:
      REQUIRE(e.has_number);
      CHECK(v.u64 == e.u64);
      break;
    case spop::data_type::ipv4:
    case spop::data_type::ipv6:
      CHECK(addr_text(v) == e.str);
      break;
    case spop::data_type::string:
    case spop::data_type::binary:
      CHECK(v.bytes.size() == e.len);
      if (e.summarised) {
        CHECK(sha256_hex(v.bytes) == e.sha256);
        CHECK(to_hex(v.bytes.substr(0, 48)) == e.head_hex);
        CHECK(to_hex(v.bytes.substr(v.bytes.size() - std::min<std::size_t>(16, v.bytes.size()))) ==
              e.tail_hex);
      } else if (e.has_hex) {
        CHECK(to_hex(v.bytes) == e.hex);
      } else {
        REQUIRE(e.has_str);
        CHECK(v.bytes == e.str);
      }
      break;
  }
}

void check_kvs(std::span<const spop::kv> got, const std::vector<exp_kv>& want,
               const std::string& where) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].name == want[i].name);
    check_value(got[i].value, want[i].value, where + " kv " + want[i].name);
  }
}

void check_messages(std::span<const spop::message> got, const std::vector<exp_message>& want,
                    const std::string& where) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].name == want[i].name);
    check_kvs(got[i].args, want[i].args, where + " message " + want[i].name);
  }
}

// ---- Transcripts ---------------------------------------------------------------------------

namespace {

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// FNV-1a: a cheap content fingerprint for long values in transcripts.
std::string fnv64_hex(std::string_view b) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : b) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string flags_text(std::uint32_t f) {
  std::string s;
  if (f & spop::flag_fin) s += "fin";
  if (f & spop::flag_abort) s += s.empty() ? "abort" : "|abort";
  if (f & ~(spop::flag_fin | spop::flag_abort)) {
    s += (s.empty() ? "" : "|") + std::to_string(f & ~(spop::flag_fin | spop::flag_abort));
  }
  return s.empty() ? "0" : s;
}

std::string value_text(const spop::value& v) {
  switch (v.type) {
    case spop::data_type::null:
      return "null";
    case spop::data_type::boolean:
      return v.boolean ? "bool=true" : "bool=false";
    case spop::data_type::int32:
      return "int32=" + std::to_string(v.i64);
    case spop::data_type::int64:
      return "int64=" + std::to_string(v.i64);
    case spop::data_type::uint32:
      return "uint32=" + std::to_string(v.u64);
    case spop::data_type::uint64:
      return "uint64=" + std::to_string(v.u64);
    case spop::data_type::ipv4:
      return "ipv4=" + addr_text(v);
    case spop::data_type::ipv6:
      return "ipv6=" + addr_text(v);
    case spop::data_type::string:
    case spop::data_type::binary: {
      const bool str = v.type == spop::data_type::string;
      std::string s =
          std::string(str ? "string" : "binary") + "(" + std::to_string(v.bytes.size()) + ")=";
      if (v.bytes.size() > 64) return s + "fnv64:" + fnv64_hex(v.bytes);
      return s + (str ? quoted(v.bytes) : to_hex(v.bytes));
    }
  }
  return "?";
}

}  // namespace

std::vector<std::string> describe_output(std::span<const std::byte> bytes) {
  std::vector<std::string> lines;
  std::vector<spop::kv> kvs;
  std::vector<spop::action> actions;
  while (!bytes.empty()) {
    const spop::decode_result d = spop::decode_frame(bytes, 0xFFFFFFFF);
    if (d.what != spop::decode_result::kind::frame) {
      lines.push_back("out UNDECODABLE " + to_hex(bytes));
      break;
    }
    const spop::frame& f = d.view;
    std::string s = "out " + std::string(spop::to_string(f.type)) +
                    " sid=" + std::to_string(f.stream_id) + " fid=" + std::to_string(f.frame_id) +
                    " flags=" + flags_text(f.flags);
    if (f.type == spop::frame_type::ack) {
      if (spop::decode_actions(f.payload, actions)) s += " BAD-ACTIONS";
      s += " actions=" + std::to_string(actions.size());
      for (const spop::action& a : actions) {
        s += a.type == spop::action_type::set_var ? " set-var(" : " unset-var(";
        s += std::to_string(static_cast<int>(a.scope)) + "," + quoted(a.name);
        if (a.type == spop::action_type::set_var) s += "," + value_text(a.value);
        s += ")";
      }
    } else {
      if (spop::decode_kv_list(f.payload, kvs)) s += " BAD-KV-LIST";
      for (const spop::kv& item : kvs)
        s += " " + std::string(item.name) + "=" + value_text(item.value);
    }
    lines.push_back(s);
    bytes = bytes.subspan(d.consumed);
  }
  return lines;
}

std::vector<std::string> describe_result(const spop::session::result& r, std::size_t offset) {
  using kind = spop::session::kind;
  std::vector<std::string> lines;
  const std::string off = "off=" + std::to_string(offset) + " ";
  switch (r.what) {
    case kind::need_more:
      break;
    case kind::hello:
      lines.push_back(off + "hello max_frame_size=" + std::to_string(r.hello.max_frame_size) +
                      " healthcheck=" + (r.hello.healthcheck ? "1" : "0") + " engine_id=" +
                      quoted(r.hello.engine_id) + " capabilities=" + quoted(r.hello.capabilities));
      break;
    case kind::notify:
      lines.push_back(off + "notify sid=" + std::to_string(r.notify.stream_id) +
                      " fid=" + std::to_string(r.notify.frame_id) +
                      " messages=" + std::to_string(r.notify.messages.size()));
      for (const spop::message& m : r.notify.messages) {
        lines.push_back("  message name=" + quoted(m.name) +
                        " args=" + std::to_string(m.args.size()));
        for (const spop::kv& a : m.args) {
          lines.push_back("    arg name=" + quoted(a.name) + " " + value_text(a.value));
        }
      }
      break;
    case kind::fragment:
      lines.push_back(off + "fragment");
      break;
    case kind::disconnect:
      lines.push_back(off + "disconnect status=" + std::to_string(r.disconnect.status) +
                      " message=" + quoted(r.disconnect.message));
      break;
    case kind::skipped:
      lines.push_back(off + "skipped");
      break;
    case kind::error:
      lines.push_back("off=" + std::to_string(offset + r.err.offset) +
                      " error status=" + std::to_string(static_cast<unsigned>(r.err.code)) +
                      " reason=" + quoted(r.err.reason));
      break;
  }
  return lines;
}

std::vector<std::string> run_session(std::span<const std::byte> bytes,
                                     std::span<const std::size_t> boundaries,
                                     const spop::session_config& cfg, std::vector<std::byte>& out,
                                     bool own_buffer) {
  using kind = spop::session::kind;
  spop::session s(cfg);
  std::vector<std::string> lines;
  std::vector<std::byte> buf;  // own_buffer: what an agent's receive buffer would hold
  std::size_t pos = 0;         // stream offset of the first unconsumed byte
  std::size_t fed = 0;         // stream offset up to which bytes were made available
  bool stop = false;
  for (std::size_t end : boundaries) {
    if (own_buffer)
      buf.insert(buf.end(), bytes.begin() + static_cast<std::ptrdiff_t>(fed),
                 bytes.begin() + static_cast<std::ptrdiff_t>(end));
    fed = end;
    while (!stop) {
      const std::size_t before = out.size();
      const std::span<const std::byte> in =
          own_buffer ? std::span<const std::byte>(buf) : bytes.subspan(pos, end - pos);
      const spop::session::result r = s.feed(in, out);
      // No Catch assertion in this loop: it runs millions of times. Contract violations are
      // written into the transcript instead, which then differs from the expected one.
      if (r.what == kind::need_more) {
        if (r.consumed != 0 || out.size() != before)
          lines.push_back("VIOLATION need_more consumed or wrote");
        break;
      }
      for (auto& l : describe_result(r, pos)) lines.push_back(std::move(l));
      for (auto& l : describe_output(std::span<const std::byte>(out).subspan(before))) {
        lines.push_back(std::move(l));
      }
      if (r.what == kind::error) {
        if (r.consumed != 0) lines.push_back("VIOLATION error consumed bytes");
        stop = true;
        break;
      }
      if (r.consumed == 0 || r.consumed > in.size()) {
        lines.push_back("VIOLATION consumed out of range");
        stop = true;
        break;
      }
      pos += r.consumed;
      if (own_buffer) buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.consumed));
    }
  }
  REQUIRE(boundaries.back() == bytes.size());
  lines.push_back("end consumed=" + std::to_string(pos) + " closing=" + (s.closing() ? "1" : "0") +
                  " ready=" + (s.ready() ? "1" : "0"));
  return lines;
}

namespace {

struct hasher {
  std::span<const std::byte> base;
  std::uint64_t h = 0xcbf29ce484222325ULL;

  void mix(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 0x100000001b3ULL;
    }
  }
  void view(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    if (!s.empty() && p >= base.data() && p + s.size() <= base.data() + base.size()) {
      mix(1);
      mix(static_cast<std::uint64_t>(p - base.data()));
    } else {
      mix(2);
      for (char c : s) mix(static_cast<unsigned char>(c));
    }
    mix(s.size());
  }
  void value(const spop::value& v) {
    mix(static_cast<std::uint64_t>(v.type));
    mix(v.boolean ? 1 : 0);
    mix(static_cast<std::uint64_t>(v.i64));
    mix(v.u64);
    for (auto b : v.addr) mix(b);
    view(v.bytes);
  }
};

}  // namespace

std::uint64_t session_fingerprint(std::span<const std::byte> bytes,
                                  std::span<const std::size_t> boundaries,
                                  const spop::session_config& cfg, std::vector<std::byte>& out) {
  using kind = spop::session::kind;
  spop::session s(cfg);
  hasher h{bytes};
  std::size_t pos = 0;
  for (std::size_t end : boundaries) {
    while (true) {
      const spop::session::result r = s.feed(bytes.subspan(pos, end - pos), out);
      if (r.what == kind::need_more) break;
      h.mix(static_cast<std::uint64_t>(r.what));
      h.mix(pos);
      h.mix(r.consumed);
      switch (r.what) {
        case kind::hello:
          h.mix(r.hello.max_frame_size);
          h.mix(r.hello.healthcheck);
          h.view(r.hello.engine_id);
          h.view(r.hello.capabilities);
          break;
        case kind::notify:
          h.mix(r.notify.stream_id);
          h.mix(r.notify.frame_id);
          h.mix(r.notify.messages.size());
          for (const spop::message& m : r.notify.messages) {
            h.view(m.name);
            h.mix(m.args.size());
            for (const spop::kv& a : m.args) {
              h.view(a.name);
              h.value(a.value);
            }
          }
          break;
        case kind::disconnect:
          h.mix(r.disconnect.status);
          h.view(r.disconnect.message);
          break;
        case kind::error:
          h.mix(static_cast<std::uint64_t>(r.err.code));
          h.mix(r.err.offset);
          h.view(r.err.reason);
          break;
        default:
          break;
      }
      if (r.what == kind::error || r.consumed == 0) {
        h.mix(pos);
        h.mix(s.closing());
        return h.h;
      }
      pos += r.consumed;
    }
  }
  h.mix(pos);
  h.mix(s.closing());
  return h.h;
}

}  // namespace spop_test
