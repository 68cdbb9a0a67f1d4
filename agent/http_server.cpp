// SPDX-License-Identifier: Apache-2.0
//
// The HTTP API listener. Requests are parsed by api::request_parser and answered by
// api::router: cheap routes (and POST /http-events, whose events go to the correlator) on the
// loop thread, routes that read the disk on libuv's thread pool. A streamed body (HAR,
// NDJSON) is pulled from its api::body_producer one piece at a time on the thread pool and
// written as chunks, the next piece produced only after the previous one is written.
// GET /events/stream holds its connection for Server-Sent Events (live_stream.cpp).
// A full connection table makes room rather than refusing (as nginx reuses keep-alive
// connections): a new connection closes the one idle longest, else one whose request has
// been trickling in for over a second; only when every connection is being answered is the
// new one closed at once. A periodic sweep closes connections silent for
// --http-first-byte-timeout, answers 408 to requests not complete within
// --http-request-timeout, and closes keep-alive connections idle (or responses stalled) for
// --http-idle-timeout. --probe-listen is a second listener with a table of its own that
// serves only the probe routes, so that no flood of the API port reaches Kubernetes' probes.
#include <algorithm>
#include <exception>

#include "agent/app.h"
#include "agent/connections.h"
#include "agent/log.h"

namespace agent {

namespace {

// A request still arriving after this long may be closed to make room for a new connection:
// a client on a working network sends a whole request well within it.
constexpr std::uint64_t slow_request_ms = 1'000;

// A job on libuv's thread pool: either answering a blocking route, or producing the next
// piece of a streamed body.
struct http_work {
  uv_work_t req{};
  app::http_conn* conn = nullptr;
  const api::router* router = nullptr;
  api::request request;
  api::response response;
  // Streaming: the producer (owned by the connection) and what it produced.
  api::body_producer* producer = nullptr;
  std::string piece;
  bool more = false;
  bool failed = false;
  // Runs on the loop thread after the job, unless the connection was closed meanwhile
  // (app::http_after_work).
  void (*done)(app::http_conn* conn, http_work& work) = nullptr;
};

std::uint64_t to_ms(double seconds) { return static_cast<std::uint64_t>(seconds * 1000.0); }

}  // namespace

void app::on_http_connection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<app*>(server->data);
  if (status < 0) {
    log::warn("http accept error={}", uv_err_name(status));
    return;
  }
  api::parser_limits limits;
  limits.max_body_bytes = self->cfg_.max_request_bytes;
  auto* c = new http_conn(limits);
  c->owner = self;
  c->id = self->next_conn_id_++;
  uv_tcp_init(&self->loop_, &c->handle);
  c->handle.data = c;
  const auto drop = [](uv_handle_t* h) { delete static_cast<http_conn*>(h->data); };
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), drop);
    return;
  }
  c->probe = server == reinterpret_cast<uv_stream_t*>(&self->probe_server_);
  const std::size_t open =
      c->probe ? self->probe_conns_ : self->http_conns_.size() - self->probe_conns_;
  const auto cap = c->probe ? self->cfg_.max_probe_connections : self->cfg_.max_http_connections;
  if (open >= cap && !self->http_make_room(c->probe)) {
    // Accepting and closing at once keeps the backlog from filling with clients that would
    // wait for nothing.
    if (self->http_stats_.rejected_connections++ == 0) {
      log::warn(
          "http connection table full and every connection busy: refusing "
          "max_connections={} probe={}",
          cap, c->probe);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), drop);
    return;
  }
  uv_tcp_nodelay(&c->handle, 1);
  self->http_conns_.insert(c);
  if (c->probe) {
    self->probe_conns_++;
    self->http_stats_.probe_connections_total++;
  } else {
    self->http_stats_.connections_total++;
  }
  c->last_activity_ms = uv_now(&self->loop_);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->handle),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
        auto* conn = static_cast<http_conn*>(h->data);
        auto& b = conn->owner->http_read_buf_;
        buf->base = b.data();
        buf->len = b.size();
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
        auto* conn = static_cast<http_conn*>(s->data);
        conn->owner->http_read(conn, nread, buf);
      });
}

void app::http_read(http_conn* c, ssize_t nread, const uv_buf_t* buf) noexcept {
  if (nread == 0) return;
  if (nread < 0) {
    if (nread != UV_EOF && nread != UV_ECONNRESET) {
      log::debug("http conn={} read error={}", c->id, uv_err_name(static_cast<int>(nread)));
    }
    // Letting an in-flight response finish writing is pointless: the peer is gone.
    http_close(c);
    return;
  }
  // A live stream reads only to notice the peer leaving; whatever it sends is ignored.
  if (c->live) return;
  try {
    const auto now = uv_now(&loop_);
    c->last_activity_ms = now;
    c->any_byte = true;
    c->in.append(buf->base, static_cast<std::size_t>(nread));
    http_process(c);
    if (c->request_started_ms == 0 && !c->closed && (c->parser.in_message() || !c->in.empty())) {
      c->request_started_ms = now;
    }
  } catch (const std::exception& e) {
    log::error("http conn={} dropped: {}", c->id, e.what());
    http_close(c);
  }
}

