// SPDX-License-Identifier: Apache-2.0
#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <exception>
#include <variant>

#include "agent/app.h"
#include "agent/config.h"
#include "agent/log.h"
#include "agent/replay_cmd.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "replay") == 0) return agent::replay_main(argc, argv);
  auto parsed = agent::parse_config(argc, argv);
  if (auto* e = std::get_if<agent::exit_now>(&parsed)) return e->code;
  const auto& cfg = std::get<agent::config>(parsed);
  agent::log::set_level(cfg.log_level);
  // A peer that vanishes mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // A file-size limit (RLIMIT_FSIZE) must fail the write with EFBIG, not kill the process.
  std::signal(SIGXFSZ, SIG_IGN);
  // Every SPOP and HTTP connection is a descriptor: take all the system allows (the soft
  // limit is often 1024 while the hard one is far higher).
  if (rlimit nofile{};
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
      agent::log::warn("cannot raise the descriptor limit to {}", nofile.rlim_max);
    }
  }
  try {
    agent::app a(cfg);
    return a.run();
  } catch (const std::exception& e) {
    agent::log::error("startup failed: {}", e.what());
    return 1;
  }
}
