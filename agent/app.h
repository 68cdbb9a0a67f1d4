// SPDX-License-Identifier: Apache-2.0
//
// The agent process: one libuv loop that owns the SPOP and HTTP listeners, their connections,
// the correlator and the timers; the store's writer thread does JSON and disk; /events
// queries run on libuv's thread pool. This is the only code that includes <uv.h>.
#pragma once

#include <uv.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "agent/config.h"
#include "agent/fleet_stream.h"
#include "agent/peer_client.h"
#include "api/event_stream.h"
#include "api/router.h"
#include "correlate/correlator.h"
#include "spop/session.h"
#include "storage/kafka_pairing.h"
#include "storage/kafka_sink.h"
#include "storage/store.h"

namespace agent {

struct spop_counters {
  std::uint64_t connections_total = 0;
  std::uint64_t hello = 0;
  std::uint64_t healthchecks = 0;
  std::uint64_t notify = 0;
  std::uint64_t messages = 0;
  std::uint64_t acks = 0;
  std::uint64_t fragments = 0;
  std::uint64_t disconnects_received = 0;
  std::uint64_t disconnects_sent = 0;
  std::uint64_t skipped_frames = 0;
  std::uint64_t resets = 0;  // peer closed with a TCP reset (normal for HAProxy 3.1+ idling)
  std::uint64_t read_errors = 0;
  std::uint64_t bad_messages = 0;      // well-framed NOTIFY, unusable message: ACKed, dropped
  std::uint64_t missing_id = 0;        // halves without unique_id (HAProxy lacks unique-id-format)
  std::uint64_t ignored_messages = 0;  // messages that are not capture messages
  std::uint64_t errors = 0;            // connections closed with AGENT-DISCONNECT != normal
  std::uint64_t hello_timeouts = 0;    // no HELLO within --spop-hello-timeout
  std::uint64_t frame_timeouts = 0;    // a begun frame not whole within --spop-frame-timeout
  std::uint64_t evicted = 0;           // pre-HELLO connections closed to make room
  std::uint64_t rejected_connections = 0;  // over --max-spop-connections, nothing to evict
  std::array<std::uint64_t, 14> errors_by_status{};  // index = status code 0..13
  std::uint64_t errors_other_status = 0;
};

struct http_counters {
  std::uint64_t connections_total = 0;
  std::uint64_t requests = 0;
  std::uint64_t responses_2xx = 0;
  std::uint64_t responses_3xx = 0;
  std::uint64_t responses_4xx = 0;
  std::uint64_t responses_5xx = 0;
  std::uint64_t bad_requests = 0;
  std::uint64_t rejected_connections = 0;     // table full, every connection busy: closed at once
  std::uint64_t evicted_idle = 0;             // idle connections closed to make room
  std::uint64_t evicted_slow = 0;             // trickling requests closed to make room
  std::uint64_t timeouts = 0;                 // 408: request not complete in time
  std::uint64_t first_byte_timeouts = 0;      // connections that sent nothing in time
  std::uint64_t idle_closed = 0;              // keep-alive connections idle too long
  std::uint64_t write_stalled = 0;            // responses that made no write progress
  std::uint64_t probe_connections_total = 0;  // accepted on --probe-listen
  std::uint64_t streamed_responses = 0;       // chunked (HAR, NDJSON)
  std::uint64_t live_streams = 0;             // GET /events/stream opened
  std::uint64_t live_events = 0;              // exchanges queued to them
  std::uint64_t live_dropped = 0;             // exchanges dropped for clients that fell behind
  std::uint64_t live_stalled = 0;             // streams closed: nothing read for 4 heartbeats
};

class app {
 public:
  // Opens the store, binds both listeners. Throws std::runtime_error with a readable message
  // (address in use, directory not writable, ...).
  explicit app(const config& cfg);
  ~app();
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  // Runs until SIGINT/SIGTERM (or stop()) and every handle is closed; flushes the store.
  // Returns the process exit code.
  int run();