void app::http_process(http_conn* c) {
  while (!c->busy && !c->closed && !c->close_after_write && !c->in.empty()) {
    auto r = c->parser.feed(c->in);
    using kind = api::request_parser::kind;
    if (r.what == kind::need_more) {
      c->in.erase(0, r.consumed);
      break;
    }
    if (r.what == kind::error) {
      http_stats_.bad_requests++;
      log::debug("http conn={} bad request status={} reason=\"{}\"", c->id, r.status, r.reason);
      auto resp = api::error_response(r.status, r.reason);
      resp.close = true;
      http_send(c, resp, false);
      return;
    }
    c->in.erase(0, r.consumed);
    c->request_started_ms = 0;
    http_stats_.requests++;
    api::request req = std::move(c->parser.current());
    if (stopping_) {
      auto resp = api::error_response(503, "shutting down");
      resp.close = true;
      http_send(c, resp, false);
      return;
    }
    if (c->probe && !api::router::probe_route(req.path)) {
      http_send(c,
                api::error_response(404,
                                    "not found: the probe listener serves /healthz, "
                                    "/readyz, /status and /metrics only"),
                req.keep_alive);
      continue;
    }
    if (!api::router::blocking(req)) {
      const bool keep_alive = req.keep_alive;
      auto resp = router_->handle(req);
      if (resp.live) {
        live_open(c, std::move(resp));
        return;
      }
      http_send(c, resp, keep_alive);
      continue;
    }
    // Disk reads happen on the thread pool; later requests of this connection wait their turn.
    c->busy = true;
    c->in_work = true;
    auto* w = new http_work();
    w->conn = c;
    w->router = router_.get();
    w->request = std::move(req);
    w->req.data = w;
    w->done = [](http_conn* conn, http_work& work) {
      auto* self = conn->owner;
      if (work.response.stream) {
        self->http_start_stream(conn, std::move(work.response), work.request.keep_alive);
      } else {
        conn->busy = false;
        self->http_send(conn, work.response, work.request.keep_alive);
        self->http_process(conn);
      }
    };
    uv_queue_work(
        &loop_, &w->req,
        [](uv_work_t* job) {
          auto* work = static_cast<http_work*>(job->data);
          try {
            work->response = work->router->handle(work->request);
          } catch (const std::exception& e) {
            work->response = api::error_response(500, e.what());
          }
        },
        &app::http_after_work);
    return;
  }
}

void app::http_start_stream(http_conn* c, api::response&& r, bool keep_alive) {
  http_stats_.responses_2xx++;
  http_stats_.streamed_responses++;
  const bool close = r.close || !keep_alive || stopping_;
  std::string head;
  api::append_response(r, !close, head);
  c->stream = std::move(r.stream);
  c->stream_close = close;
  http_write(c, std::move(head));  // its write callback asks for the first piece
}

void app::http_stream_next(http_conn* c) {
  if (stopping_) {
    // A long export must not hold the shutdown: the client gets a cut chunked body.
    http_close(c);
    return;
  }
  c->in_work = true;
  auto* w = new http_work();
  w->conn = c;
  w->producer = c->stream.get();
  w->req.data = w;
  w->done = [](http_conn* conn, http_work& work) {
    auto* self = conn->owner;
    if (work.failed) {
      // The head is gone already: ending the connection is the only honest signal.
      log::warn("http conn={} streamed body failed", conn->id);
      self->http_close(conn);
      return;
    }
    std::string out;
    api::append_chunk(work.piece, out);
    if (!work.more) {
      api::append_last_chunk(out);
      conn->stream.reset();
      conn->busy = false;
      if (conn->stream_close) conn->close_after_write = true;
    }
    self->http_write(conn, std::move(out));
    if (!work.more && !conn->closed) self->http_process(conn);
  };
  uv_queue_work(
      &loop_, &w->req,
      [](uv_work_t* job) {
        auto* work = static_cast<http_work*>(job->data);
        try {
          work->more = work->producer->next(work->piece);
        } catch (const std::exception&) {
          work->failed = true;
        }
      },
      &app::http_after_work);
}

// Back on the loop thread after a thread-pool job: the connection was kept alive for the job
// (in_work); free it if it was closed meanwhile, else let the job's `done` continue.
void app::http_after_work(uv_work_t* job, int) noexcept {
  auto* work = static_cast<http_work*>(job->data);
  auto* conn = work->conn;
  conn->in_work = false;
  if (conn->freed_by_work) {
    delete conn;
  } else if (!conn->closed) {
    try {
      work->done(conn, *work);
    } catch (const std::exception& e) {
      log::error("http conn={} dropped: {}", conn->id, e.what());
      conn->owner->http_close(conn);
    }
  }
  delete work;
}

