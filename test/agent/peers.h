// SPDX-License-Identifier: Apache-2.0
//
// Peers for the fleet tests on 127.0.0.1: an address, a port that listens and never answers,
// and a port nothing listens on.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

namespace peers_test {

inline std::string addr(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A TCP port on 127.0.0.1 that listens (the kernel completes handshakes) and never answers.
struct silent_listener {
  int fd = -1;
  std::uint16_t port = 0;
  silent_listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~silent_listener() { ::close(fd); }
};

// A port nothing listens on: bound once, then closed.
inline std::uint16_t closed_port() {
  silent_listener l;
  return l.port;
}

}  // namespace peers_test
