// SPDX-License-Identifier: Apache-2.0
#include "agent/fleet_stream.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <exception>

#include "agent/log.h"
#include "api/fleet.h"
#include "api/sse_reader.h"

namespace agent {

enum class upstream_state { connecting, open, failed, gone };

struct fleet_streams::upstream {
  fleet_streams* owner = nullptr;
  subscription* sub = nullptr;
  std::string peer;
  CURL* easy = nullptr;  // set while a transfer runs
  curl_slist* headers = nullptr;
  api::sse_reader reader;
  upstream_state state = upstream_state::connecting;
  std::string error;     // why it failed last; kept while it is asked again
  std::string abort;     // set by a callback that aborts the transfer: the reason
  bool checked_status = false;
  std::uint64_t started_ms = 0;
  std::uint64_t last_byte_ms = 0;
  std::uint64_t retry_at_ms = 0;
};

struct fleet_streams::subscription {
  void* client = nullptr;
  api::event_stream* stream = nullptr;
  std::map<std::string, std::unique_ptr<upstream>> ups;  // by peer
  bool announced = false;
  bool changed = true;  // an upstream changed state since the last announce()
  bool closing = false;  // close() came from inside libcurl: after_curl() finishes it
  std::string last_notice;
};

struct fleet_streams::poll_ctx {
  uv_poll_t poll{};
  fleet_streams* owner = nullptr;
  curl_socket_t fd = CURL_SOCKET_BAD;
};

struct fleet_streams::refresh_work {
  uv_work_t req{};
  fleet_streams* owner = nullptr;  // null once stop() let go of it
  curl_peer_client* peers = nullptr;
  std::vector<std::string> list;
  std::vector<api::peer_reply> unresolved;
};

namespace {

CURLM* as_multi(void* m) { return static_cast<CURLM*>(m); }

}  // namespace

fleet_streams::fleet_streams(uv_loop_t* loop, curl_peer_client& peers, fleet_stream_options o,
                             flush_fn flush)
    : loop_(loop), peers_(peers), opts_(std::move(o)), flush_(std::move(flush)) {}

fleet_streams::~fleet_streams() {
  // stop() closed everything that needs the loop; what is left is memory only.
  if (multi_ != nullptr) curl_multi_cleanup(as_multi(multi_));
}

fleet_streams::counters fleet_streams::stats() const {
  counters c = stats_;
  c.streams_active = subs_.size();
  c.upstreams_active = 0;
  for (const auto& [client, s] : subs_) {
    for (const auto& [peer, u] : s->ups) c.upstreams_active += u->easy != nullptr ? 1u : 0u;
  }
  return c;
}

void fleet_streams::ensure_timers() {
  if (timers_on_) return;
  multi_ = curl_multi_init();
  curl_multi_setopt(as_multi(multi_), CURLMOPT_SOCKETFUNCTION, &fleet_streams::on_socket);
  curl_multi_setopt(as_multi(multi_), CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(as_multi(multi_), CURLMOPT_TIMERFUNCTION, &fleet_streams::on_curl_timer);
  curl_multi_setopt(as_multi(multi_), CURLMOPT_TIMERDATA, this);
  uv_timer_init(loop_, &curl_timer_);
  curl_timer_.data = this;
  uv_timer_init(loop_, &tick_);
  tick_.data = this;
  // Connection timeouts, retries and the peer list's refresh are checked 4 times a second.
  uv_timer_start(&tick_, &fleet_streams::on_tick, 250, 250);
  timers_on_ = true;
}

void fleet_streams::open(void* client, api::event_stream& stream) {
  if (stopped_) return;
  ensure_timers();
  auto s = std::make_unique<subscription>();
  s->client = client;
  s->stream = &stream;
  auto& sub = *s;
  subs_[client] = std::move(s);
  stats_.streams++;
  if (known_once_) reconcile(sub);
  if (!known_once_ || now() - known_at_ >= opts_.refresh_ms) refresh();
  after_curl();
}

void fleet_streams::close(void* client) {
  const auto it = subs_.find(client);
  if (it == subs_.end()) return;
  if (in_curl_) {
    // A write that failed while relaying closed the client: libcurl forbids removing a
    // transfer from inside its callbacks, so nothing more is relayed and after_curl() ends it.
    it->second->closing = true;
    closing_.push_back(client);
    return;
  }
  for (auto& [peer, u] : it->second->ups) {
    if (u->easy != nullptr) {
      curl_multi_remove_handle(as_multi(multi_), u->easy);
      curl_easy_cleanup(u->easy);
      curl_slist_free_all(u->headers);
    }
  }
  subs_.erase(it);
  std::erase(ready_, client);
}

void fleet_streams::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::vector<void*> clients;
  for (const auto& [client, s] : subs_) clients.push_back(client);
  for (auto* c : clients) close(c);
  // The pool thread may still be resolving; its completion finds no owner and frees itself.
  if (refreshing_ != nullptr) refreshing_->owner = nullptr;
  refreshing_ = nullptr;
  if (timers_on_) {
    // Closes the sockets libcurl keeps for reuse; their uv_poll_t close through on_socket().
    curl_multi_cleanup(as_multi(multi_));
    multi_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&curl_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    timers_on_ = false;
  }
}

void fleet_streams::refresh() {
  if (refreshing_ != nullptr || stopped_) return;
  auto* w = new refresh_work;
  w->owner = this;
  w->peers = &peers_;
  w->req.data = w;
  refreshing_ = w;
  const int rc = uv_queue_work(
      loop_, &w->req,
      [](uv_work_t* req) {
        auto* work = static_cast<refresh_work*>(req->data);
        // getaddrinfo() for dns: peers: why this runs on the thread pool.
        work->list = work->peers->peers();
        work->unresolved = work->peers->unresolved();
      },
      [](uv_work_t* req, int) {
        auto* work = static_cast<refresh_work*>(req->data);
        fleet_streams* self = work->owner;
        if (self != nullptr) {
          self->refreshing_ = nullptr;
          self->known_ = std::move(work->list);
          self->unresolved_ = std::move(work->unresolved);
          self->known_once_ = true;
          self->known_at_ = self->now();
          for (auto& [client, s] : self->subs_) self->reconcile(*s);
          self->after_curl();
        }
        delete work;
      });
  if (rc != 0) {
    refreshing_ = nullptr;
    delete w;
    log::error("fleet stream: cannot read the peer list: {}", uv_strerror(rc));
  }
}

void fleet_streams::reconcile(subscription& s) {
  for (const auto& p : known_) {
    if (s.ups.count(p) != 0) continue;
    auto u = std::make_unique<upstream>();
    u->owner = this;
    u->sub = &s;
    u->peer = p;
    auto& ref = *u;
    s.ups.emplace(p, std::move(u));
    start(ref);
  }
  // A peer no longer listed (its pod is gone) is no longer asked, nor reported.
  for (auto it = s.ups.begin(); it != s.ups.end();) {
    if (std::find(known_.begin(), known_.end(), it->first) != known_.end()) {
      ++it;
      continue;
    }
    if (it->second->easy != nullptr) {
      curl_multi_remove_handle(as_multi(multi_), it->second->easy);
      curl_easy_cleanup(it->second->easy);
      curl_slist_free_all(it->second->headers);
    }
    it = s.ups.erase(it);
  }
  s.changed = true;
}

void fleet_streams::start(upstream& u) {
  u.reader.reset();
  u.abort.clear();
  u.checked_status = false;
  u.state = upstream_state::connecting;
  u.started_ms = u.last_byte_ms = now();
  u.easy = curl_easy_init();
  u.headers = peer_request_headers("text/event-stream", opts_.token);
  CURL* e = u.easy;
  set_peer_request(e, "http://" + u.peer + u.sub->stream->fleet_target(),
                   static_cast<long>(std::llround(opts_.timeout_s * 1000)), u.headers);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &fleet_streams::on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &u);
  curl_easy_setopt(e, CURLOPT_PRIVATE, &u);
  curl_multi_add_handle(as_multi(multi_), e);
  stats_.upstream_opens++;
}

