// SPDX-License-Identifier: Apache-2.0
#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "agent/app.h"
#include "agent/connections.h"
#include "agent/log.h"
#include "agent/spop_bridge.h"

namespace agent {

namespace {

constexpr std::size_t initial_buffer = 64 * 1024;
// A peer that stops reading our ACKs while still sending NOTIFYs: stop reading from it until
// its queued replies drain, so one slow connection cannot grow memory without bound.
constexpr std::size_t max_queued_write_bytes = 4 * 1024 * 1024;
constexpr unsigned max_bad_logs = 3;

std::int64_t wall_us() {
  uv_timeval64_t tv{};
  uv_gettimeofday(&tv);
  return tv.tv_sec * 1'000'000 + tv.tv_usec;
}

}  // namespace

void app::spop_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) noexcept {
  auto* conn = static_cast<app::spop_conn*>(h->data);
  // Nothing pending: read into the shared buffer; spop_read keeps only an incomplete tail.
  conn->reading_shared = conn->in_len == 0;
  if (conn->reading_shared) {
    auto& shared = conn->owner->spop_shared_in_;
    if (shared.empty()) shared.resize(initial_buffer);
    buf->base = reinterpret_cast<char*>(shared.data());
    buf->len = shared.size();
    return;
  }
  const std::size_t cap =
      std::max<std::size_t>(conn->session.max_frame_size() + 4u, spop::min_max_frame_size);
  auto& in = conn->in;
  if (in.size() - conn->in_len < std::min(suggested, cap) && in.size() < cap) {
    in.resize(std::min(cap, std::max({in.size() * 2, initial_buffer, conn->in_len + suggested})));
  }
  buf->base = reinterpret_cast<char*>(in.data() + conn->in_len);
  buf->len = in.size() - conn->in_len;
}

void app::start_reading(spop_conn* c) {
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle), &app::spop_alloc,
                [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) noexcept {
                  auto* conn = static_cast<spop_conn*>(s->data);
                  conn->owner->spop_read(conn, nread);
                });
}

void app::on_spop_connection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<app*>(server->data);
  if (status < 0) {
    log::warn("spop accept error={}", uv_err_name(status));
    return;
  }
  spop::session_config sc;
  sc.max_frame_size = self->cfg_.max_frame_size;
  auto* c = new spop_conn(sc);
  c->owner = self;
  c->id = self->next_conn_id_++;
  uv_tcp_init(&self->loop_, &c->handle);
  c->handle.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
             [](uv_handle_t* h) { delete static_cast<spop_conn*>(h->data); });
    return;
  }
  if (self->spop_conns_.size() >= self->cfg_.max_spop_connections && !self->spop_make_room()) {
    if (self->spop_stats_.rejected_connections++ == 0) {
      log::warn("spop connection table full and every connection past its HELLO: refusing "
                "max_spop_connections={}",
                self->cfg_.max_spop_connections);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
             [](uv_handle_t* h) { delete static_cast<spop_conn*>(h->data); });
    return;
  }
  uv_tcp_nodelay(&c->handle, 1);
  self->spop_conns_.insert(c);
  self->spop_stats_.connections_total++;
  c->opened_ms = uv_now(&self->loop_);
  c->waiting_hello = self->spop_waiting_hello_.insert(self->spop_waiting_hello_.end(), c);
  c->in_waiting_hello = true;
  log::debug("spop conn={} open", c->id);

  self->start_reading(c);
}

void app::spop_read(spop_conn* c, ssize_t nread) noexcept {
  if (nread == 0) return;  // EAGAIN
  if (nread < 0) {
    if (nread == UV_EOF) {
      log::debug("spop conn={} closed by peer", c->id);
    } else if (nread == UV_ECONNRESET) {
      // HAProxy 3.1+ closes idle connections with a reset and no DISCONNECT: normal.
      spop_stats_.resets++;
      log::debug("spop conn={} reset by peer", c->id);
    } else if (nread == UV_ENOBUFS) {
      // Cannot happen while the session enforces max-frame-size; treat as a protocol error.
      spop_stats_.read_errors++;
      log::warn("spop conn={} receive buffer full", c->id);
    } else {
      spop_stats_.read_errors++;
      log::warn("spop conn={} read error={}", c->id, uv_err_name(static_cast<int>(nread)));
    }
    spop_close(c);
    return;
  }
  try {
    // ACK latency: from this read to its ACKs handed to the socket (spop_flush's uv_write).
    const std::uint64_t t0 = uv_hrtime();
    const std::uint64_t acks = spop_stats_.acks;
    const auto n = static_cast<std::size_t>(nread);
    if (c->reading_shared) {
      const std::span<const std::byte> data(spop_shared_in_.data(), n);
      const std::size_t used = spop_process(c, data);
      if (used < n && !c->closed) {
        // The start of a frame: keep it until the rest arrives.
        c->in.resize(std::max(n - used, initial_buffer));
        std::memcpy(c->in.data(), data.data() + used, n - used);
        c->in_len = n - used;
        c->frame_started_ms = uv_now(&loop_);
      }
    } else {
      c->in_len += n;
      const std::size_t used = spop_process(c, std::span<const std::byte>(c->in.data(), c->in_len));
      // Keep the unprocessed tail at the front; free the buffer once nothing is pending.
      c->in_len -= used;
      if (c->in_len == 0) {
        std::vector<std::byte>().swap(c->in);
        c->frame_started_ms = 0;
      } else if (used > 0) {
        std::memmove(c->in.data(), c->in.data() + used, c->in_len);
        c->frame_started_ms = uv_now(&loop_);  // progress: the frame timeout starts again
      }
    }
    if (spop_stats_.acks != acks) {
      ack_latency_.observe(static_cast<double>(uv_hrtime() - t0) / 1e9, spop_stats_.acks - acks);
    }
  } catch (const std::exception& e) {
    // Only bad_alloc can get here; drop this connection, keep the process.
    log::error("spop conn={} dropped: {}", c->id, e.what());
    spop_close(c);
  }
}

