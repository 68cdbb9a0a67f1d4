// SPDX-License-Identifier: Apache-2.0
//
// `http-event-processor replay ...`: sends captured exchanges again to a target and compares
// the answers (docs/replay.md). The HTTP client is libcurl's multi interface; everything else
// (reading the capture, building requests, comparing, the report) is replay/.
#pragma once

namespace agent {

// argv[1] is "replay". Returns the process's exit status: 0 when every response matched the
// capture (beyond the ignore rules), 1 when some differ, 2 when a request failed or the
// capture could not be read, CLI11's code (>= 100) for a bad flag or value, 0 after --help.
int replay_main(int argc, char** argv);

}  // namespace agent
