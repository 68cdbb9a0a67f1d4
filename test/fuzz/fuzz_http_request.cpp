// SPDX-License-Identifier: Apache-2.0
//
// api::request_parser under libFuzzer. The first byte picks the limits and how the rest is
// cut into reads [llhttp fuzz_parser.c]; the remaining bytes are the connection's input, fed
// the way the agent does (append, parse, drop what was consumed). Invariants checked: consumed
// never exceeds the input, need_more consumes everything, a request consumes at least one
// byte, errors carry 400/413/431 and are sticky, a request's body respects the limit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/http.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned mode = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  api::parser_limits limits;
  if ((mode & 0x80) != 0) {
    // Small limits so that 431 and 413 are reachable with short inputs.
    limits.max_header_bytes = 32 + (mode & 0x0f) * 16;
    limits.max_body_bytes = (mode >> 4 & 0x07) * 8;
  }
  // Read size: 0 means the whole input at once; otherwise 1..16 bytes per read.
  const std::size_t step = (mode & 0x7f) % 17;

  api::request_parser p(limits);
  std::string buf;
  std::size_t pos = 0;
  while (pos < in.size()) {
    const auto n = step == 0 ? in.size() - pos : std::min(step, in.size() - pos);
    buf.append(in.substr(pos, n));
    pos += n;
    while (true) {
      const auto r = p.feed(buf);
      check(r.consumed <= buf.size());
      if (r.what == api::request_parser::kind::error) {
        check(r.status == 400 || r.status == 413 || r.status == 431);
        check(!r.reason.empty());
        const auto again = p.feed(buf);
        check(again.what == api::request_parser::kind::error && again.status == r.status &&
              again.reason == r.reason);
        return 0;
      }
      if (r.what == api::request_parser::kind::need_more) {
        check(r.consumed == buf.size());
        buf.clear();
        break;
      }
      check(r.consumed > 0);
      buf.erase(0, r.consumed);
      auto& rq = p.current();
      check(rq.body.size() <= limits.max_body_bytes);
      check(!rq.method.empty());
      check(rq.path.size() <= rq.target.size());
      (void)rq.header_value("host");
      std::string out;
      auto resp = api::error_response(200, rq.target);
      api::append_response(resp, rq.keep_alive, out);
      api::request taken = std::move(rq);
      (void)taken;
    }
  }
  return 0;
}
