// SPDX-License-Identifier: Apache-2.0
//
// A counting global operator new/delete for the micro benchmarks: every allocation made by the
// benchmark thread is counted (thread-local, so the counters cost no atomic operation).
#pragma once

#include <cstdint>

namespace bench {

struct alloc_counts {
  std::uint64_t allocations = 0;
  std::uint64_t bytes = 0;
};

// The counts of the calling thread so far.
alloc_counts allocations();

}  // namespace bench