std::size_t app::spop_process(spop_conn* c, std::span<const std::byte> data) {
  std::size_t off = 0;
  while (!c->session.closing()) {
    auto r = c->session.feed(data.subspan(off), c->out);
    using kind = spop::session::kind;
    if (r.what == kind::need_more) break;
    switch (r.what) {
      case kind::hello:
        if (r.hello.healthcheck) {
          spop_stats_.healthchecks++;
        } else {
          spop_stats_.hello++;
          if (c->in_waiting_hello) {
            spop_waiting_hello_.erase(c->waiting_hello);
            c->in_waiting_hello = false;
          }
          c->engine_id.assign(r.hello.engine_id);
          c->pair_by_stream = !c->engine_id.empty() &&
                              r.hello.capabilities.find("async") != std::string_view::npos;
          log::debug("spop conn={} hello max_frame_size={} caps=\"{}\" engine={}", c->id,
                     r.hello.max_frame_size, r.hello.capabilities, r.hello.engine_id);
        }
        break;
      case kind::notify:
        spop_stats_.notify++;
        spop_stats_.acks++;
        if (cfg_.discard) {
          spop_stats_.messages += r.notify.messages.size();  // --discard: decode + ACK only
        } else {
          handle_notify(c, r.notify);
        }
        break;
      case kind::fragment:
        spop_stats_.fragments++;
        break;
      case kind::disconnect:
        spop_stats_.disconnects_received++;
        spop_stats_.disconnects_sent++;
        log::debug("spop conn={} haproxy disconnect status={} message=\"{}\"", c->id,
                   r.disconnect.status, r.disconnect.message);
        break;
      case kind::skipped:
        spop_stats_.skipped_frames++;
        break;
      case kind::error: {
        spop_stats_.errors++;
        spop_stats_.disconnects_sent++;
        const auto code = static_cast<std::size_t>(r.err.code);
        if (code < spop_stats_.errors_by_status.size()) spop_stats_.errors_by_status[code]++;
        else spop_stats_.errors_other_status++;
        log::warn("spop conn={} status={} reason=\"{}\" off={}", c->id,
                  spop::to_string(r.err.code), r.err.reason, r.err.offset);
        break;
      }
      case kind::need_more:
        break;
    }
    off += r.consumed;
    if (r.what == kind::error) break;
  }
  if (c->session.closing()) c->close_after_write = true;
  spop_flush(c);
  return off;
}

void app::handle_notify(spop_conn* c, const spop::session::notify_info& n) {
  const auto now = wall_us();
  for (const auto& m : n.messages) {
    spop_stats_.messages++;
    auto res = to_event(m, now);
    if (res.error == bridge_error::missing_id) {
      // DESIGN.md: without unique-id-format, 2.x halves pair by engine-id + stream-id; on 3.1+
      // they cannot be paired safely and are stored alone.
      spop_stats_.missing_id++;
      if (spop_stats_.missing_id == 1) {
        log::warn("spop conn={} messages carry no unique_id: set unique-id-format in HAProxy "
                  "and send unique-id (pairing {})",
                  c->id, c->pair_by_stream ? "by engine-id and stream-id" : "disabled");
      }
      const auto fallback = c->pair_by_stream
                                ? fmt::format("engine:{}:{}", c->engine_id, n.stream_id)
                                : fmt::format("noid:{}:{}:{}", c->id, n.stream_id, n.frame_id);
      res = to_event(m, now, fallback);
      if (res.event && !c->pair_by_stream) {
        scratch_.push_back(correlate::make_incomplete(std::move(*res.event)));
        sink(scratch_);
        continue;
      }
    }
    if (res.event) {
      add_event(std::move(*res.event));
      continue;
    }
    if (res.error == bridge_error::not_http) {
      spop_stats_.ignored_messages++;
      continue;
    }
    spop_stats_.bad_messages++;
    if (c->bad_logged < max_bad_logs) {
      c->bad_logged++;
      log::warn("spop conn={} sid={} fid={} message=\"{}\" arg=\"{}\" dropped: {}", c->id,
                n.stream_id, n.frame_id, m.name, res.argument, to_string(res.error));
    }
  }
}