void app::http_write(http_conn* c, std::string&& bytes) {
  auto* w = new write_req<std::string>();
  w->data = std::move(bytes);
  w->req.data = c;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  c->writes_pending++;
  c->last_activity_ms = uv_now(&loop_);
  const int rc =
      uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->handle), &buf, 1,
               [](uv_write_t* req, int status) noexcept {
                 auto* conn = static_cast<http_conn*>(req->data);
                 delete reinterpret_cast<write_req<std::string>*>(req);
                 conn->writes_pending--;
                 if (conn->closed) return;
                 conn->last_activity_ms = uv_now(conn->handle.loop);
                 if (status < 0 || (conn->close_after_write && conn->writes_pending == 0)) {
                   conn->owner->http_close(conn);
                 } else if (conn->stream && !conn->in_work && conn->writes_pending == 0) {
                   conn->owner->http_stream_next(conn);
                 } else if (conn->live) {
                   conn->owner->live_flush(conn);  // what waited for the socket
                 }
               });
  if (rc < 0) {
    delete w;
    c->writes_pending--;
    http_close(c);
  }
}

void app::http_send(http_conn* c, const api::response& r, bool keep_alive) {
  if (r.status >= 500)
    http_stats_.responses_5xx++;
  else if (r.status >= 400)
    http_stats_.responses_4xx++;
  else if (r.status >= 300)
    http_stats_.responses_3xx++;
  else
    http_stats_.responses_2xx++;

  const bool close = r.close || !keep_alive || stopping_;
  std::string out;
  api::append_response(r, !close, out);
  if (close) c->close_after_write = true;
  http_write(c, std::move(out));
}

bool app::http_make_room(bool probe) {
  // A linear scan: it runs only while the table is full, over at most the cap (1024 by
  // default), which costs microseconds next to the accept itself.
  const auto now = uv_now(&loop_);
  http_conn* idle = nullptr;
  http_conn* slow = nullptr;
  for (auto* c : http_conns_) {
    if (c->probe != probe || c->busy || c->live || c->writes_pending > 0 || c->close_after_write) {
      continue;
    }
    if (c->request_started_ms == 0) {
      if (idle == nullptr || c->last_activity_ms < idle->last_activity_ms) idle = c;
    } else if (now - c->request_started_ms >= slow_request_ms &&
               (slow == nullptr || c->request_started_ms < slow->request_started_ms)) {
      slow = c;
    }
  }
  if (idle != nullptr) {
    http_stats_.evicted_idle++;
    log::debug("http conn={} closed to make room (idle)", idle->id);
    http_close(idle);
    return true;
  }
  if (slow != nullptr) {
    http_stats_.evicted_slow++;
    log::debug("http conn={} closed to make room (request trickling in for {} ms)", slow->id,
               now - slow->request_started_ms);
    http_close(slow);
    return true;
  }
  return false;
}

void app::on_http_sweep(uv_timer_t* t) noexcept {
  auto* self = static_cast<app*>(t->data);
  const auto now = uv_now(&self->loop_);
  const auto timeout = to_ms(self->cfg_.http_request_timeout);
  const auto first_byte = to_ms(self->cfg_.http_first_byte_timeout);
  const auto idle = to_ms(self->cfg_.http_idle_timeout);
  std::vector<http_conn*> late, silent, idle_conns, stalled;
  for (auto* c : self->http_conns_) {
    if (c->live || c->close_after_write) continue;  // live streams time out on their own
    if (c->writes_pending > 0) {
      // A client that stops reading its response must not hold a slot for ever.
      if (now - c->last_activity_ms >= idle) stalled.push_back(c);
      continue;
    }
    if (c->busy) continue;
    if (c->request_started_ms != 0) {
      if (now - c->request_started_ms >= timeout) late.push_back(c);
    } else if (!c->any_byte) {
      if (now - c->last_activity_ms >= first_byte) silent.push_back(c);
    } else if (now - c->last_activity_ms >= idle) {
      idle_conns.push_back(c);
    }
  }
  for (auto* c : late) {
    self->http_stats_.timeouts++;
    log::debug("http conn={} request timeout", c->id);
    auto resp = api::error_response(408, "request timeout");
    resp.close = true;
    try {
      self->http_send(c, resp, false);
    } catch (const std::exception&) {
      self->http_close(c);
    }
  }
  for (auto* c : silent) {
    self->http_stats_.first_byte_timeouts++;
    self->http_close(c);
  }
  for (auto* c : idle_conns) {
    self->http_stats_.idle_closed++;
    self->http_close(c);
  }
  for (auto* c : stalled) {
    self->http_stats_.write_stalled++;
    log::debug("http conn={} response stalled: nothing written for {} ms", c->id,
               now - c->last_activity_ms);
    self->http_close(c);
  }
}

void app::http_close(http_conn* c) {
  if (c->closed) return;
  c->closed = true;
  if (http_conns_.erase(c) != 0 && c->probe) probe_conns_--;
  if (live_conns_.erase(c) != 0 && fleet_streams_) fleet_streams_->close(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), [](uv_handle_t* h) {
    auto* conn = static_cast<http_conn*>(h->data);
    // A thread-pool job still holds the connection: it frees it when it comes back.
    if (conn->in_work)
      conn->freed_by_work = true;
    else
      delete conn;
  });
}

}  // namespace agent