void fleet_streams::finish(upstream& u, std::string error) {
  if (u.easy != nullptr) {
    curl_multi_remove_handle(as_multi(multi_), u.easy);
    curl_easy_cleanup(u.easy);
    curl_slist_free_all(u.headers);
    u.easy = nullptr;
    u.headers = nullptr;
  }
  u.sub->changed = true;
  if (u.state == upstream_state::gone) return;
  log::debug("fleet stream: peer {} failed: {}", u.peer, error);
  u.state = upstream_state::failed;
  u.error = std::move(error);
  u.retry_at_ms = now() + opts_.retry_ms;
  stats_.upstream_failures++;
}

std::size_t fleet_streams::on_data(char* p, std::size_t size, std::size_t n, void* user) {
  auto& u = *static_cast<upstream*>(user);
  auto* self = u.owner;
  if (u.sub->closing) return size * n;  // its client is gone; the transfer ends after this
  auto& stream = *u.sub->stream;
  u.last_byte_ms = self->now();
  if (!u.checked_status) {
    long code = 0;
    curl_easy_getinfo(u.easy, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
      u.abort = fmt::format("HTTP {}", code);
      return 0;
    }
    if (answer_instance(u.easy) == self->peers_.instance()) {
      // This agent, behind one of its peers' addresses: its own exchanges are here already.
      self->peers_.mark_self(u.peer);
      u.state = upstream_state::gone;
      return 0;  // aborts the transfer
    }
    u.checked_status = true;
  }
  bool queued = false;
  const bool ok = u.reader.feed(std::string_view(p, size * n), [&](const api::sse_event& ev) {
    if (ev.type == "exchange") {
      if (u.state != upstream_state::open) return;  // nothing comes before "ready"
      if (stream.relay(ev.data, self->opts_.max_pending)) {
        self->stats_.relayed++;
        queued = true;
      } else {
        self->stats_.relay_dropped++;
      }
    } else if (ev.type == "ready") {
      u.state = upstream_state::open;
      u.error.clear();
      u.sub->changed = true;
    } else if (ev.type == "dropped") {
      thread_local simdjson::dom::parser parser;
      std::uint64_t dropped = 0;
      const simdjson::padded_string data(ev.data);
      if (parser.parse(data)["dropped"].get(dropped) == simdjson::SUCCESS && dropped > 0) {
        stream.add_dropped(dropped);
        queued = true;
      }
    }
  });
  if (!ok) {
    u.abort = "bad event stream: " + u.reader.error();
    return 0;
  }
  // Written at once while the client's socket takes it, as live_publish() does: a burst that
  // libcurl reads in one go must not wait in the bound until it returns.
  if (queued) self->flush_now(u.sub->client);
  return size * n;
}

