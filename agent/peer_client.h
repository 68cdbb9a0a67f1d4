// SPDX-License-Identifier: Apache-2.0
//
// The HTTP side of the fleet read (api/fleet.h): GETs to the other replicas with libcurl's
// multi interface, all in parallel, bounded by --peer-timeout. It runs on the thread-pool
// worker that serves the route, never on the loop thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/fleet.h"

struct curl_slist;  // <curl/curl.h>

namespace agent {

struct peer_options {
  // "host:port", "[v6]:port", or "dns:NAME:PORT": every A/AAAA record of NAME, resolved
  // again when the last resolution is older than dns_ttl.
  std::vector<std::string> peers;
  double timeout_s = 2;  // whole request, connection included
  std::string token;     // sent as "Authorization: Bearer <token>" when not empty
  std::string instance;  // this agent's instance id
  std::chrono::milliseconds dns_ttl{5000};
  std::size_t max_body_bytes = 256u << 20;  // a bigger answer fails as "answer too large"
};

class curl_peer_client final : public api::peer_client {
 public:
  // Throws std::invalid_argument for a malformed entry of opts.peers.
  explicit curl_peer_client(peer_options opts);
  ~curl_peer_client() override;

  std::vector<std::string> peers() override;
  std::vector<api::peer_reply> unresolved() override;
  std::vector<api::peer_reply> fetch(const std::vector<api::peer_call>& calls,
                                     bool first_ok) override;
  const std::string& instance() const override { return opts_.instance; }
  const peer_options& options() const { return opts_; }
  void mark_self(const std::string& peer) override;

  // For /status and /metrics (group "peers"). Thread-safe.
  struct counters {
    std::uint64_t fetches = 0;    // fan-outs (one per fleet page or lookup)
    std::uint64_t requests = 0;   // GETs sent to peers
    std::uint64_t failures = 0;   // GETs without an HTTP answer (timeouts included)
    std::uint64_t timeouts = 0;
    std::uint64_t self = 0;       // gauge: peer addresses known to be this agent
  };
  counters stats() const;

 private:
  peer_options opts_;
  mutable std::mutex mu_;
  std::set<std::string> self_;                 // peers known to be this agent
  std::vector<std::string> resolved_;          // the last resolution of opts_.peers
  std::vector<api::peer_reply> unresolved_;    // its dns: entries without an address
  std::chrono::steady_clock::time_point resolved_at_{};
  bool has_resolution_ = false;
  std::atomic<std::uint64_t> fetches_{0}, requests_{0}, failures_{0}, timeouts_{0};
};

// Checks one --peers entry: "host:port" or "dns:NAME:PORT". Throws std::invalid_argument.
void check_peer_entry(const std::string& entry);

// How a failed call to a peer is named in "peers_failed": "timeout after 2s", "connection
// refused", ... for a CURLcode.
std::string peer_error(int curl_code, double timeout_s);

// The X-HEP-Instance header of the answer `easy` (a CURL*) is receiving or received, read
// with libcurl's header API; "" when there is none yet.
std::string answer_instance(void* easy);

// What every call to a peer sets on its easy handle `easy` (a CURL*): the URL, http only, the
// path as given, no signals, `connect_timeout_ms`, and `headers` (peer_request_headers()).
void set_peer_request(void* easy, const std::string& url, long connect_timeout_ms,
                      curl_slist* headers);

// The request headers of every call to a peer: "Accept: <accept>", and the bearer token when
// there is one. The caller frees the list (curl_slist_free_all).
curl_slist* peer_request_headers(const char* accept, const std::string& token);

}  // namespace agent
