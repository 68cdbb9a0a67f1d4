// SPDX-License-Identifier: Apache-2.0
//
// Linked into every unit-test executable: after each test case, every file descriptor the
// test opened must be closed again (sockets of the agent under test, segment files, Kafka
// clients). A leak prints the descriptors and what they point to, and fails the process with
// status 70. Descriptors are given two seconds to close (threads that close them on their own
// schedule, such as librdkafka's, finish within that).
#include <dirent.h>
#include <unistd.h>

// Listener and reporter types are part of the external interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

namespace {

std::map<int, std::string> open_descriptors() {
  std::map<int, std::string> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  const int own = ::dirfd(dir);
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    char target[512];
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    fds[fd] = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
  }
  ::closedir(dir);
  return fds;
}

struct fd_leak_listener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(const Catch::TestCaseInfo&) override { before_ = open_descriptors(); }

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    std::map<int, std::string> leaked;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    do {
      leaked.clear();
      for (const auto& [fd, target] : open_descriptors()) {
        if (!before_.contains(fd)) leaked.emplace(fd, target);
      }
      if (leaked.empty()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    std::fprintf(stderr, "descriptor leak: test case \"%s\" left %zu descriptor(s) open:\n",
                 stats.testInfo.name.c_str(), leaked.size());
    for (const auto& [fd, target] : leaked)
      std::fprintf(stderr, "  fd %d -> %s\n", fd, target.c_str());
    std::fflush(stderr);
    std::_Exit(70);
  }

 private:
  std::map<int, std::string> before_;
};

}  // namespace

CATCH_REGISTER_LISTENER(fd_leak_listener)