void fleet_streams::flush_now(void* client) {
  try {
    flush_(client);
  } catch (const std::exception& e) {
    log::error("fleet stream: flush failed: {}", e.what());
  }
}

void fleet_streams::announce(subscription& s) {
  if (!s.changed || !known_once_ || s.closing) return;
  std::size_t open = 0;
  std::vector<api::peer_reply> failed = unresolved_;
  for (const auto& [peer, u] : s.ups) {
    if (u->state == upstream_state::open) {
      open++;
    } else if (!u->error.empty()) {
      // Failed, or connecting again after failing: still failed for the client.
      api::peer_reply r;
      r.peer = peer;
      r.error = u->error;
      failed.push_back(std::move(r));
    } else if (u->state == upstream_state::connecting) {
      return;  // the first answer is still awaited
    }
  }
  s.changed = false;
  std::string notice = fmt::format("{{\"peers\":{},\"partial\":{},\"peers_failed\":{}}}", open,
                                   failed.empty() ? "false" : "true",
                                   api::failed_peers_json(failed));
  if (s.announced && notice == s.last_notice) return;
  s.announced = true;
  s.stream->notice("peers", notice);
  s.last_notice = std::move(notice);
  ready_.push_back(s.client);
}

void fleet_streams::after_curl() {
  std::vector<void*> closing;
  closing.swap(closing_);
  for (void* c : closing) close(c);
  if (multi_ != nullptr) {
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(as_multi(multi_), &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      upstream* u = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &u);
      const CURLcode rc = m->data.result;
      std::string error = !u->abort.empty() ? u->abort
                          : rc == CURLE_OK  ? std::string("stream ended")
                                            : peer_error(rc, opts_.timeout_s);
      if (rc == CURLE_OK && !u->checked_status) {
        long code = 0;  // an answer with no body never reached on_data()
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200) error = fmt::format("HTTP {}", code);
      }
      finish(*u, std::move(error));
      if (u->state == upstream_state::gone) {
        const std::string peer = u->peer;
        std::erase(known_, peer);  // peers() leaves it out from now on too
        u->sub->ups.erase(peer);
      }
    }
  }
  for (auto& [client, s] : subs_) announce(*s);
  // Flushing may close a client (a failed write), which close()s it here: work on a copy.
  std::vector<void*> ready;
  ready.swap(ready_);
  std::sort(ready.begin(), ready.end());
  ready.erase(std::unique(ready.begin(), ready.end()), ready.end());
  for (void* c : ready) {
    if (subs_.count(c) != 0) flush_now(c);
  }
}

