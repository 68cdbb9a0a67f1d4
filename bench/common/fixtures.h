// SPDX-License-Identifier: Apache-2.0
//
// Frames for the benchmarks: real HAProxy 2.6 records from test/fixtures/spop (located through
// the .idx that lists every record), and frames rebuilt from them with the encoder (a request
// with a 500-byte body, which the capture does not contain).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

using bytes = std::vector<std::byte>;

// The whole file, or throws std::runtime_error.
bytes read_file(const std::string& path);

// One record of haproxy-2.6-capture.bin (length prefix included): the first HAProxy->agent
// record whose .idx line has type `type` ("HAPROXY-HELLO", "NOTIFY") and whose description
// contains every one of `needles`. Throws std::runtime_error when there is none.
bytes capture_record(std::string_view type, const std::vector<std::string_view>& needles);

// Rebuilds the NOTIFY record `notify` with its body argument (`req_body`/`res_body`) replaced
// by `body`, body_len/body_size set to body.size(), and stream-id/frame-id set as given.
// `unique_id`, when not empty, replaces the unique_id argument.
bytes rebuild_notify(const bytes& notify, std::string_view body, std::uint64_t stream_id,
                     std::uint64_t frame_id, std::string_view unique_id = {});

// A ~500-byte JSON-looking ASCII body (the size the benchmarks use).
std::string body_500();

// The realistic pair the load benchmarks replay: HAProxy 2.6's own 03-post-json request and
// response (13 and 11 arguments, real header blocks), with 500-byte bodies.
bytes request_500();
bytes response_500();

}  // namespace bench