  // Begins a graceful shutdown: stop accepting; with --shutdown-grace and halves pending, keep
  // the SPOP connections for up to that long so their partners can arrive (a second call ends
  // the wait); then AGENT-DISCONNECT every SPOP connection, store what is still pending as
  // incomplete, close. Safe to call from the loop thread only.
  void stop();

  // Thread-safe: asks the loop thread to stop() (used by tests and embedders). Before run() it
  // makes run() stop at once; once stopping has finished (and after run() returned) it does
  // nothing.
  void request_stop();

  // Test seam, for test/agent only: pauses the storage writer (storage slower than input).
  void testing_pause_storage(bool paused);

  // Ports actually bound (useful with port 0 in tests).
  std::uint16_t spop_port() const;
  std::uint16_t http_port() const;
  std::uint16_t probe_port() const;  // 0 without --probe-listen

  std::vector<api::metric_group> metrics() const;

  // Test seam, before run(): the bytes a GET /events/stream client may have pending before
  // exchanges are dropped for it (default 1 MiB), and its heartbeat period (default 15 s).
  void testing_live_stream(std::size_t max_pending_bytes, std::uint64_t heartbeat_ms);

  struct spop_conn;
  struct http_conn;

  // Called from the libuv callbacks of spop_server.cpp / http_server.cpp.
  void spop_read(spop_conn* c, ssize_t nread) noexcept;
  void start_reading(spop_conn* c);
  void spop_close(spop_conn* c);
  void http_read(http_conn* c, ssize_t nread, const uv_buf_t* buf) noexcept;
  void http_close(http_conn* c);

 private:
  // SPOP side (spop_server.cpp).
  static void on_spop_connection(uv_stream_t* server, int status) noexcept;
  static void spop_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) noexcept;
  // Feeds `data` to c's session; returns the bytes consumed (the rest is an incomplete frame).
  std::size_t spop_process(spop_conn* c, std::span<const std::byte> data);
  void spop_flush(spop_conn* c);
  void handle_notify(spop_conn* c, const spop::session::notify_info& n);
  // Over --max-spop-connections: closes the oldest connection still waiting for its HELLO;
  // false when there is none.
  bool spop_make_room();
  static void on_spop_sweep(uv_timer_t* t) noexcept;
  void spop_timeout(spop_conn* c);

  // HTTP side (http_server.cpp).
  static void on_http_connection(uv_stream_t* server, int status) noexcept;
  // Over the connection cap of c's listener: closes the connection idle longest, else the
  // one whose request has trickled in longest (over a second); false when all are busy.
  bool http_make_room(bool probe);
  void http_process(http_conn* c);
  void http_send(http_conn* c, const api::response& r, bool keep_alive);
  // Writes `bytes` on `c`; the write callback continues a streamed body and closes the
  // connection when asked to.
  void http_write(http_conn* c, std::string&& bytes);
  void http_start_stream(http_conn* c, api::response&& r, bool keep_alive);
  void http_stream_next(http_conn* c);
  static void http_after_work(uv_work_t* job, int status) noexcept;
  static void on_http_sweep(uv_timer_t* t) noexcept;

  // GET /events/stream (live_stream.cpp): a response whose `live` body is fed every exchange
  // handed to storage; the stop ends every stream with its last chunk.
  void live_open(http_conn* c, api::response&& r);
  void live_publish(const correlate::exchange& x);
  void live_flush(http_conn* c);
  void live_stop();
  static void on_live_heartbeat(uv_timer_t* t) noexcept;
  // POST /http-events sink: feeds the correlator; false when the store's queue is full.
  bool ingest(std::vector<correlate::event>& events);
  std::string not_ready() const;
  std::vector<api::named_histogram> histograms() const;

  // Pairing and storage.
  void add_event(correlate::event&& e);
  // --pairing kafka: the pairing thread's exchanges (called on it), and the loop's take.
  void pairing_output(std::vector<correlate::exchange>& xs);
  void pairing_take();
  void sink(std::vector<correlate::exchange>& xs);
  static void on_expiry_timer(uv_timer_t* t) noexcept;
  static void on_signal(uv_signal_t* s, int signum) noexcept;
  static void on_shutdown_timer(uv_timer_t* t) noexcept;
  static void on_grace_timer(uv_timer_t* t) noexcept;
  void finish_stop();  // the part of stop() after the grace period

