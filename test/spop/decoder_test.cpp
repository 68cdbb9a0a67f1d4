// SPDX-License-Identifier: Apache-2.0
#include "spop/decoder.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "fixture_util.h"
#include "spop/encoder.h"

using spop_test::parse_hex;
using spop_test::to_hex;

namespace {

spop::value decode_one(const std::vector<std::byte>& bytes) {
  spop::payload_reader r(bytes);
  spop::value v;
  REQUIRE(r.read_value(v));
  CHECK(r.at_end());
  return v;
}

std::string encode_one(const spop::value& v) {
  std::vector<std::byte> out;
  const std::size_t n = spop::encode_value(out, v);
  CHECK(n == out.size());
  return to_hex(out);
}

}  // namespace

TEST_CASE("typed data: all ten types decode and re-encode", "[spop][decoder]") {
  struct sample {
    const char* hex;
    spop::data_type type;
  };
  const sample samples[] = {
      {"00", spop::data_type::null},
      {"11", spop::data_type::boolean},
      {"01", spop::data_type::boolean},
      {"02 fff0fefefefefefefe0e", spop::data_type::int32},  // -1 as HAProxy casts it
      {"03 fcf006", spop::data_type::uint32},
      {"04 f82f", spop::data_type::int64},
      {"05 f0f1fefe7e", spop::data_type::uint64},
      {"06 7f000001", spop::data_type::ipv4},
      {"07 20010db8000000000000000000000001", spop::data_type::ipv6},
      {"08 03 322e30", spop::data_type::string},
      {"08 00", spop::data_type::string},
      {"09 04 00ff1020", spop::data_type::binary},
      {"09 00", spop::data_type::binary},
  };
  for (const sample& s : samples) {
    INFO(s.hex);
    const auto bytes = parse_hex(s.hex);
    const spop::value v = decode_one(bytes);
    CHECK(v.type == s.type);
    CHECK(encode_one(v) == to_hex(bytes));
  }
  CHECK(decode_one(parse_hex("11")).boolean);
  CHECK(!decode_one(parse_hex("01")).boolean);
  CHECK(decode_one(parse_hex("02 fff0fefefefefefefe0e")).i64 == -1);
  CHECK(decode_one(parse_hex("03 fcf006")).u64 == 16380);
  CHECK(decode_one(parse_hex("04 f82f")).i64 == 1000);
  CHECK(decode_one(parse_hex("05 f0f1fefe7e")).u64 == 4294967296ULL);
  CHECK(decode_one(parse_hex("06 7f000001")).addr[0] == 127);
  CHECK(decode_one(parse_hex("07 20010db8000000000000000000000001")).addr[15] == 1);
  CHECK(decode_one(parse_hex("08 03 322e30")).bytes == "2.0");
  // The flag nibble is ignored for non-BOOL types.
  CHECK(decode_one(parse_hex("f0")).type == spop::data_type::null);

  // The make_* helpers produce what the decoder reads back.
  CHECK(encode_one(spop::make_int32(-1)) == "02fff0fefefefefefefe0e");
  CHECK(encode_one(spop::make_int64(-2)) == "04fef0fefefefefefefe0e");
  CHECK(encode_one(spop::make_uint32(16380)) == "03fcf006");
  CHECK(encode_one(spop::make_uint64(239)) == "05ef");
  CHECK(encode_one(spop::make_bool(true)) == "11");
  CHECK(encode_one(spop::make_null()) == "00");
  CHECK(encode_one(spop::make_ipv4({10, 0, 0, 1})) == "060a000001");
  CHECK(encode_one(spop::make_string("ab")) == "08026162");
  CHECK(encode_one(spop::make_binary("")) == "0900");
  CHECK(decode_one(parse_hex("04fef0fefefefefefefe0e")).i64 == -2);
}

TEST_CASE("typed data: reserved and truncated values fail", "[spop][decoder]") {
  for (int t = 10; t < 16; ++t) {
    for (int flags : {0x00, 0x10, 0xF0}) {
      const std::vector<std::byte> bytes = {static_cast<std::byte>(t | flags), std::byte{0}};
      spop::payload_reader r(bytes, 100);
      spop::value v;
      CHECK(!r.read_value(v));
      CHECK(r.err().code == spop::status::invalid);
      CHECK(r.err().offset == 100);
      CHECK(r.err().reason == "reserved data type");
    }
  }
  const char* truncated[] = {"",           "02",       "03 f0",       "04 ff80",
                             "05 fc",      "06 7f00",  "07 20010db8", "08",
                             "08 05 6162", "09 f0 00", "09 01"};
  for (const char* h : truncated) {
    INFO(h);
    const auto bytes = parse_hex(h);
    spop::payload_reader r(bytes);
    spop::value v;
    CHECK(!r.read_value(v));
    CHECK(r.failed());
    CHECK(r.err().code == spop::status::invalid);
    // Sticky: nothing more is read.
    std::uint8_t b = 0;
    CHECK(!r.read_u8(b));
  }
  // A string length that would wrap a naive `pos + n` check.
  const auto huge = parse_hex("08 ff fe fe fe fe fe fe fe fe 01 41");
  spop::payload_reader r(huge);
  spop::value v;
  CHECK(!r.read_value(v));
}

