// SPDX-License-Identifier: Apache-2.0
//
// Plain data of the replay library: a captured exchange as read back from a data directory, an
// agent's /events or a HAR file, the request to send again, the response that came back, and
// the differences between the two responses. Every string is owned: nothing here holds a view.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replay {

struct header {
  std::string name;  // as captured (stored records have lower-case names)
  std::string value;
};

struct captured_request {
  std::string method;
  std::string path;                  // without the query
  std::optional<std::string> query;  // without the '?'; absent when the URL had none
  std::vector<header> headers;
  std::string body;          // decoded bytes (base64 bodies are decoded)
  bool truncated = false;    // the capture cut the body: `body` is only its start
  std::int64_t time_us = 0;  // when it was received, microseconds since the epoch; 0: unknown
};

struct captured_response {
  int status = 0;
  std::vector<header> headers;
  std::string body;
  bool body_captured = false;  // false: only its size was recorded (nothing to compare)
  bool truncated = false;      // `body` is only the start of what was sent
};

struct exchange {
  std::string id;
  captured_request request;
  std::optional<captured_response> response;  // absent: the capture has no response half
};

// Where a loaded set of exchanges came from, and what could not be used.
struct load_result {
  std::vector<exchange> exchanges;  // oldest first, in the order they will be sent
  std::size_t skipped = 0;          // records without a request half (nothing to send)
  std::string error;                // empty on success; otherwise one readable line
};

// One request as it goes out.
struct outgoing_request {
  std::string method;
  std::string url;              // absolute: target scheme://authority + base + path + query
  std::vector<header> headers;  // in order, each sent as "name: value"
  std::string body;             // sent byte for byte
};

// The response a target gave.
struct received_response {
  int status = 0;
  std::vector<header> headers;
  std::string body;
};

enum class difference_kind { status, header, body, json };

constexpr std::string_view to_string(difference_kind k) {
  switch (k) {
    case difference_kind::status:
      return "status";
    case difference_kind::header:
      return "header";
    case difference_kind::body:
      return "body";
    case difference_kind::json:
      return "json";
  }
  return "unknown";
}

// One way in which the new response differs from the captured one.
struct difference {
  difference_kind kind;
  std::string where;     // status: ""; header: its lower-case name; body: ""; json: the path
                         // of the value, as "items[1].price" ("" for the root)
  std::string expected;  // the captured value (JSON text for json, "" when absent)
  std::string actual;    // the new value, likewise
  bool expected_present = true;
  bool actual_present = true;
};

}  // namespace replay