void app::spop_flush(spop_conn* c) {
  if (c->closed) return;
  if (!c->out.empty()) {
    // Everything produced by one read goes out in one write; a frame is never split.
    auto* w = new write_req<std::vector<std::byte>>();
    w->data.swap(c->out);
    w->req.data = c;
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(w->data.data()),
                               static_cast<unsigned>(w->data.size()));
    c->writes_pending++;
    const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->handle), &buf, 1,
                            [](uv_write_t* req, int status) noexcept {
                              auto* conn = static_cast<spop_conn*>(req->data);
                              delete reinterpret_cast<write_req<std::vector<std::byte>>*>(req);
                              conn->writes_pending--;
                              if (status < 0 && status != UV_ECANCELED) {
                                log::debug("spop conn={} write error={}", conn->id,
                                           uv_err_name(status));
                                conn->owner->spop_close(conn);
                                return;
                              }
                              if (conn->writes_pending == 0) {
                                if (conn->close_after_write) {
                                  conn->owner->spop_close(conn);
                                } else if (conn->reading_paused && !conn->closed) {
                                  conn->reading_paused = false;
                                  conn->owner->start_reading(conn);
                                }
                              }
                            });
    if (rc < 0) {
      delete w;
      c->writes_pending--;
      spop_close(c);
      return;
    }
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->handle);
    if (!c->reading_paused && uv_stream_get_write_queue_size(stream) > max_queued_write_bytes) {
      c->reading_paused = true;
      uv_read_stop(stream);
    }
  }
  if (c->close_after_write && c->writes_pending == 0) spop_close(c);
}

bool app::spop_make_room() {
  for (auto* c : spop_waiting_hello_) {
    if (c->closed || c->close_after_write) continue;
    spop_stats_.evicted++;
    log::debug("spop conn={} closed to make room: no HELLO after {} ms", c->id,
               uv_now(&loop_) - c->opened_ms);
    spop_close(c);
    return true;
  }
  return false;
}

void app::spop_timeout(spop_conn* c) {
  if (c->writes_pending > 0) {
    // It does not read what we already sent: a goodbye would wait for ever.
    spop_close(c);
    return;
  }
  c->session.disconnect(c->out, spop::status::timeout);
  spop_stats_.disconnects_sent++;
  c->close_after_write = true;
  spop_flush(c);
}

void app::on_spop_sweep(uv_timer_t* t) noexcept {
  auto* self = static_cast<app*>(t->data);
  const auto now = uv_now(&self->loop_);
  const auto hello_ms = static_cast<std::uint64_t>(self->cfg_.spop_hello_timeout * 1000.0);
  const auto frame_ms = static_cast<std::uint64_t>(self->cfg_.spop_frame_timeout * 1000.0);
  std::vector<spop_conn*> late_hello, late_frame;
  // Oldest first: the walk stops at the first connection still in time.
  for (auto* c : self->spop_waiting_hello_) {
    if (now - c->opened_ms < hello_ms) break;
    if (!c->close_after_write) late_hello.push_back(c);
  }
  for (auto* c : self->spop_conns_) {
    if (c->frame_started_ms != 0 && !c->in_waiting_hello && !c->close_after_write &&
        now - c->frame_started_ms >= frame_ms) {
      late_frame.push_back(c);
    }
  }
  for (auto* c : late_hello) {
    self->spop_stats_.hello_timeouts++;
    log::debug("spop conn={} no HELLO within {} ms", c->id, hello_ms);
    self->spop_timeout(c);
  }
  for (auto* c : late_frame) {
    self->spop_stats_.frame_timeouts++;
    log::debug("spop conn={} frame incomplete for {} ms ({} bytes buffered)", c->id,
               now - c->frame_started_ms, c->in_len);
    self->spop_timeout(c);
  }
}

void app::spop_close(spop_conn* c) {
  if (c->closed) return;
  c->closed = true;
  spop_conns_.erase(c);
  if (c->in_waiting_hello) {
    spop_waiting_hello_.erase(c->waiting_hello);
    c->in_waiting_hello = false;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
           [](uv_handle_t* h) { delete static_cast<spop_conn*>(h->data); });
  // No connection is left to bring the partners the grace period waits for.
  if (in_grace_ && spop_conns_.empty()) uv_async_send(&stop_async_);
}

}  // namespace agent
