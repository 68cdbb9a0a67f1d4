// SPDX-License-Identifier: Apache-2.0
#include <exception>

#include "agent/app.h"
#include "agent/connections.h"
#include "agent/log.h"

namespace agent {

namespace {

// A blocking route (/events reads the disk) handled on libuv's thread pool.
struct http_work {
  uv_work_t req{};
  app::http_conn* conn = nullptr;
  const api::router* router = nullptr;
  api::request request;
  api::response response;
};

}  // namespace

void app::on_http_connection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<app*>(server->data);
  if (status < 0) {
    log::warn("http accept error={}", uv_err_name(status));
    return;
  }
  auto* c = new http_conn(api::parser_limits{});
  c->owner = self;
  c->id = self->next_conn_id_++;
  uv_tcp_init(&self->loop_, &c->handle);
  c->handle.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
             [](uv_handle_t* h) { delete static_cast<http_conn*>(h->data); });
    return;
  }
  uv_tcp_nodelay(&c->handle, 1);
  self->http_conns_.insert(c);
  self->http_stats_.connections_total++;
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
    // Let an in-flight response finish writing is pointless: the peer is gone.
    http_close(c);
    return;
  }
  try {
    c->in.append(buf->base, static_cast<std::size_t>(nread));
    http_process(c);
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
    http_stats_.requests++;
    api::request req = std::move(c->parser.current());
    if (stopping_) {
      auto resp = api::error_response(503, "shutting down");
      resp.close = true;
      http_send(c, resp, false);
      return;
    }
    if (!api::router::blocking(req)) {
      const bool keep_alive = req.keep_alive;
      http_send(c, router_->handle(req), keep_alive);
      continue;
    }
    // Disk reads happen on the thread pool; later requests of this connection wait their turn.
    c->busy = true;
    auto* w = new http_work();
    w->conn = c;
    w->router = router_.get();
    w->request = std::move(req);
    w->req.data = w;
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
        [](uv_work_t* job, int) noexcept {
          auto* work = static_cast<http_work*>(job->data);
          auto* conn = work->conn;
          conn->busy = false;
          if (conn->freed_by_work) {
            delete conn;
          } else if (!conn->closed) {
            auto* self = conn->owner;
            try {
              self->http_send(conn, work->response, work->request.keep_alive);
              self->http_process(conn);
            } catch (const std::exception& e) {
              log::error("http conn={} dropped: {}", conn->id, e.what());
              self->http_close(conn);
            }
          }
          delete work;
        });
    return;
  }
}

void app::http_send(http_conn* c, const api::response& r, bool keep_alive) {
  if (r.status >= 500) http_stats_.responses_5xx++;
  else if (r.status >= 400) http_stats_.responses_4xx++;
  else if (r.status >= 300) http_stats_.responses_3xx++;
  else http_stats_.responses_2xx++;

  const bool close = r.close || !keep_alive || stopping_;
  auto* w = new write_req<std::string>();
  api::append_response(r, !close, w->data);
  w->req.data = c;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  c->writes_pending++;
  if (close) c->close_after_write = true;
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->handle), &buf, 1,
                          [](uv_write_t* req, int status) noexcept {
                            auto* conn = static_cast<http_conn*>(req->data);
                            delete reinterpret_cast<write_req<std::string>*>(req);
                            conn->writes_pending--;
                            if (status < 0 ||
                                (conn->close_after_write && conn->writes_pending == 0)) {
                              conn->owner->http_close(conn);
                            }
                          });
  if (rc < 0) {
    delete w;
    c->writes_pending--;
    http_close(c);
  }
}

void app::http_close(http_conn* c) {
  if (c->closed) return;
  c->closed = true;
  http_conns_.erase(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), [](uv_handle_t* h) {
    auto* conn = static_cast<http_conn*>(h->data);
    // A thread-pool job still holds the connection: it frees it when it comes back.
    if (conn->busy) conn->freed_by_work = true;
    else delete conn;
  });
}

}  // namespace agent
