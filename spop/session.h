// SPDX-License-Identifier: Apache-2.0
//
// The agent side of one SPOP connection, sans-I/O: bytes from HAProxy go in, protocol events
// come out, and the replies the protocol requires (AGENT-HELLO, ACK, AGENT-DISCONNECT) are
// appended to a caller-owned output buffer. The caller writes that buffer to the socket and
// closes the connection when `closing()` says so.
//
// State machine (SPOE.txt 3.2): connecting -> (HAPROXY-HELLO) -> processing -> closing.
//  - HAPROXY-HELLO: answered with version "2.0", HAProxy's max-frame-size (or our cap if
//    lower), and the capabilities HAProxy offered that we support: pipelining, async,
//    fragmentation (when allowed by config). A health-check HELLO is answered, then closing.
//  - NOTIFY (FIN): one `notify` event, and an empty ACK with the same stream-id and frame-id is
//    appended to `out` at once.
//  - NOTIFY without FIN + UNSET fragments (2.x, only if we announced fragmentation): bytes are
//    reassembled in a bounded buffer; the `notify` event and the ACK come with the last
//    fragment. Fragments with ABORT drop the partial frame (no ACK).
//  - HAPROXY-DISCONNECT: `disconnect` event, AGENT-DISCONNECT(normal) appended, closing.
//  - Any protocol error: `error` event, AGENT-DISCONNECT with the matching status appended,
//    closing. Errors are sticky.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "spop/types.h"

namespace spop {

struct session_config {
  // Largest max-frame-size we accept; HAProxy's offer is taken as is when it is lower.
  std::uint32_t max_frame_size = 1024 * 1024 + 4;
  // Announce `fragmentation` when HAProxy offers... (2.x never offers it; we announce it when
  // allowed, since it means "I can receive fragmented frames").
  bool fragmentation = true;
  // Cap on one reassembled NOTIFY payload; past it: DISCONNECT too_big.
  std::size_t max_reassembly_bytes = 4 * 1024 * 1024;
};

class session {
 public:
  enum class kind {
    need_more,   // no complete frame in the input; nothing consumed
    hello,       // HAPROXY-HELLO answered (see hello_info)
    notify,      // a complete NOTIFY (see notify_info); ACK appended to out
    fragment,    // a fragment was buffered (or an aborted one dropped); nothing to do
    disconnect,  // HAPROXY-DISCONNECT received (see disconnect_info); reply appended
    skipped,     // a frame of an unknown type was skipped (SPOE.txt: may be ignored)
    error,       // protocol error (see err); AGENT-DISCONNECT appended; connection is closing
  };

  struct hello_info {
    std::uint32_t max_frame_size = 0;  // negotiated
    bool healthcheck = false;
    std::string_view engine_id;        // empty when absent
    std::string_view capabilities;     // what we announced
  };
  struct notify_info {
    std::uint64_t stream_id = 0;
    std::uint64_t frame_id = 0;
    std::span<const message> messages;
  };
  struct disconnect_info {
    std::uint32_t status = 0;
    std::string_view message;
  };

  struct result {
    spop::session::kind what = kind::need_more;
    std::size_t consumed = 0;  // bytes of `in` that made up the frame; the caller drops them
    hello_info hello;
    notify_info notify;
    disconnect_info disconnect;
    spop::error err;
  };

  explicit session(session_config cfg = {});
  ~session();
  session(session&&) noexcept;
  session& operator=(session&&) noexcept;

  // Decodes at most one frame from the front of `in`. Views in the result (message names,
  // argument values, engine-id, disconnect message) point into `in` or into the session's
  // reassembly buffer and stay valid until the next call to feed() or the caller drops the
  // consumed bytes, whichever comes first. A length field is checked against max-frame-size
  // before anything is buffered or allocated.
  result feed(std::span<const std::byte> in, std::vector<std::byte>& out);

  // True once the connection must be closed after `out` has been written (health check
  // answered, DISCONNECT received or sent, protocol error).
  bool closing() const;

  // Has the HELLO handshake completed?
  bool ready() const;

  // The negotiated max-frame-size (before HELLO: the size we read a HELLO with).
  std::uint32_t max_frame_size() const;

  // Appends an AGENT-DISCONNECT with `s` and the spec's message, for a shutdown initiated by
  // the agent (status normal on SIGTERM). Marks the session closing.
  void disconnect(std::vector<std::byte>& out, status s = status::normal);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace spop