int fleet_streams::on_socket(void* /*easy*/, int fd, int what, void* user, void* ctx_ptr) {
  auto* self = static_cast<fleet_streams*>(user);
  auto* ctx = static_cast<poll_ctx*>(ctx_ptr);
  if (what == CURL_POLL_REMOVE) {
    if (ctx != nullptr) {
      uv_poll_stop(&ctx->poll);
      uv_close(reinterpret_cast<uv_handle_t*>(&ctx->poll),
               [](uv_handle_t* h) { delete static_cast<poll_ctx*>(h->data); });
      if (self->multi_ != nullptr) curl_multi_assign(as_multi(self->multi_), fd, nullptr);
    }
    return 0;
  }
  if (ctx == nullptr) {
    ctx = new poll_ctx;
    ctx->owner = self;
    ctx->fd = fd;
    if (uv_poll_init_socket(self->loop_, &ctx->poll, fd) != 0) {
      delete ctx;
      return -1;  // libcurl fails the transfer
    }
    ctx->poll.data = ctx;
    curl_multi_assign(as_multi(self->multi_), fd, ctx);
  }
  int events = 0;
  if ((what & CURL_POLL_IN) != 0) events |= UV_READABLE;
  if ((what & CURL_POLL_OUT) != 0) events |= UV_WRITABLE;
  uv_poll_start(&ctx->poll, events, &fleet_streams::on_poll);
  return 0;
}

int fleet_streams::on_curl_timer(void* /*multi*/, long timeout_ms, void* user) {
  auto* self = static_cast<fleet_streams*>(user);
  if (timeout_ms < 0) {
    uv_timer_stop(&self->curl_timer_);
  } else {
    // Never call libcurl back from inside its own callback: a timer, even for 0 ms.
    uv_timer_start(&self->curl_timer_, &fleet_streams::on_curl_timeout,
                   static_cast<std::uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void fleet_streams::on_poll(uv_poll_t* h, int status, int events) noexcept {
  auto* ctx = static_cast<poll_ctx*>(h->data);
  auto* self = ctx->owner;
  if (self->multi_ == nullptr) return;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if ((events & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
  if ((events & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
  int running = 0;
  self->in_curl_ = true;
  curl_multi_socket_action(as_multi(self->multi_), ctx->fd, flags, &running);
  self->in_curl_ = false;
  self->after_curl();
}

void fleet_streams::on_curl_timeout(uv_timer_t* t) noexcept {
  auto* self = static_cast<fleet_streams*>(t->data);
  if (self->multi_ == nullptr) return;
  int running = 0;
  self->in_curl_ = true;
  curl_multi_socket_action(as_multi(self->multi_), CURL_SOCKET_TIMEOUT, 0, &running);
  self->in_curl_ = false;
  self->after_curl();
}

void fleet_streams::on_tick(uv_timer_t* t) noexcept {
  auto* self = static_cast<fleet_streams*>(t->data);
  const auto now = self->now();
  const auto timeout_ms = static_cast<std::uint64_t>(std::llround(self->opts_.timeout_s * 1000));
  for (auto& [client, s] : self->subs_) {
    for (auto& [peer, u] : s->ups) {
      if (u->easy != nullptr && u->state == upstream_state::connecting &&
          now - u->started_ms >= timeout_ms) {
        self->finish(*u, fmt::format("timeout after {}s", self->opts_.timeout_s));
      } else if (u->easy != nullptr && now - u->last_byte_ms >= self->opts_.stall_ms) {
        self->finish(*u, fmt::format("stalled: nothing for {}s", self->opts_.stall_ms / 1000));
      } else if (u->easy == nullptr && u->state == upstream_state::failed &&
                 now >= u->retry_at_ms) {
        self->start(*u);
      }
    }
  }
  if (!self->subs_.empty() && now - self->known_at_ >= self->opts_.refresh_ms) self->refresh();
  self->after_curl();
}

}  // namespace agent
