// SPDX-License-Identifier: Apache-2.0
#include "spop/types.h"

namespace spop {

std::string_view to_string(frame_type t) {
  switch (t) {
    case frame_type::unset:
      return "unset";
    case frame_type::haproxy_hello:
      return "haproxy_hello";
    case frame_type::haproxy_disconnect:
      return "haproxy_disconnect";
    case frame_type::notify:
      return "notify";
    case frame_type::agent_hello:
      return "agent_hello";
    case frame_type::agent_disconnect:
      return "agent_disconnect";
    case frame_type::ack:
      return "ack";
  }
  return "unknown";
}

std::string_view to_string(status s) {
  switch (s) {
    case status::normal:
      return "normal";
    case status::io_error:
      return "io_error";
    case status::timeout:
      return "timeout";
    case status::too_big:
      return "too_big";
    case status::invalid:
      return "invalid";
    case status::no_version:
      return "no_version";
    case status::no_max_frame_size:
      return "no_max_frame_size";
    case status::no_capabilities:
      return "no_capabilities";
    case status::bad_version:
      return "bad_version";
    case status::bad_max_frame_size:
      return "bad_max_frame_size";
    case status::fragmentation_not_supported:
      return "fragmentation_not_supported";
    case status::interlaced_frames:
      return "interlaced_frames";
    case status::frame_id_not_found:
      return "frame_id_not_found";
    case status::resource_allocation:
      return "resource_allocation";
    case status::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view to_string(data_type t) {
  switch (t) {
    case data_type::null:
      return "null";
    case data_type::boolean:
      return "boolean";
    case data_type::int32:
      return "int32";
    case data_type::uint32:
      return "uint32";
    case data_type::int64:
      return "int64";
    case data_type::uint64:
      return "uint64";
    case data_type::ipv4:
      return "ipv4";
    case data_type::ipv6:
      return "ipv6";
    case data_type::string:
      return "string";
    case data_type::binary:
      return "binary";
  }
  return "reserved";
}

// The texts of HAProxy's spoe_frm_err_reasons table (flt_spoe.c), so that both sides log the
// same words for a status.
std::string_view status_message(status s) {
  switch (s) {
    case status::normal:
      return "normal";
    case status::io_error:
      return "I/O error";
    case status::timeout:
      return "a timeout occurred";
    case status::too_big:
      return "frame is too big";
    case status::invalid:
      return "invalid frame received";
    case status::no_version:
      return "version value not found";
    case status::no_max_frame_size:
      return "max-frame-size value not found";
    case status::no_capabilities:
      return "capabilities value not found";
    case status::bad_version:
      return "unsupported version";
    case status::bad_max_frame_size:
      return "max-frame-size too big or too small";
    case status::fragmentation_not_supported:
      return "fragmentation not supported";
    case status::interlaced_frames:
      return "invalid interlaced frames";
    case status::frame_id_not_found:
      return "frame-id not found";
    case status::resource_allocation:
      return "resource allocation error";
    case status::unknown:
      return "an unknown error occurred";
  }
  return "an unknown error occurred";
}

}  // namespace spop
