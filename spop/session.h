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
//
// Statuses sent (STYLE §5; codes 5/6 mirror what HAProxy demands of an AGENT-HELLO and what
// HAProxy's own example agent, contrib/spoa_example, answers to a HAPROXY-HELLO):
//   3 too_big      FRAME-LEN > max-frame-size (before HELLO: cfg.max_frame_size), decided from
//                  the 4 length bytes alone (HTTP sent to the port lands here); a reassembled
//                  NOTIFY over cfg.max_reassembly_bytes.
//   4 invalid      FRAME-LEN < 7; bad varint (over-long or running past the frame); truncated or
//                  reserved (10-15) typed data; a malformed KV-LIST or LIST-OF-MESSAGES; any
//                  frame but HAPROXY-HELLO/HAPROXY-DISCONNECT before HELLO; HELLO twice;
//                  sid/fid != 0 on HELLO/DISCONNECT; ACK, AGENT-HELLO or AGENT-DISCONNECT
//                  received from HAProxy.
//   5 no_version   HELLO lacks supported-versions.
//   6 no_max_frame_size  HELLO lacks max-frame-size (or it is not an integer).
//   8 bad_version  supported-versions is not a STRING or lists no 2.x version.
//   9 bad_max_frame_size  HAProxy's max-frame-size < 256 (or negative).
//   10 fragmentation_not_supported  HELLO/DISCONNECT without FIN (as flt_spoe.c does); a
//                  NOTIFY without FIN or an UNSET frame when we did not announce fragmentation.
//   11 interlaced_frames  UNSET frame with no fragmented NOTIFY pending or with another
//                  sid/fid; a NOTIFY while a fragmented NOTIFY is pending.
// Unknown frame types after HELLO are skipped (kind::skipped). A NOTIFY that carries ABORT is
// dropped without an ACK (kind::fragment).
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
    std::string_view engine_id;     // empty when absent
    std::string_view capabilities;  // what we announced
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
  // consumed bytes, whichever comes first (hello.capabilities lives as long as the session).
  // A length field is checked against max-frame-size before anything is buffered or allocated.
  // `consumed` is 0 for need_more and error (the connection is closing anyway), else the whole
  // record (4 + FRAME-LEN). Once closing(), feed() appends nothing more: it returns the sticky
  // error after an error, need_more otherwise. err.offset is relative to the start of `in`
  // (i.e. of the frame), except for a reassembled NOTIFY where it is relative to the start of
  // the reassembled payload.
  result feed(std::span<const std::byte> in, std::vector<std::byte>& out);

  // True once the connection must be closed after `out` has been written (health check
  // answered, DISCONNECT received or sent, protocol error).
  bool closing() const;

  // Has the HELLO handshake completed?
  bool ready() const;

  // The negotiated max-frame-size (before HELLO: the size we read a HELLO with).
  std::uint32_t max_frame_size() const;

  // Appends an AGENT-DISCONNECT with `s` and the spec's message (status_message(s)), for a
  // shutdown initiated by the agent (status normal on SIGTERM). Marks the session closing.
  // Appends nothing if an AGENT-DISCONNECT was already appended.
  void disconnect(std::vector<std::byte>& out, status s = status::normal);

  // Addition to the original contract (PROTOCOL.md §9): cancels the fragmented NOTIFY being
  // reassembled by appending an ACK with FIN|ABORT for its stream-id/frame-id; its remaining
  // fragments are then dropped (kind::fragment, no notify, no second ACK) up to the one with
  // FIN. Returns false, appending nothing, when no fragmented NOTIFY is being reassembled.
  bool abort_fragmented(std::vector<std::byte>& out);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace spop
