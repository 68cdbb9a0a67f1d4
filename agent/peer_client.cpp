// SPDX-License-Identifier: Apache-2.0
#include "agent/peer_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <stdexcept>

namespace agent {

namespace {

constexpr std::string_view dns_prefix = "dns:";

struct easy_free {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct multi_free {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct slist_free {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

bool valid_port(std::string_view s) {
  unsigned port = 0;
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, port);
  return !s.empty() && ec == std::errc() && p == end && port >= 1 && port <= 65535;
}

// One GET in flight.
struct transfer {
  std::unique_ptr<CURL, easy_free> easy;
  std::unique_ptr<curl_slist, slist_free> headers;
  api::peer_reply* reply = nullptr;
  std::size_t max_body = 0;
  bool too_large = false;
  bool done = false;
};

std::size_t on_body(char* p, std::size_t size, std::size_t n, void* user) {
  auto& t = *static_cast<transfer*>(user);
  if (t.reply->body.size() + size * n > t.max_body) {
    t.too_large = true;
    return 0;  // aborts the transfer
  }
  t.reply->body.append(p, size * n);
  return size * n;
}

std::string describe(CURLcode rc, const transfer& t, double timeout_s) {
  if (t.too_large) return "answer too large";
  return peer_error(rc, timeout_s);
}

// "ip:port", with brackets for IPv6.
std::string address_of(const addrinfo* ai, std::string_view port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ai->ai_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, port);
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
  inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
  return fmt::format("{}:{}", buf, port);
}

// Every A/AAAA record of `name`; nothing when it does not resolve (the name may have no pod
// behind it yet), with the reason in `error`.
std::vector<std::string> resolve(const std::string& name, std::string_view port,
                                 std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::vector<std::string> out;
  if (const int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res); rc != 0) {
    error = fmt::format("could not resolve {}: {}", name, gai_strerror(rc));
    return out;
  }
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    auto a = address_of(ai, port);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace

std::string peer_error(int curl_code, double timeout_s) {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_OPERATION_TIMEDOUT:
      return fmt::format("timeout after {}s", timeout_s);
    case CURLE_COULDNT_CONNECT:
      return "connection refused";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "could not resolve host";
    case CURLE_PARTIAL_FILE:  // a chunked body cut short: the peer died mid-answer
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return "connection lost";
    default:
      return curl_easy_strerror(static_cast<CURLcode>(curl_code));
  }
}

std::string answer_instance(void* easy) {
  curl_header* h = nullptr;
  if (curl_easy_header(static_cast<CURL*>(easy), "X-HEP-Instance", 0, CURLH_HEADER, -1, &h) !=
      CURLHE_OK) {
    return {};
  }
  return h->value;
}

void set_peer_request(void* easy, const std::string& url, long connect_timeout_ms,
                      curl_slist* headers) {
  CURL* e = static_cast<CURL*>(easy);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
}

curl_slist* peer_request_headers(const char* accept, const std::string& token) {
  curl_slist* hs = curl_slist_append(nullptr, fmt::format("Accept: {}", accept).c_str());
  if (!token.empty()) hs = curl_slist_append(hs, ("Authorization: Bearer " + token).c_str());
  return hs;
}

void check_peer_entry(const std::string& entry) {
  std::string_view e = entry;
  if (e.starts_with(dns_prefix)) e.remove_prefix(dns_prefix.size());
  const auto colon = e.rfind(':');
  // A host, not a URL: the scheme is always http and the path the route's.
  if (colon == std::string_view::npos || colon == 0 || !valid_port(e.substr(colon + 1)) ||
      e.find_first_of("/?#@ ") != std::string_view::npos) {
    throw std::invalid_argument(fmt::format(
        "invalid peer \"{}\": expected HOST:PORT or dns:NAME:PORT", entry));
  }
}

curl_peer_client::curl_peer_client(peer_options opts) : opts_(std::move(opts)) {
  for (const auto& p : opts_.peers) check_peer_entry(p);
  // Not thread-safe: runs once, at start-up, before any worker could use curl.
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

curl_peer_client::~curl_peer_client() { curl_global_cleanup(); }

curl_peer_client::counters curl_peer_client::stats() const {
  counters c;
  c.fetches = fetches_.load(std::memory_order_relaxed);
  c.requests = requests_.load(std::memory_order_relaxed);
  c.failures = failures_.load(std::memory_order_relaxed);
  c.timeouts = timeouts_.load(std::memory_order_relaxed);
  std::lock_guard lk(mu_);
  c.self = self_.size();
  return c;
}

std::vector<api::peer_reply> curl_peer_client::unresolved() {
  std::lock_guard lk(mu_);
  return unresolved_;
}

void curl_peer_client::mark_self(const std::string& peer) {
  std::lock_guard lk(mu_);
  self_.insert(peer);
}

std::vector<std::string> curl_peer_client::peers() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::string> all;
  {
    std::lock_guard lk(mu_);
    if (has_resolution_ && now - resolved_at_ < opts_.dns_ttl) {
      all = resolved_;
    }
  }
  if (all.empty()) {
    std::vector<api::peer_reply> failed;
    for (const auto& p : opts_.peers) {
      if (!std::string_view(p).starts_with(dns_prefix)) {
        if (std::find(all.begin(), all.end(), p) == all.end()) all.push_back(p);
        continue;
      }
      const std::string_view rest = std::string_view(p).substr(dns_prefix.size());
      const auto colon = rest.rfind(':');
      std::string error;
      auto addrs = resolve(std::string(rest.substr(0, colon)), rest.substr(colon + 1), error);
      if (addrs.empty()) {
        api::peer_reply r;
        r.peer = p;
        r.error = error.empty() ? "no address" : error;
        failed.push_back(std::move(r));
      }
      for (auto& a : addrs) {
        if (std::find(all.begin(), all.end(), a) == all.end()) all.push_back(std::move(a));
      }
    }
    std::lock_guard lk(mu_);
    resolved_ = all;
    unresolved_ = std::move(failed);
    resolved_at_ = now;
    has_resolution_ = true;
  }
  std::lock_guard lk(mu_);
  std::erase_if(all, [this](const std::string& p) { return self_.count(p) > 0; });
  return all;
}

std::vector<api::peer_reply> curl_peer_client::fetch(const std::vector<api::peer_call>& calls,
                                                     bool first_ok) {
  std::vector<api::peer_reply> replies(calls.size());
  fetches_.fetch_add(1, std::memory_order_relaxed);
  requests_.fetch_add(calls.size(), std::memory_order_relaxed);
  std::unique_ptr<CURLM, multi_free> multi(curl_multi_init());
  std::vector<std::unique_ptr<transfer>> ts;
  const auto timeout_ms = static_cast<long>(std::llround(opts_.timeout_s * 1000));
  for (std::size_t i = 0; i < calls.size(); ++i) {
    replies[i].peer = calls[i].peer;
    auto t = std::make_unique<transfer>();
    t->easy.reset(curl_easy_init());
    t->reply = &replies[i];
    t->max_body = opts_.max_body_bytes;
    CURL* e = t->easy.get();
    t->headers.reset(peer_request_headers("application/json", opts_.token));
    set_peer_request(e, "http://" + calls[i].peer + calls[i].target, timeout_ms,
                     t->headers.get());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_multi_add_handle(multi.get(), e);
    ts.push_back(std::move(t));
  }
  // Every easy handle has its own timeout; this deadline only guards the loop itself.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(timeout_ms + 500);
  int running = static_cast<int>(ts.size());
  bool got_ok = false;
  while (running > 0 && !(first_ok && got_ok) && std::chrono::steady_clock::now() < deadline) {
    curl_multi_perform(multi.get(), &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi.get(), &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      transfer* t = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
      t->done = true;
      if (m->data.result == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        t->reply->status = static_cast<int>(code);
        t->reply->instance = answer_instance(m->easy_handle);
        got_ok = got_ok || code == 200;
      } else {
        t->reply->error = describe(m->data.result, *t, opts_.timeout_s);
        t->reply->body.clear();
        failures_.fetch_add(1, std::memory_order_relaxed);
        if (m->data.result == CURLE_OPERATION_TIMEDOUT) {
          timeouts_.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    if (running > 0 && !(first_ok && got_ok)) curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
  }
  for (auto& t : ts) {
    if (!t->done) {
      const bool needed = !(first_ok && got_ok);
      if (needed) {
        failures_.fetch_add(1, std::memory_order_relaxed);
        timeouts_.fetch_add(1, std::memory_order_relaxed);
      }
      t->reply->error = needed ? fmt::format("timeout after {}s", opts_.timeout_s) : "not needed";
      t->reply->body.clear();
      t->reply->status = 0;
    }
    curl_multi_remove_handle(multi.get(), t->easy.get());
  }
  return replies;
}

}  // namespace agent
