// SPDX-License-Identifier: Apache-2.0
//
// Per-connection state of the two listeners. `handle.data` points to the connection, which is
// freed only in the close callback (libuv handle.rst).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "agent/app.h"
#include "api/event_stream.h"
#include "api/http.h"
#include "spop/session.h"

namespace agent {

struct app::spop_conn {
  uv_tcp_t handle{};
  app* owner = nullptr;
  std::uint64_t id = 0;
  spop::session session;
  // Receive buffer: bytes [0, in_len) are unprocessed input (the start of a frame that has not
  // all arrived). It grows up to the negotiated max-frame-size + 4, so one whole frame always
  // fits, and is freed once empty: a connection with nothing pending reads into the loop's
  // shared buffer instead (`reading_shared`), so idle connections hold no buffer at all.
  std::vector<std::byte> in;
  std::size_t in_len = 0;
  bool reading_shared = false;
  std::vector<std::byte> out;  // replies produced by the session, not yet written
  int writes_pending = 0;
  bool reading_paused = false;
  bool close_after_write = false;
  bool closed = false;
  unsigned bad_logged = 0;  // only the first few bad messages per connection are logged
  // From HAPROXY-HELLO. HAProxy 2.x (one engine-id per thread, `async` offered) keeps one
  // stream-id for both halves of a transaction, so halves without a unique id can still be
  // paired by engine-id + stream-id there; 3.1+ uses per-connection stream ids, so not there.
  std::string engine_id;
  bool pair_by_stream = false;
  // Loop time (ms) of the accept, and of the last whole frame while an incomplete one is
  // buffered (0 when none is): the HELLO and frame timeouts.
  std::uint64_t opened_ms = 0;
  std::uint64_t frame_started_ms = 0;
  // Its place in app::spop_waiting_hello_ until the HELLO completes.
  std::list<spop_conn*>::iterator waiting_hello;
  bool in_waiting_hello = false;

  explicit spop_conn(const spop::session_config& sc) : session(sc) {}
};

struct app::http_conn {
  uv_tcp_t handle{};
  app* owner = nullptr;
  std::uint64_t id = 0;
  api::request_parser parser;
  std::string in;
  int writes_pending = 0;
  bool busy = false;     // a request is being answered (thread pool, or a streamed body)
  bool in_work = false;  // a thread-pool job holds this connection
  bool close_after_write = false;
  bool closed = false;  // uv_close called; freed by close_cb, or by the job if in_work
  bool freed_by_work = false;
  bool probe = false;     // accepted on --probe-listen: probe routes only
  bool any_byte = false;  // something was read (the first-byte timeout)
  // Request timeout: loop time (ms) when the first byte of the request being received came
  // in, 0 between requests; last time anything was read or written, for the idle timeout.
  std::uint64_t request_started_ms = 0;
  std::uint64_t last_activity_ms = 0;
  // A chunked body being written: the next piece is produced on the thread pool once the
  // previous one is written.
  std::unique_ptr<api::body_producer> stream;
  bool stream_close = false;  // close once the body is complete
  // GET /events/stream: the Server-Sent Events fed by app::live_publish(); the connection
  // serves nothing else until it closes.
  std::unique_ptr<api::event_stream> live;

  explicit http_conn(const api::parser_limits& l) : parser(l) {}
};

// One uv_write with the bytes it carries; freed by its callback.
template <typename Buffer>
struct write_req {
  uv_write_t req{};
  Buffer data;
};

}  // namespace agent
