// SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by the spop tests: the recorded HAProxy fixture sets (.bin + .jsonl), a small
// SHA-256, hex helpers, and a transcript of session events used by the golden and the
// split/byte-at-a-time tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spop/session.h"
#include "spop/types.h"

namespace spop_test {

std::string fixtures_dir();  // HEP_FIXTURES_DIR "/spop"
std::vector<std::byte> read_file(const std::string& path);
std::string to_hex(std::span<const std::byte> b);
std::string to_hex(std::string_view b);
std::string sha256_hex(std::string_view data);
// Parses hex digits, ignoring whitespace and `#` comments to the end of the line.
std::vector<std::byte> parse_hex(std::string_view text);
std::span<const std::byte> as_bytes(std::string_view s);

// One typed value as the recorder's .jsonl gives it.
struct exp_value {
  std::string type;  // "STRING", "INT64", ...
  bool is_null = false;
  bool boolean = false;
  std::int64_t i64 = 0;
  std::uint64_t u64 = 0;
  bool has_number = false;
  bool has_str = false;
  std::string str;  // "value" of STRING / IPV4 / IPV6
  bool has_hex = false;
  std::string hex;  // full hex of short BINARY (or non-UTF-8 STRING)
  std::size_t len = 0;
  bool summarised = false;  // long STRING/BINARY: sha256 + head/tail hex
  std::string sha256, head_hex, tail_hex;
};
struct exp_kv {
  std::string name;
  exp_value value;
};
struct exp_message {
  std::string name;
  std::vector<exp_kv> args;
};
struct exp_action {
  std::string action;  // "set-var", "unset-var"
  int nb_args = 0;
  std::string scope;  // "txn", ...
  std::string name;
  bool has_value = false;
  exp_value value;
};

struct exp_frame {
  std::size_t index = 0;
  std::size_t offset = 0;  // record offset in .bin
  std::size_t length = 0;  // record length (4 + FRAME-LEN)
  bool h2a = false;
  int conn = 0;
  int type = 0;
  std::uint32_t flags = 0;
  std::uint64_t sid = 0;
  std::uint64_t fid = 0;
  enum class decoded_kind { none, kv, messages, actions, error } decoded = decoded_kind::none;
  std::vector<exp_kv> kvs;
  std::vector<exp_message> messages;
  std::vector<exp_action> actions;
  std::size_t reassembled_payload_len = 0;  // 0 when absent
  std::string note;
};

struct fixture_set {
  std::string name;
  std::vector<std::byte> bin;
  std::vector<exp_frame> frames;

  std::span<const std::byte> record(const exp_frame& f) const {
    return std::span<const std::byte>(bin).subspan(f.offset, f.length);
  }
  std::vector<int> connections() const;
};

// The 3.x sets were recorded through test/fixtures/tools/spop_proxy.py in front of our own agent
// (default flags), so their A2H frames are the agent's real answers.
inline const char* const set_names[] = {"haproxy-2.6-capture",   "haproxy-2.6-fragmented",
                                        "haproxy-2.6-smallframe-nofrag",
                                        "haproxy-3.2-capture",   "haproxy-3.4-capture"};

// Loads <name>.bin and <name>.jsonl (parsed with simdjson) from the fixtures directory.
const fixture_set& load_set(const std::string& name);

// Catch2 CHECKs that `v` matches what the recorder wrote.
void check_value(const spop::value& v, const exp_value& e, const std::string& where);
void check_kvs(std::span<const spop::kv> got, const std::vector<exp_kv>& want,
               const std::string& where);
void check_messages(std::span<const spop::message> got, const std::vector<exp_message>& want,
                    const std::string& where);

// One line per frame of `bytes` (a sequence of records written by a session): type, ids,
// flags and the decoded payload, e.g. `out ack sid=1 fid=2 flags=fin actions=0`.
std::vector<std::string> describe_output(std::span<const std::byte> bytes);

// The result of a session call as text lines, e.g. `off=57 notify sid=1 fid=1 messages=1`,
// followed by one line per message/argument. `offset` is the stream offset of the call's input.
std::vector<std::string> describe_result(const spop::session::result& r, std::size_t offset);

// Runs a whole stream through a fresh session: the input is made available in pieces ending
// at each of `boundaries` (the last one must be bytes.size()); after each piece the session is
// fed until need_more or error. With `own_buffer` the pieces are appended to a receive buffer
// whose consumed front is erased, as the agent does; otherwise spans of `bytes` are fed.
// Returns the transcript (event lines and output lines interleaved) plus a last line
// `end consumed=N closing=B ready=B`; the output bytes are appended to `out`.
std::vector<std::string> run_session(std::span<const std::byte> bytes,
                                     std::span<const std::size_t> boundaries,
                                     const spop::session_config& cfg, std::vector<std::byte>& out,
                                     bool own_buffer = false);

// Same run as run_session() without an owned buffer, but folds every event (kinds, offsets,
// ids, names and values) into one 64-bit fingerprint instead of text: views into `bytes` are
// hashed by position, other views (reassembled NOTIFYs) by content. Cheap enough to try
// thousands of splits of a long stream.
std::uint64_t session_fingerprint(std::span<const std::byte> bytes,
                                  std::span<const std::size_t> boundaries,
                                  const spop::session_config& cfg, std::vector<std::byte>& out);

}  // namespace spop_test
