// SPDX-License-Identifier: Apache-2.0
//
// The real agent on a real loop, on 127.0.0.1 with ports chosen by the kernel, and plain
// blocking socket clients (with timeouts) for the test thread to talk to it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/app.h"
#include "spop/decoder.h"
#include "spop/encoder.h"
#include "test/agent/running_agent.h"
#include "test/common/temp_dir.h"

namespace agent_test {

using hep_test::temp_dir;

class client {
 public:
  explicit client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~client() { ::close(fd_); }

  void send(const void* data, std::size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
      const auto w = ::send(fd_, p, n, MSG_NOSIGNAL);
      REQUIRE(w > 0);
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  void send(const std::vector<std::byte>& b) { send(b.data(), b.size()); }
  void send(std::string_view s) { send(s.data(), s.size()); }

  // Reads exactly n bytes; false on EOF or after 5 s without data.
  bool read_exact(void* dst, std::size_t n) {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 5000) <= 0) return false;
      const auto r = ::recv(fd_, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }

  // One SPOP record (length prefix included), or empty on EOF/timeout.
  std::vector<std::byte> read_record() {
    std::vector<std::byte> rec(4);
    if (!read_exact(rec.data(), 4)) return {};
    const std::uint32_t len = (std::to_integer<std::uint32_t>(rec[0]) << 24) |
                              (std::to_integer<std::uint32_t>(rec[1]) << 16) |
                              (std::to_integer<std::uint32_t>(rec[2]) << 8) |
                              std::to_integer<std::uint32_t>(rec[3]);
    rec.resize(4 + len);
    if (!read_exact(rec.data() + 4, len)) return {};
    return rec;
  }

  // True when the peer closed (EOF) within 5 s.
  bool closed_by_peer() {
    char c;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 5000) <= 0) return false;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

  // Reads an HTTP/1.1 response with Content-Length; returns status and body.
  std::pair<int, std::string> http_response() {
    std::string data;
    char buf[4096];
    while (true) {
      auto end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        auto cl = data.find("Content-Length: ");
        REQUIRE(cl != std::string::npos);
        const auto len = std::stoul(data.substr(cl + 16));
        if (data.size() >= end + 4 + len) {
          return {std::stoi(data.substr(9, 3)), data.substr(end + 4, len)};
        }
      }
      pollfd pfd{fd_, POLLIN, 0};
      REQUIRE(::poll(&pfd, 1, 5000) > 0);
      const auto r = ::recv(fd_, buf, sizeof buf, 0);
      REQUIRE(r > 0);
      data.append(buf, static_cast<std::size_t>(r));
    }
  }

 private:
  int fd_ = -1;
};

inline std::pair<int, std::string> http_get(std::uint16_t port, const std::string& target) {
  client c(port);
  c.send("GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n");
  return c.http_response();
}

inline spop::frame decode(const std::vector<std::byte>& rec) {
  auto r = spop::decode_frame(rec, 1u << 20);
  REQUIRE(r.what == spop::decode_result::kind::frame);
  return r.view;
}

inline std::uint32_t disconnect_status(const std::vector<std::byte>& rec) {
  auto f = decode(rec);
  REQUIRE(f.type == spop::frame_type::agent_disconnect);
  std::uint32_t status = 9999;
  std::vector<spop::kv> kvs;
  REQUIRE_FALSE(spop::decode_kv_list(f.payload, kvs));
  for (const auto& kv : kvs) {
    if (kv.name == "status-code") status = static_cast<std::uint32_t>(kv.value.u64);
  }
  return status;
}

// HAProxy 2.x offers async and sends an engine-id; 3.1+ offers pipelining only.
inline std::vector<std::byte> hello_frame(bool haproxy2 = true) {
  std::vector<std::byte> out;
  spop::encode_haproxy_hello(out, {.supported_versions = "2.0",
                                   .max_frame_size = 16380,
                                   .capabilities = haproxy2 ? "pipelining,async" : "pipelining",
                                   .engine_id = haproxy2 ? "test-engine" : "",
                                   .healthcheck = false});
  return out;
}

inline std::pair<int, std::string> poll_get(std::uint16_t port, const std::string& target) {
  std::pair<int, std::string> got;
  for (int i = 0; i < 100; ++i) {
    got = http_get(port, target);
    if (got.first == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return got;
}

}  // namespace agent_test
