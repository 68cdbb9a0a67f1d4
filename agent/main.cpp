// SPDX-License-Identifier: Apache-2.0
#include <csignal>
#include <exception>
#include <variant>

#include "agent/app.h"
#include "agent/config.h"
#include "agent/log.h"

int main(int argc, char** argv) {
  auto parsed = agent::parse_config(argc, argv);
  if (auto* e = std::get_if<agent::exit_now>(&parsed)) return e->code;
  const auto& cfg = std::get<agent::config>(parsed);
  agent::log::set_level(cfg.log_level);
  // A peer that vanishes mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    agent::app a(cfg);
    return a.run();
  } catch (const std::exception& e) {
    agent::log::error("startup failed: {}", e.what());
    return 1;
  }
}
