// SPDX-License-Identifier: Apache-2.0
//
// When each request may go out, relative to the start of the replay. Time is the caller's:
// these are pure functions of the exchange's index and captured time.
#pragma once

#include <cstdint>

namespace replay {

enum class pacing {
  asap,   // as fast as the concurrency allows
  rate,   // `rate` requests per second, evenly spaced
  speed,  // the captured gaps between requests divided by `speed` (1: real time)
};

struct schedule {
  pacing mode = pacing::asap;
  double rate = 0;            // > 0 for pacing::rate
  double speed = 1;           // > 0 for pacing::speed
  std::int64_t first_us = 0;  // captured time of the first exchange (pacing::speed)

  // Microseconds after the start at which exchange `index`, captured at `time_us`, is due.
  // A captured time of 0 (unknown) or before the first is due at once.
  std::int64_t due_us(std::size_t index, std::int64_t time_us) const {
    switch (mode) {
      case pacing::asap:
        return 0;
      case pacing::rate:
        return static_cast<std::int64_t>(static_cast<double>(index) * 1e6 / rate);
      case pacing::speed:
        if (time_us <= first_us) return 0;
        return static_cast<std::int64_t>(static_cast<double>(time_us - first_us) / speed);
    }
    return 0;
  }
};

}  // namespace replay
