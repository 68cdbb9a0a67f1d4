// SPDX-License-Identifier: Apache-2.0
//
// GET /events/stream for the fleet (docs/api.md, "Fleet read"): an agent with --peers relays,
// into a client's stream, what each peer streams for the same query with scope=local, beside
// its own exchanges (live_stream.cpp). Every stored exchange is streamed by the one replica
// that stored it, so the client sees each once.
//
// The peers' streams are read with libcurl's multi interface driven by the agent's own libuv
// loop (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION on uv_poll_t and uv_timer_t), so a
// relayed exchange is queued on the loop thread, under the client stream's bound, like a local
// one; nothing blocks the loop (the DNS of dns: peers is resolved on the thread pool).
//
// One upstream per (client, peer), with the client's filters, because each client has its
// own. An upstream is:
//   connecting  until the peer's "event: ready" (at most --peer-timeout, then failed);
//   open        relaying "exchange" events; the peer's "dropped" counts add to the client's;
//   failed      the connection broke, ended, answered other than 200, or sent no byte (not
//               even a heartbeat) for 4 heartbeats and a timeout; asked again every retry_ms;
//   gone        the peer is this agent (its X-HEP-Instance is ours): dropped for good.
// The client hears who is relayed from "event: peers" (api/event_stream.h): first when every
// upstream is open or failed, then whenever a peer fails or comes back, or the peer list
// (DNS) changes. Its data is {"peers":N,"partial":B,"peers_failed":[{"peer","error"}]}, as
// GET /events says it; a dns: entry that resolves to nothing is a failed peer too.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/peer_client.h"
#include "api/event_stream.h"

namespace agent {

struct fleet_stream_options {
  std::string token;             // sent as "Authorization: Bearer <token>" when not empty
  double timeout_s = 2;          // connecting, up to the peer's "ready"
  std::uint64_t retry_ms = 3000;         // a failed peer is asked again after this
  std::uint64_t stall_ms = 62'000;       // an open peer silent this long has failed
  std::uint64_t refresh_ms = 5000;       // the peer list (DNS) is read again this often
  std::size_t max_pending = 1u << 20;    // the client stream's bound (api::event_stream)
};

class fleet_streams {
 public:
  // Called on the loop thread for each client with bytes to send: at once for relayed
  // exchanges (from inside libcurl's callbacks; a close() it causes is deferred), after
  // libcurl returned for notices.
  using flush_fn = std::function<void(void* client)>;

  // Counters for /status and /metrics (group "peers").
  struct counters {
    std::uint64_t streams = 0;            // fleet streams opened
    std::uint64_t streams_active = 0;     // gauge
    std::uint64_t upstreams_active = 0;   // gauge: peer streams connecting or open
    std::uint64_t upstream_opens = 0;     // peer streams asked for
    std::uint64_t upstream_failures = 0;  // peer streams that failed
    std::uint64_t relayed = 0;            // exchanges relayed to clients
    std::uint64_t relay_dropped = 0;      // exchanges dropped: the client fell behind
  };

  // `peers` must outlive this object. Nothing starts before the first open().
  fleet_streams(uv_loop_t* loop, curl_peer_client& peers, fleet_stream_options o,
                flush_fn flush);
  ~fleet_streams();
  fleet_streams(const fleet_streams&) = delete;
  fleet_streams& operator=(const fleet_streams&) = delete;

  // Starts relaying the peers' streams into `stream` (its fleet_target() is what they are
  // asked) for `client` (a key, handed back to flush). `stream` lives until close(client).
  void open(void* client, api::event_stream& stream);
  // Stops relaying for `client`; nothing refers to it afterwards. A key not open is ignored.
  void close(void* client);
  // Closes every upstream and the libuv handles (the loop must run for them to close). Only
  // the destructor may follow.
  void stop();

  counters stats() const;

  struct upstream;
  struct subscription;
  struct poll_ctx;

 private:
  static int on_socket(void* easy, int fd, int what, void* self, void* ctx);
  static int on_curl_timer(void* multi, long timeout_ms, void* self);
  static void on_poll(uv_poll_t* h, int status, int events) noexcept;
  static void on_curl_timeout(uv_timer_t* t) noexcept;
  static void on_tick(uv_timer_t* t) noexcept;
  static std::size_t on_data(char* p, std::size_t size, std::size_t n, void* user);

  void start(upstream& u);
  void finish(upstream& u, std::string error);  // removes the transfer; failed unless gone
  void after_curl();                            // completed transfers, flushes, notices
  void flush_now(void* client);
  void announce(subscription& s);               // "event: peers" when it changed
  void refresh();                               // the peer list, on the thread pool
  void reconcile(subscription& s);              // upstreams for the current peer list
  void ensure_timers();
  std::uint64_t now() const { return uv_now(loop_); }

  uv_loop_t* loop_;
  curl_peer_client& peers_;
  fleet_stream_options opts_;
  flush_fn flush_;
  void* multi_ = nullptr;  // CURLM*
  uv_timer_t curl_timer_{};
  uv_timer_t tick_{};
  bool timers_on_ = false;
  bool stopped_ = false;
  std::map<void*, std::unique_ptr<subscription>> subs_;
  std::vector<void*> ready_;    // clients with a notice to flush after libcurl returns
  std::vector<void*> closing_;  // clients close()d from inside libcurl (see close())
  bool in_curl_ = false;        // inside curl_multi_socket_action(): its callbacks may run

  // The peer list: the last one read, when, and whether a read is on the thread pool.
  std::vector<std::string> known_;
  std::vector<api::peer_reply> unresolved_;
  bool known_once_ = false;
  std::uint64_t known_at_ = 0;
  struct refresh_work;
  refresh_work* refreshing_ = nullptr;

  counters stats_;
};

}  // namespace agent
