// SPDX-License-Identifier: Apache-2.0
//
// Routes of the HTTP API: GET /events, GET /events/{id}, GET /status, GET /healthz.
// Unknown path -> 404 JSON; known path, wrong method -> 405 with Allow.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "storage/store.h"

namespace api {

struct metric {
  std::string_view name;  // snake_case, e.g. "notify_frames"
  std::uint64_t value = 0;
  bool gauge = false;
};

struct metric_group {
  std::string_view name;  // "spop", "correlator", "storage", "http", "process"
  std::vector<metric> metrics;
};

// Returns a snapshot of every counter. Called on the loop thread only.
using status_fn = std::function<std::vector<metric_group>()>;

class router {
 public:
  // `status` is only called from handle() for /status; `version` goes into /status.
  router(const storage::store& store, status_fn status, std::string version);

  // True when handling `r` reads the disk and so must run off the loop thread.
  static bool blocking(const request& r);

  // Builds the response for `r`. Thread-safe for blocking routes; non-blocking routes
  // (/status, /healthz, errors) must be handled on the loop thread.
  response handle(const request& r) const;

 private:
  const storage::store& store_;
  status_fn status_;
  std::string version_;
};

}  // namespace api
