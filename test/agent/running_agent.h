// SPDX-License-Identifier: Apache-2.0
//
// The real agent on its own thread, listening on 127.0.0.1 with ports chosen by the kernel and
// storing into a temporary directory; stopped (and joined) at scope exit.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "agent/app.h"
#include "agent/config.h"
#include "agent/log.h"
#include "test/common/temp_dir.h"

namespace agent_test {

// The agent's configuration for a test: both listeners on 127.0.0.1 with kernel-chosen ports,
// storage under `data_dir`, and only errors logged.
inline agent::config loopback_config(const std::string& data_dir) {
  agent::config cfg;
  cfg.spop_listen = {"127.0.0.1", 0};
  cfg.http_listen = {"127.0.0.1", 0};
  cfg.data_dir = data_dir;
  agent::log::set_level(agent::log::level::error);
  return cfg;
}

struct running_agent {
  hep_test::temp_dir dir;
  agent::config cfg;
  std::unique_ptr<agent::app> app;
  std::thread thread;
  int rc = -1;

  // `tweak` adjusts the config; `prepare` the app before its loop runs (test seams).
  explicit running_agent(const std::function<void(agent::config&)>& tweak = {},
                         const std::function<void(agent::app&)>& prepare = {}) {
    cfg = loopback_config(dir.path().string());
    if (tweak) tweak(cfg);
    app = std::make_unique<agent::app>(cfg);
    if (prepare) prepare(*app);
    thread = std::thread([this] { rc = app->run(); });
  }
  ~running_agent() {
    if (thread.joinable()) stop();
  }
  running_agent(const running_agent&) = delete;
  running_agent& operator=(const running_agent&) = delete;

  int stop() {
    app->request_stop();
    thread.join();
    return rc;
  }
  std::uint16_t port() const { return app->http_port(); }
};

}  // namespace agent_test
