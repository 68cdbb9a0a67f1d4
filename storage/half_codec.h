// SPDX-License-Identifier: Apache-2.0
//
// One half of a transaction (correlate::event) as a Kafka record value, for `--pairing kafka`
// (storage/kafka_pairing.h): the agent that received the half produces it, the agent that owns
// its partition decodes it and pairs. Internal to a fleet, so compact rather than readable:
// one MessagePack array, every string as `bin` (ids, headers and bodies may hold any byte):
//
//   [1, id, source, kind, half, extra]
//   half (request)  = [time_us, method, path, query|nil, version, headers, body,
//                      client_ip, client_port, frontend]
//   half (response) = [time_us, status, version, headers, body, backend, server, elapsed_us]
//   headers = [name, value, name, value, ...]
//   body    = [data, size, truncated, captured]
//   extra   = [name, value, ...]   value: nil | bool | int | uint | bin
//
// The leading 1 is the format version: a record of another version is refused by name, so a
// fleet mid-upgrade says what is wrong instead of pairing garbage.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "correlate/types.h"

namespace storage {

inline constexpr unsigned half_codec_version = 1;

// Appends the encoding of `e` to `out`.
void encode_half(const correlate::event& e, std::string& out);

struct half_decode_result {
  std::optional<correlate::event> event;
  std::string error;  // set when `event` is empty: what was wrong, e.g. "half: field 3 (kind)"
};

// Decodes one value made by encode_half(). Never throws on bad input (it is read from a topic
// anything may write to); allocates at most about what `bytes` could hold.
half_decode_result decode_half(std::string_view bytes);

}  // namespace storage
