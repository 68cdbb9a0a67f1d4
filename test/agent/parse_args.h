// SPDX-License-Identifier: Apache-2.0
//
// agent::parse_config() on an argument list, as main() would see it after the program name.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "agent/config.h"

namespace agent_test {

inline std::variant<agent::config, agent::exit_now> parse_args(std::vector<std::string> args) {
  args.insert(args.begin(), "http-event-processor");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return agent::parse_config(static_cast<int>(argv.size()), argv.data());
}

}  // namespace agent_test
