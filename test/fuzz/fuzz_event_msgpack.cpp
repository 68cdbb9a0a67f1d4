// SPDX-License-Identifier: Apache-2.0
//
// The MessagePack form of POST /http-events (api/ingest.h) under libFuzzer: the whole input is
// the body. Invariants as for fuzz_event_json: a syntax error accepts nothing and its offset is
// inside the body; otherwise every envelope is an event or counted as refused. msgpack-c's
// limits must keep a hostile length prefix from allocating more than the body could hold
// (ASan's allocation limit catches it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/ingest.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static api::event_decoder decoder;
  const auto r = decoder.decode(api::body_format::msgpack, body, 1795830243000000);
  if (r.syntax_error) {
    check(r.events.empty());
    check(r.offset <= body.size());
  } else {
    check(r.events.size() + r.bad_items == r.items);
    check(r.bad_index.has_value() == (r.bad_items > 0));
    for (const auto& e : r.events) check(!e.id.empty());
  }
  return 0;
}
