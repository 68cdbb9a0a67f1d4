// SPDX-License-Identifier: Apache-2.0
#include "spop/varint.h"

#include <catch2/catch.hpp>
#include <limits>
#include <vector>

#include "fixture_util.h"

namespace {

std::vector<std::byte> enc(std::uint64_t v) {
  std::vector<std::byte> out;
  const std::size_t n = spop::encode_varint(v, out);
  REQUIRE(n == out.size());
  REQUIRE(out.size() == spop::varint_size(v));
  return out;
}

}  // namespace

TEST_CASE("varint: PROTOCOL.md section 2 worked examples", "[spop][varint]") {
  struct example {
    std::uint64_t value;
    const char* hex;
  };
  const example examples[] = {
      {239, "ef"},       {240, "f000"},
      {1000, "f82f"},    {4294967296ULL, "f0f1fefe7e"},
      {16380, "fcf006"}, {static_cast<std::uint64_t>(std::int64_t{-1}), "fff0fefefefefefefe0e"},
  };
  for (const example& e : examples) {
    INFO(e.value);
    CHECK(spop_test::to_hex(enc(e.value)) == e.hex);
    const auto bytes = spop_test::parse_hex(e.hex);
    const spop::varint_result r = spop::decode_varint(bytes);
    CHECK(r.status == spop::varint_status::ok);
    CHECK(r.value == e.value);
    CHECK(r.size == bytes.size());
  }
  CHECK(enc(static_cast<std::uint64_t>(std::int64_t{-1})).size() == 10);
}

TEST_CASE("varint: length boundaries and round trips", "[spop][varint]") {
  // PROTOCOL.md §2: 1 byte < 240, 2 < 2288, 3 < 264432, 4 < 33818864, 5 < 4328786160.
  const std::uint64_t limits[] = {240, 2288, 264432, 33818864, 4328786160ULL};
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(spop::varint_size(limits[i] - 1) == i + 1);
    CHECK(spop::varint_size(limits[i]) == i + 2);
  }
  std::vector<std::uint64_t> values = {
      0,
      1,
      127,
      128,
      239,
      240,
      241,
      255,
      256,
      2287,
      2288,
      264431,
      264432,
      33818863,
      33818864,
      4328786159ULL,
      4328786160ULL,
      0xFFFFFFFFULL,
      0x100000000ULL,
      std::numeric_limits<std::uint64_t>::max() - 1,
      std::numeric_limits<std::uint64_t>::max(),
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::min()),
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())};
  for (int shift = 0; shift < 64; ++shift) {
    const std::uint64_t p = std::uint64_t{1} << shift;
    values.push_back(p - 1);
    values.push_back(p);
    values.push_back(p + 1);
  }
  for (std::uint64_t v : values) {
    INFO(v);
    const auto bytes = enc(v);
    CHECK(bytes.size() <= spop::max_varint_bytes);
    const spop::varint_result r = spop::decode_varint(bytes);
    REQUIRE(r.status == spop::varint_status::ok);
    CHECK(r.value == v);
    CHECK(r.size == bytes.size());
    // Every strict prefix is truncated, never a wrong value.
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      CHECK(spop::decode_varint(std::span<const std::byte>(bytes).first(n)).status ==
            spop::varint_status::truncated);
    }
    // Trailing bytes are not consumed.
    auto longer = bytes;
    longer.push_back(std::byte{0x42});
    CHECK(spop::decode_varint(longer).size == bytes.size());
  }
  // The pointer form writes the same bytes.
  std::byte buf[spop::max_varint_bytes];
  CHECK(spop::encode_varint(1000, buf) == 2);
  CHECK(buf[0] == std::byte{0xF8});
  CHECK(buf[1] == std::byte{0x2F});
}

TEST_CASE("varint: over-long and truncated input is rejected", "[spop][varint]") {
  // 11 bytes: ten continuation bytes then a terminator.
  const auto eleven = spop_test::parse_hex("ff ff ff ff ff ff ff ff ff ff 01");
  CHECK(spop::decode_varint(eleven).status == spop::varint_status::overlong);
  // Ten bytes that still ask for more are already over-long, whatever follows.
  const auto ten = spop_test::parse_hex("f0 80 80 80 80 80 80 80 80 80");
  CHECK(spop::decode_varint(ten).status == spop::varint_status::overlong);
  // Nine continuation bytes and the end of input: truncated (more could come).
  const auto nine = spop_test::parse_hex("f0 80 80 80 80 80 80 80 80");
  CHECK(spop::decode_varint(nine).status == spop::varint_status::truncated);
  CHECK(spop::decode_varint({}).status == spop::varint_status::truncated);
  CHECK(spop::decode_varint(spop_test::parse_hex("f0")).status == spop::varint_status::truncated);
  CHECK(spop::decode_varint(spop_test::parse_hex("fc f0")).status ==
        spop::varint_status::truncated);
  const spop::varint_result bad = spop::decode_varint(eleven);
  CHECK(bad.size == 0);
}