TEST_CASE("frame decoder: tri-state, limits and sticky errors", "[spop][decoder]") {
  // Observed HAPROXY-DISCONNECT (PROTOCOL.md §7).
  const auto disc = parse_hex(
      "00000031 02 00000001 00 00"
      "0b 7374617475732d636f6465 03 02"
      "07 6d657373616765 08 12 612074696d656f7574206f63637572726564");
  REQUIRE(disc.size() == 0x31 + 4);
  for (std::size_t n = 0; n < disc.size(); ++n) {
    const auto r = spop::decode_frame(std::span<const std::byte>(disc).first(n), 16380);
    CHECK(r.what == spop::decode_result::kind::need_more);
    CHECK(r.consumed == 0);
  }
  auto with_tail = disc;
  with_tail.push_back(std::byte{0});
  const auto r = spop::decode_frame(with_tail, 16380);
  REQUIRE(r.what == spop::decode_result::kind::frame);
  CHECK(r.consumed == disc.size());
  CHECK(r.view.type == spop::frame_type::haproxy_disconnect);
  CHECK(r.view.fin());
  CHECK(!r.view.abort());
  CHECK(r.view.stream_id == 0);
  CHECK(r.view.frame_id == 0);
  std::vector<spop::kv> kvs;
  REQUIRE(!spop::decode_kv_list(r.view.payload, kvs));
  REQUIRE(kvs.size() == 2);
  CHECK(kvs[0].name == "status-code");
  CHECK(kvs[0].value.u64 == 2);
  CHECK(kvs[1].value.bytes == "a timeout occurred");

  // Limit: exactly max-frame-size is fine, one more is too big.
  CHECK(spop::decode_frame(disc, 0x31).what == spop::decode_result::kind::frame);
  const auto big = spop::decode_frame(disc, 0x30);
  CHECK(big.what == spop::decode_result::kind::error);
  CHECK(big.err.code == spop::status::too_big);

  // HTTP bytes: "GET " is a length of 0x47455420 -> too big after four bytes, no waiting.
  const auto http = spop_test::as_bytes("GET ");
  const auto h = spop::decode_frame(http, 16380);
  CHECK(h.what == spop::decode_result::kind::error);
  CHECK(h.err.code == spop::status::too_big);
  CHECK(h.err.offset == 0);

  // Short frames.
  const auto six = parse_hex("00000006 03 00000001 00");
  CHECK(spop::decode_frame(six, 16380).err.code == spop::status::invalid);
  const auto zero = parse_hex("00000000");
  CHECK(spop::decode_frame(zero, 16380).what == spop::decode_result::kind::error);

  // Header varints: truncated inside the frame, over-long.
  const auto trunc = parse_hex("00000007 03 00000001 00 f0");
  const auto t = spop::decode_frame(trunc, 16380);
  CHECK(t.what == spop::decode_result::kind::error);
  CHECK(t.err.code == spop::status::invalid);
  CHECK(t.err.offset == 10);
  const auto overlong = parse_hex("00000012 03 00000001 ffffffffffffffffffff01 00 00");
  const auto o = spop::decode_frame(overlong, 16380);
  CHECK(o.what == spop::decode_result::kind::error);
  CHECK(o.err.reason == "over-long varint");
  CHECK(o.err.offset == 9);

  // Sticky errors, until reset().
  spop::frame_decoder dec(16380);
  CHECK(dec.feed(http).what == spop::decode_result::kind::error);
  CHECK(dec.failed());
  const auto again = dec.feed(disc);
  CHECK(again.what == spop::decode_result::kind::error);
  CHECK(again.err.code == spop::status::too_big);
  dec.reset();
  CHECK(dec.feed(disc).what == spop::decode_result::kind::frame);
  dec.set_max_frame_size(256);
  CHECK(dec.max_frame_size() == 256);
}

