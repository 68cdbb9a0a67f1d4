// SPDX-License-Identifier: Apache-2.0
//
// GET /events/stream: every exchange the sink hands to storage (after redaction) is serialised
// once, when at least one stream is open, and offered to each stream's filter. Matching
// exchanges are written at once while the socket takes them (libuv's write queue for the
// stream is empty: everything went to the kernel). Once the socket is full, they wait in the
// stream's api::event_stream, up to live_max_pending_ bytes, past which exchanges are dropped,
// counted, and reported to the client; they go out when the queued write completes. So a
// slow client costs at most one write plus live_max_pending_ bytes, and never slows the
// others. A heartbeat comment goes out every live_heartbeat_ms_; a client whose write has
// been stuck for four heartbeats is closed. On stop, each stream gets what can be written at
// once plus its last chunk, and is closed without waiting for a slow reader.
#include <exception>

#include "agent/app.h"
#include "agent/connections.h"
#include "agent/log.h"

namespace agent {

void app::testing_live_stream(std::size_t max_pending_bytes, std::uint64_t heartbeat_ms) {
  live_max_pending_ = max_pending_bytes;
  live_heartbeat_ms_ = heartbeat_ms;
}

void app::live_open(http_conn* c, api::response&& r) {
  http_stats_.responses_2xx++;
  http_stats_.live_streams++;
  // The stream ends only with the connection.
  std::string out;
  api::append_response(r, false, out);
  c->busy = true;  // for good: no other request is read on this connection
  c->in.clear();
  c->live = std::move(r.live);
  live_conns_.insert(c);
  if (!live_timer_on_) {
    uv_timer_init(&loop_, &live_timer_);
    live_timer_.data = this;
    uv_timer_start(&live_timer_, &app::on_live_heartbeat, live_heartbeat_ms_, live_heartbeat_ms_);
    live_timer_on_ = true;
  }
  std::string first;
  c->live->take(first);
  api::append_chunk(first, out);
  log::debug("http conn={} live stream open streams={} fleet={}", c->id, live_conns_.size(),
             !c->live->fleet_target().empty());
  http_write(c, std::move(out));
  if (!c->closed && !c->live->fleet_target().empty() && peers_) {
    if (!fleet_streams_) {
      fleet_stream_options o;
      o.token = peers_->options().token;
      o.timeout_s = peers_->options().timeout_s;
      o.max_pending = live_max_pending_;
      // A peer heartbeats as this agent does; four missed, and a connect timeout, is a stall.
      o.stall_ms = 4 * live_heartbeat_ms_ + static_cast<std::uint64_t>(o.timeout_s * 1000);
      fleet_streams_ = std::make_unique<fleet_streams>(
          &loop_, *peers_, std::move(o), [this](void* conn) {
            live_flush(static_cast<http_conn*>(conn));
          });
    }
    fleet_streams_->open(c, *c->live);
  }
}

void app::live_publish(const correlate::exchange& x) {
  if (live_conns_.empty()) return;
  live_record_.assign(x);
  live_ready_.clear();
  for (auto* c : live_conns_) {
    const auto dropped = c->live->dropped();
    if (c->live->offer(live_record_, live_max_pending_)) {
      http_stats_.live_events++;
      live_ready_.push_back(c);
    } else if (c->live->dropped() != dropped) {
      http_stats_.live_dropped++;
    }
  }
  // Writing may close a connection (and so change live_conns_): not while iterating it.
  for (auto* c : live_ready_) live_flush(c);
}

namespace {
// Bytes of `c` that libuv holds because the socket would not take them.
std::size_t queued(app::http_conn* c) {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&c->handle));
}
}  // namespace

void app::live_flush(http_conn* c) {
  if (c->closed || queued(c) > 0 || !c->live->has_pending()) return;
  std::string events;
  c->live->take(events);
  std::string out;
  api::append_chunk(events, out);
  http_write(c, std::move(out));
}

void app::on_live_heartbeat(uv_timer_t* t) noexcept {
  auto* self = static_cast<app*>(t->data);
  const auto now = uv_now(&self->loop_);
  std::vector<http_conn*> conns(self->live_conns_.begin(), self->live_conns_.end());
  for (auto* c : conns) {
    if (queued(c) > 0) {
      // No write starts while one is queued, so last_activity_ms is when the stuck one began
      // (reads are ignored on a stream).
      if (now - c->last_activity_ms >= 4 * self->live_heartbeat_ms_) {
        self->http_stats_.live_stalled++;
        log::debug("http conn={} live stream stalled dropped={}", c->id, c->live->dropped());
        self->http_close(c);
      }
      continue;
    }
    try {
      c->live->heartbeat();
      self->live_flush(c);
    } catch (const std::exception& e) {
      log::error("http conn={} dropped: {}", c->id, e.what());
      self->http_close(c);
    }
  }
}

void app::live_stop() {
  if (fleet_streams_) fleet_streams_->stop();
  if (live_timer_on_) uv_close(reinterpret_cast<uv_handle_t*>(&live_timer_), nullptr);
  live_timer_on_ = false;
  std::vector<http_conn*> conns(live_conns_.begin(), live_conns_.end());
  for (auto* c : conns) {
    if (queued(c) == 0) {
      // What the socket takes at once, then the end of the chunked body: a clean end for a
      // client that keeps up, and no wait for one that does not.
      std::string out;
      std::string events;
      c->live->take(events);
      api::append_chunk(events, out);
      api::append_last_chunk(out);
      uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
      uv_try_write(reinterpret_cast<uv_stream_t*>(&c->handle), &buf, 1);
    }
    http_close(c);
  }
}

}  // namespace agent
