// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target for spop/: drives spop::session::feed() over the input like the agent does
// (receive buffer, drop `consumed`), and the stand-alone readers over the raw bytes.
// The first byte picks the setup [llhttp fuzz_parser.c]:
//   bits 0-1  cfg.max_frame_size: 256, 1024, 16380, 1 MiB + 4
//   bit  2    cfg.fragmentation
//   bit  3    prepend a valid HAPROXY-HELLO, so the rest hits the post-handshake states
//   bits 4-5  cfg.max_reassembly_bytes: 64, 4096, 65536, 4 MiB
//   bit  6    feed in chunks of (second byte % 64) + 1 bytes instead of all at once
//   bit  7    call abort_fragmented() after every buffered fragment
// Invariants checked (abort() on violation): need_more consumes and writes nothing; consumed
// never exceeds the input; errors close the session and are sticky; nothing is written once
// closing; every byte the session writes decodes as agent frames; decode(encode(decode(x)))
// equals decode(x) for LIST-OF-MESSAGES.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "spop/decoder.h"
#include "spop/encoder.h"
#include "spop/session.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool same_value(const spop::value& a, const spop::value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case spop::data_type::null:
      return true;
    case spop::data_type::boolean:
      return a.boolean == b.boolean;
    case spop::data_type::int32:
    case spop::data_type::int64:
      return a.i64 == b.i64;
    case spop::data_type::uint32:
    case spop::data_type::uint64:
      return a.u64 == b.u64;
    case spop::data_type::ipv4:
    case spop::data_type::ipv6:
      return a.addr == b.addr;
    case spop::data_type::string:
    case spop::data_type::binary:
      return a.bytes == b.bytes;
  }
  return false;
}

// Every frame the session wrote must be a well-formed agent frame.
void check_output(std::span<const std::byte> out) {
  std::vector<spop::kv> kvs;
  std::vector<spop::action> actions;
  while (!out.empty()) {
    const spop::decode_result d = spop::decode_frame(out, 0xFFFFFFFF);
    check(d.what == spop::decode_result::kind::frame);
    const spop::frame& f = d.view;
    check(f.fin());
    if (f.type == spop::frame_type::ack) {
      check(!spop::decode_actions(f.payload, actions));
    } else {
      check(f.type == spop::frame_type::agent_hello ||
            f.type == spop::frame_type::agent_disconnect);
      check(f.stream_id == 0 && f.frame_id == 0);
      check(!spop::decode_kv_list(f.payload, kvs));
    }
    out = out.subspan(d.consumed);
  }
}

void drive_session(std::uint8_t mode, std::uint8_t chunk_byte, std::span<const std::byte> data) {
  static constexpr std::uint32_t sizes[] = {256, 1024, 16380, 1024 * 1024 + 4};
  static constexpr std::size_t reassembly[] = {64, 4096, 65536, 4 * 1024 * 1024};
  spop::session_config cfg;
  cfg.max_frame_size = sizes[mode & 3];
  cfg.fragmentation = (mode & 4) != 0;
  cfg.max_reassembly_bytes = reassembly[(mode >> 4) & 3];
  const std::size_t chunk = (mode & 0x40) ? (chunk_byte % 64) + 1 : data.size() + 1;
  const bool abort_fragments = (mode & 0x80) != 0;

  std::vector<std::byte> stream;
  if (mode & 8) spop::encode_haproxy_hello(stream, {});
  stream.insert(stream.end(), data.begin(), data.end());

  spop::session s(cfg);
  std::vector<std::byte> buf, out;
  std::size_t fed = 0;
  bool failed = false;
  while (fed < stream.size()) {
    const std::size_t n = std::min(chunk, stream.size() - fed);
    buf.insert(buf.end(), stream.begin() + static_cast<std::ptrdiff_t>(fed),
               stream.begin() + static_cast<std::ptrdiff_t>(fed + n));
    fed += n;
    while (true) {
      const bool was_closing = s.closing();
      const std::size_t before = out.size();
      const spop::session::result r = s.feed(buf, out);
      check(r.consumed <= buf.size());
      if (was_closing) check(out.size() == before);
      if (r.what == spop::session::kind::need_more) {
        check(r.consumed == 0 && out.size() == before);
        break;
      }
      if (r.what == spop::session::kind::error) {
        check(s.closing() && r.consumed == 0);
        failed = true;
        break;
      }
      check(r.consumed >= 4 + spop::min_frame_size);
      if (r.what == spop::session::kind::notify) {
        // Touch every view: ASan catches any that dangles.
        std::size_t sum = 0;
        for (const spop::message& m : r.notify.messages) {
          sum += m.name.size();
          for (const spop::kv& a : m.args) sum += a.name.size() + a.value.bytes.size();
          for (const spop::kv& a : m.args) {
            if (!a.value.bytes.empty()) sum += static_cast<unsigned char>(a.value.bytes.back());
          }
        }
        check(sum != static_cast<std::size_t>(-1));
      }
      if (r.what == spop::session::kind::fragment && abort_fragments) s.abort_fragmented(out);
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.consumed));
    }
    if (failed) break;
  }
  if (failed) {
    // Sticky: the same error again, nothing more written.
    const std::size_t before = out.size();
    check(s.feed(buf, out).what == spop::session::kind::error);
    check(out.size() == before);
  }
  s.disconnect(out);
  check(s.closing());
  check_output(out);
}

void drive_readers(std::span<const std::byte> data) {
  std::vector<spop::kv> kvs, args, args2;
  std::vector<spop::message> msgs, msgs2;
  std::vector<spop::action> actions;
  (void)spop::decode_frame(data, 0xFFFFFFFF);
  (void)spop::decode_kv_list(data, kvs);
  (void)spop::decode_actions(data, actions);
  if (!spop::decode_messages(data, msgs, args)) {
    std::vector<std::byte> again;
    spop::encode_messages(again, msgs);
    check(!spop::decode_messages(again, msgs2, args2));
    check(msgs.size() == msgs2.size());
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      check(msgs[i].name == msgs2[i].name && msgs[i].args.size() == msgs2[i].args.size());
      for (std::size_t j = 0; j < msgs[i].args.size(); ++j) {
        check(msgs[i].args[j].name == msgs2[i].args[j].name);
        check(same_value(msgs[i].args[j].value, msgs2[i].args[j].value));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  const std::uint8_t mode = data[0];
  const std::uint8_t chunk_byte = size > 1 ? data[1] : 0;
  const std::span<const std::byte> rest(bytes + 1, size - 1);
  drive_session(mode, chunk_byte, rest);
  drive_readers(rest);
  return 0;
}