TEST_CASE("lists: KV-LIST, LIST-OF-MESSAGES, LIST-OF-ACTIONS", "[spop][decoder]") {
  std::vector<std::byte> payload;
  const spop::kv a1[] = {{"unique_id", spop::make_string("abc")}, {"", spop::make_int64(7)}};
  const spop::kv a2[] = {{"x", spop::make_null()}};
  const spop::message msgs[] = {{"m1", a1}, {"", {}}, {"m3", a2}};
  spop::encode_messages(payload, msgs);
  std::vector<spop::message> got;
  std::vector<spop::kv> args;
  // Force reallocation of the args vector while decoding: spans must still be right.
  args.shrink_to_fit();
  REQUIRE(!spop::decode_messages(payload, got, args));
  REQUIRE(got.size() == 3);
  CHECK(got[0].name == "m1");
  REQUIRE(got[0].args.size() == 2);
  CHECK(got[0].args[0].value.bytes == "abc");
  CHECK(got[0].args[1].name.empty());
  CHECK(got[0].args[1].value.i64 == 7);
  CHECK(got[1].args.empty());
  REQUIRE(got[2].args.size() == 1);
  CHECK(got[2].args[0].name == "x");
  std::vector<std::byte> again;
  spop::encode_messages(again, got);
  CHECK(to_hex(again) == to_hex(payload));

  // Truncated anywhere -> error, never a crash.
  for (std::size_t n = 1; n < payload.size(); ++n) {
    const auto e = spop::decode_messages(std::span<const std::byte>(payload).first(n), got, args);
    if (e) CHECK(e->code == spop::status::invalid);
  }
  // NB-ARGS larger than what follows.
  const auto short_args = parse_hex("02 6d31 03 01 61 00");
  CHECK(spop::decode_messages(short_args, got, args).has_value());

  // The set-var example of PROTOCOL.md §6.
  const auto ack = parse_hex("01 03 02 03 61636b 04 01   02 02 04 01 78");
  std::vector<spop::action> actions;
  REQUIRE(!spop::decode_actions(ack, actions));
  REQUIRE(actions.size() == 2);
  CHECK(actions[0].type == spop::action_type::set_var);
  CHECK(actions[0].scope == spop::var_scope::txn);
  CHECK(actions[0].name == "ack");
  CHECK(actions[0].value.i64 == 1);
  CHECK(actions[1].type == spop::action_type::unset_var);
  CHECK(actions[1].scope == spop::var_scope::res);
  CHECK(actions[1].name == "x");
  std::vector<std::byte> re;
  spop::encode_actions(re, actions);
  CHECK(to_hex(re) == to_hex(ack));

  CHECK(spop::decode_actions(parse_hex("03 00"), actions)->reason == "unknown action type");
  CHECK(spop::decode_actions(parse_hex("01 02 02 01 61"), actions).has_value());
  CHECK(spop::decode_actions(parse_hex("02 02 05 01 61"), actions)->reason ==
        "unknown variable scope");
  CHECK(spop::decode_actions(parse_hex("01 03 02 01 61"), actions).has_value());
  CHECK(spop::decode_actions(parse_hex("01"), actions).has_value());

  std::vector<spop::kv> kvs;
  CHECK(spop::decode_kv_list(parse_hex("03 616263"), kvs).has_value());
  const auto e = spop::decode_kv_list(parse_hex("01 61 00  01 62 0a"), kvs, 40);
  REQUIRE(e);
  CHECK(e->offset == 40 + 5);
  CHECK(kvs.size() == 1);
}

TEST_CASE("encoder: frames and the agent replies", "[spop][encoder]") {
  std::vector<std::byte> out;
  CHECK(spop::encode_ack(out, 0, 1) == 11);
  CHECK(to_hex(out) ==
        "000000076700000001"
        "0001");
  out.clear();
  const spop::action set[] = {
      {spop::action_type::set_var, spop::var_scope::txn, "ack", spop::make_int64(1)}};
  spop::encode_ack(out, 0, 1, set);
  // Recorded ACK of the capture set (offset 528).
  CHECK(to_hex(out) == "00000010670000000100010103020361636b0401");
  out.clear();
  spop::encode_agent_disconnect(out, spop::status::normal, "normal");
  CHECK(out.size() == 41);  // as recorded
  out.clear();
  spop::encode_haproxy_disconnect(out, spop::status::timeout, "a timeout occurred");
  CHECK(to_hex(out) ==
        to_hex(parse_hex("00000031 02 00000001 00 00"
                         "0b 7374617475732d636f6465 03 02"
                         "07 6d657373616765 08 12 612074696d656f7574206f63637572726564")));
  out.assign(3, std::byte{0xAA});  // appends, never overwrites
  const std::size_t n = spop::encode_frame(out, 50, 0, 300, 2, parse_hex("0102"));
  CHECK(n == out.size() - 3);
  CHECK(to_hex(out) ==
        "aaaaaa"
        "0000000a"
        "32"
        "00000000"
        "fc03"
        "02"
        "0102");
  std::vector<spop::status> all = {spop::status::normal, spop::status::too_big,
                                   spop::status::interlaced_frames, spop::status::unknown};
  for (auto s : all) {
    CHECK(!spop::to_string(s).empty());
    CHECK(!spop::status_message(s).empty());
  }
  CHECK(spop::status_message(spop::status::fragmentation_not_supported) ==
        "fragmentation not supported");
  CHECK(spop::to_string(spop::frame_type::agent_hello) == "agent_hello");
  CHECK(spop::to_string(spop::data_type::ipv6) == "ipv6");
}