  void bind(uv_tcp_t& server, const listen_address& a, uv_connection_cb cb, const char* what);

  config cfg_;
  std::vector<std::string> redaction_;
  uv_loop_t loop_{};
  uv_tcp_t spop_server_{};
  uv_tcp_t http_server_{};
  uv_tcp_t probe_server_{};  // only with --probe-listen (probe_on_)
  bool probe_on_ = false;
  uv_timer_t spop_sweep_timer_{};
  uv_timer_t expiry_timer_{};
  uv_timer_t shutdown_timer_{};
  uv_timer_t http_sweep_timer_{};
  bool listening_ = false;  // both listeners bound and listening
  uv_signal_t sigint_{};
  uv_signal_t sigterm_{};
  uv_async_t stop_async_{};
  // request_stop() may come from any thread at any time: it sends only while stop_async_ is
  // open (finish_stop() closes it; libuv aborts on a send to a closed loop).
  std::mutex stop_async_mu_;
  bool stop_async_open_ = true;  // guarded by stop_async_mu_
  bool stopping_ = false;
  bool in_grace_ = false;  // stopping, waiting for pending halves' partners
  bool stop_finished_ = false;
  std::uint64_t started_ms_ = 0;

  std::unique_ptr<storage::store> store_;
  std::unique_ptr<storage::kafka_sink> kafka_;  // only with --kafka-brokers
  // --pairing kafka: halves go out through it and come back paired on its thread, handed to
  // the loop through pairing_ready_ (pairing_async_ wakes it).
  uv_async_t pairing_async_{};
  std::mutex pairing_mu_;
  std::condition_variable pairing_cv_;             // the pairing thread waits for room
  std::vector<correlate::exchange> pairing_ready_;  // guarded by pairing_mu_
  bool pairing_loop_open_ = false;                  // guarded by pairing_mu_
  std::vector<correlate::exchange> pairing_batch_;  // the loop's side of the swap
  // After the members its thread uses, so that it is destroyed (and joined) before them.
  std::unique_ptr<storage::kafka_pairing> pairing_;
  correlate::correlator correlator_;
  std::shared_ptr<curl_peer_client> peers_;  // --peers: the fleet read's client
  // Fleet GET /events/stream: the peers' streams it relays (made with the first one).
  std::unique_ptr<fleet_streams> fleet_streams_;
  std::unique_ptr<api::router> router_;
  std::vector<correlate::exchange> scratch_;

  std::unordered_set<spop_conn*> spop_conns_;
  // The connections that have not completed their HELLO, oldest first (eviction and the
  // HELLO timeout take them from the front).
  std::list<spop_conn*> spop_waiting_hello_;
  // Where every SPOP connection with nothing pending reads (see spop_conn::in).
  std::vector<std::byte> spop_shared_in_;
  std::unordered_set<http_conn*> http_conns_;  // both listeners'
  std::size_t probe_conns_ = 0;                // those of the probe listener among them
  std::unordered_set<http_conn*> live_conns_;  // the GET /events/stream ones among them
  std::vector<http_conn*> live_ready_;         // scratch of live_publish()
  api::stream_record live_record_;
  uv_timer_t live_timer_{};  // heartbeats; started with the first stream
  bool live_timer_on_ = false;
  std::size_t live_max_pending_ = 1u << 20;
  std::uint64_t live_heartbeat_ms_ = 15'000;
  std::uint64_t next_conn_id_ = 1;
  spop_counters spop_stats_;
  http_counters http_stats_;
  api::histogram ack_latency_;  // read of a NOTIFY -> its ACK handed to the socket
  api::histogram pair_delay_;   // first half's arrival -> its partner's
  std::uint64_t missing_id_warned_ = 0;

  // HTTP reads land here first (the loop is single-threaded, so one buffer serves all).
  std::array<char, 64 * 1024> http_read_buf_{};
};

}  // namespace agent
