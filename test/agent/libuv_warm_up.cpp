// SPDX-License-Identifier: Apache-2.0
//
// libuv creates one process-wide pipe the first time a signal handle is initialised (its
// signal lock, uv__signal_global_once_init) and keeps it for the life of the process. Make
// that happen before the first test case, so the descriptor-leak check
// (test/common/fd_leak_listener.cpp) sees it as part of the process, not as a leak.
#include <uv.h>

namespace {

const bool warmed_up = [] {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return false;
  uv_signal_t sig;
  uv_signal_init(&loop, &sig);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0;
}();

}  // namespace
