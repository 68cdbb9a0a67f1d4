// SPDX-License-Identifier: Apache-2.0
//
// Plain data of the correlator: one half of an HTTP transaction (`event`) and the stored pair
// (`exchange`). Everything here owns its bytes: spop_bridge and the api handlers copy once from
// the wire into these structs, and from then on correlate/ and storage/ own them (STYLE.md §6).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace correlate {

// One header line, name as received (HAProxy sends names lower-cased), value verbatim.
// Order and repeats are kept: `Set-Cookie` may appear many times.
using header = std::pair<std::string, std::string>;

// Where a half came from: decoded SPOP frames, or the legacy `POST /http-events` JSON.
enum class source : std::uint8_t { spop = 0, http = 1 };
std::string_view to_string(source s);

enum class half_kind : std::uint8_t { request = 0, response = 1 };
std::string_view to_string(half_kind k);

// A captured body. `data` holds the bytes HAProxy (or the sender) gave us, which may be fewer
// than the message really had: `size` is the announced size (Content-Length, or the bytes seen
// for chunked bodies) and `truncated` says whether `data` is shorter than the real body.
// `captured` is false when no body bytes were sent at all (a legacy event that gave only a
// length), in which case `data` is empty and only `size` means something.
struct body {
  std::string data;
  std::uint64_t size = 0;
  bool truncated = false;
  bool captured = true;
};

// The request line and what came with it. `query` is absent when the target had no '?'.
struct request_half {
  std::int64_t time_us = 0;  // microseconds since the Unix epoch (HAProxy's date(0,us))
  std::string method;
  std::string path;
  std::optional<std::string> query;
  std::string version;  // "1.0", "1.1", "2.0"
  std::vector<header> headers;
  correlate::body body;
  std::string client_ip;  // textual address, empty when unknown
  std::uint16_t client_port = 0;
  std::string frontend;
};

struct response_half {
  std::int64_t time_us = 0;
  int status = 0;
  std::string version;
  std::vector<header> headers;
  correlate::body body;
  std::string backend;
  std::string server;
  std::int64_t elapsed_us = -1;  // HAProxy-measured request->response time, -1 when not sent
};

// An argument we did not recognise, kept so nothing the configuration sends is lost.
// Strings may hold arbitrary bytes (an unknown BINARY argument).
using extra_value = std::variant<std::monostate, bool, std::int64_t, std::uint64_t, std::string>;
using extra_field = std::pair<std::string, extra_value>;

// One half of a transaction, keyed by HAProxy's unique-id.
struct event {
  std::string id;
  correlate::source source = source::spop;
  std::variant<request_half, response_half> half;
  std::vector<extra_field> extra;

  half_kind kind() const {
    return half.index() == 0 ? half_kind::request : half_kind::response;
  }
  // Rough heap footprint, used for the pending-bytes cap.
  std::size_t approx_bytes() const;
};

// A stored pair. `complete` is true when both halves arrived; an expired or evicted half is
// stored alone with `complete == false`.
struct exchange {
  std::string id;
  correlate::source source = source::spop;
  bool complete = false;
  std::optional<request_half> request;
  std::optional<response_half> response;
  std::int64_t duration_us = -1;  // -1 when unknown (incomplete exchange)
  std::vector<std::string> redacted;  // lower-case names of headers whose values were masked
  std::vector<extra_field> extra;

  // Rough heap footprint, used for the storage queue's byte cap.
  std::size_t approx_bytes() const;
};

// Rough heap footprints of the parts (what the owning string and vector capacities hold).
std::size_t approx_bytes(const request_half& r);
std::size_t approx_bytes(const response_half& r);
std::size_t approx_bytes(const std::vector<extra_field>& extra);

}  // namespace correlate
