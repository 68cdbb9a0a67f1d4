// SPDX-License-Identifier: Apache-2.0
#include "agent/log.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace agent::log {

namespace {
std::atomic<level> g_level{level::info};
}

std::string_view to_string(level l) {
  switch (l) {
    case level::error:
      return "error";
    case level::warn:
      return "warn";
    case level::info:
      return "info";
    case level::debug:
      return "debug";
  }
  return "info";
}

std::optional<level> parse_level(std::string_view s) {
  for (level l : {level::error, level::warn, level::info, level::debug}) {
    if (s == to_string(l)) return l;
  }
  if (s == "warning") return level::warn;
  return std::nullopt;
}

void set_level(level l) { g_level.store(l, std::memory_order_relaxed); }
level current_level() { return g_level.load(std::memory_order_relaxed); }

void detail::write(level l, fmt::string_view format, fmt::format_args args) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  fmt::memory_buffer buf;
  fmt::format_to(std::back_inserter(buf), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ms, to_string(l));
  fmt::vformat_to(std::back_inserter(buf), format, args);
  buf.push_back('\n');
  // One fwrite per line keeps lines whole when several threads log.
  std::fwrite(buf.data(), 1, buf.size(), stderr);
}

}  // namespace agent::log
