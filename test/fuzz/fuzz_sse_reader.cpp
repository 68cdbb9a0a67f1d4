// SPDX-License-Identifier: Apache-2.0
//
// api::sse_reader (a fleet stream reads its peers' Server-Sent Events with it) under
// libFuzzer. The first byte picks how the rest is split into feed() calls, so that line ends
// and the byte order mark fall across calls. Invariants: it never crashes; no event is larger
// than the bound; every split gives the same events and the same verdict as one feed(); once
// it fails, it stays failed and says why.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/sse_reader.h"

namespace {

constexpr std::size_t bound = 4096;

void check(bool ok) {
  if (!ok) std::abort();
}

struct result {
  std::vector<std::string> events;  // type, NUL, data, NUL, id
  bool ok = true;
  std::string error;
};

result read(std::string_view in, std::size_t step) {
  api::sse_reader r(bound);
  result out;
  auto on = [&](const api::sse_event& e) {
    check(e.data.size() <= bound);
    out.events.push_back(std::string(e.type) + '\0' + std::string(e.data) + '\0' +
                         std::string(e.id));
  };
  for (std::size_t i = 0; i < in.size(); i += step) {
    const bool ok = r.feed(in.substr(i, step), on);
    if (!out.ok) check(!ok);  // sticky
    out.ok = out.ok && ok;
  }
  out.error = r.error();
  check(out.ok == out.error.empty());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = data[0] % 16 + 1;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto whole = read(in, in.size() + 1);
  const auto split = read(in, step);
  check(whole.ok == split.ok);
  check(whole.events == split.events);
  return 0;
}
