// SPDX-License-Identifier: Apache-2.0
//
// Maps SPOP messages to correlator events (DESIGN.md "SPOP side"). Messages are recognised by
// their arguments, not by their names: one that carries `method` is a request half, one that
// carries `status` a response half. The key is the `unique_id` (or `id`) argument.
//
// Request arguments:  unique_id|id, method, path, query, version, req_hdrs|hdrs (HAProxy's
//   req.hdrs_bin block), req_body|body, req_body_len|body_len, req_body_size|body_size,
//   client_ip|src, client_port|src_port, frontend|fe_name, ts_us (date(0,us)).
// Response arguments: unique_id|id, status, version, res_hdrs|hdrs, res_body|body,
//   res_body_len|body_len, res_body_size|body_size, backend|be_name, server|srv_name, ts_us,
//   elapsed_us.
// Any other argument is kept under `extra`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "correlate/types.h"
#include "spop/types.h"

namespace agent {

enum class bridge_error {
  none,
  not_http,        // neither `method` nor `status`: not a capture message
  missing_id,      // no unique_id/id, or an empty one (no unique-id-format in HAProxy)
  bad_argument,    // an argument of the wrong type
  bad_headers,     // a header block that does not parse
};

std::string_view to_string(bridge_error e);

struct bridge_result {
  std::optional<correlate::event> event;
  bridge_error error = bridge_error::none;
  std::string_view argument;  // the offending argument's name (a view into the message)
};

// Builds an owning event from `m`. `now_us` stamps halves that carry no ts_us.
// When the message has no usable unique id and `fallback_id` is not empty, the event gets
// `fallback_id` as its id and the result still reports `missing_id` in `error` (with the
// event set), so the caller can count it.
bridge_result to_event(const spop::message& m, std::int64_t now_us,
                       std::string_view fallback_id = {});

// Decodes HAProxy's binary header block (req.hdrs_bin / res.hdrs_bin): repeated
// (varint length, name, varint length, value), ended by two empty strings. Appends the pairs
// to `out`. Returns false when the block is malformed (nothing is appended then).
bool decode_header_block(std::string_view block, std::vector<correlate::header>& out);

// Appends the dotted-decimal text of an IPv4 address (4 bytes, network order), the same text
// inet_ntop(AF_INET) gives, without its sprintf.
void append_ipv4(const std::uint8_t* addr, std::string& out);

}  // namespace agent
