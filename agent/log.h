// SPDX-License-Identifier: Apache-2.0
//
// One line per event, key=value, on stderr: `warn spop conn=12 status=4 reason="..."`.
// Format strings are checked at compile time by {fmt} (C++20 consteval format_string).
#pragma once

#include <fmt/core.h>

#include <optional>
#include <string_view>

namespace agent::log {

enum class level { error = 0, warn = 1, info = 2, debug = 3 };

std::string_view to_string(level l);
std::optional<level> parse_level(std::string_view s);  // "error", "warn", "info", "debug"

void set_level(level l);
level current_level();

namespace detail {
void write(level l, fmt::string_view format, fmt::format_args args);
}

template <typename... T>
void error(fmt::format_string<T...> f, T&&... args) {
  detail::write(level::error, f, fmt::make_format_args(args...));
}
template <typename... T>
void warn(fmt::format_string<T...> f, T&&... args) {
  if (current_level() >= level::warn) detail::write(level::warn, f, fmt::make_format_args(args...));
}
template <typename... T>
void info(fmt::format_string<T...> f, T&&... args) {
  if (current_level() >= level::info) detail::write(level::info, f, fmt::make_format_args(args...));
}
template <typename... T>
void debug(fmt::format_string<T...> f, T&&... args) {
  if (current_level() >= level::debug) {
    detail::write(level::debug, f, fmt::make_format_args(args...));
  }
}

}  // namespace agent::log
