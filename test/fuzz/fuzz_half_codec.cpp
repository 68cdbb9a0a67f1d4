// SPDX-License-Identifier: Apache-2.0
//
// storage::decode_half() (Kafka pairing's halves topic, which anything may write to) under
// libFuzzer: the whole input is one record value. Invariants: it never crashes or throws; a
// value it accepts has an id and encodes back to bytes that decode to the same encoding (the
// codec is its own inverse); a refusal always says why. msgpack-c's limits must keep a hostile
// length prefix from allocating more than the value could hold (ASan's allocation limit
// catches it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "storage/half_codec.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  const auto r = storage::decode_half(value);
  if (!r.event) {
    check(!r.error.empty());
    return 0;
  }
  check(!r.event->id.empty());
  std::string once, twice;
  storage::encode_half(*r.event, once);
  const auto again = storage::decode_half(once);
  check(again.event.has_value());
  storage::encode_half(*again.event, twice);
  check(once == twice);
  return 0;
}
