// SPDX-License-Identifier: Apache-2.0
//
// Helpers of the agent's HTTP tests: the real agent on 127.0.0.1 (ports chosen by the kernel)
// on its own thread, and a blocking HTTP/1.1 client that reads Content-Length and chunked
// answers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agent/app.h"
#include "agent/config.h"
#include "agent/log.h"
#include "test/agent/running_agent.h"
#include "test/common/temp_dir.h"

namespace http_test {

using hep_test::temp_dir;

// `rcvbuf` > 0 sets SO_RCVBUF before connecting: a small window makes a client that does not
// read fill the server's buffers quickly.
inline int connect_to(std::uint16_t port, int rcvbuf = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  if (rcvbuf > 0) REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

struct http_reply {
  int status = 0;
  std::string head;
  std::string body;
  bool chunked = false;
  std::size_t chunks = 0;
};

class conn {
 public:
  explicit conn(std::uint16_t port, int rcvbuf = 0) : fd_(connect_to(port, rcvbuf)) {}
  ~conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;

  void send(std::string_view s) {
    while (!s.empty()) {
      const auto w = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      REQUIRE(w > 0);
      s.remove_prefix(static_cast<std::size_t>(w));
    }
  }
  void send(const std::vector<std::byte>& b) {
    send(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  }

  // Reads more bytes into buf_; false on EOF or after `ms` without data.
  bool fill(int ms = 5000) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, ms) <= 0) return false;
    char tmp[65536];
    const auto r = ::recv(fd_, tmp, sizeof tmp, 0);
    if (r <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(r));
    return true;
  }

  // One response (Content-Length or chunked).
  http_reply reply() {
    http_reply out;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) REQUIRE(fill());
    out.head = buf_.substr(0, end + 2);
    out.status = std::stoi(out.head.substr(9, 3));
    buf_.erase(0, end + 4);
    if (out.head.find("Transfer-Encoding: chunked\r\n") != std::string::npos) {
      out.chunked = true;
      for (;;) {
        std::size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) REQUIRE(fill());
        const auto size = std::stoul(buf_.substr(0, eol), nullptr, 16);
        while (buf_.size() < eol + 2 + size + 2) REQUIRE(fill());
        REQUIRE(buf_.substr(eol + 2 + size, 2) == "\r\n");
        out.body += buf_.substr(eol + 2, size);
        buf_.erase(0, eol + 2 + size + 2);
        if (size == 0) break;
        out.chunks++;
      }
      return out;
    }
    const auto cl = out.head.find("Content-Length: ");
    REQUIRE(cl != std::string::npos);
    const auto len = std::stoul(out.head.substr(cl + 16));
    while (buf_.size() < len) REQUIRE(fill());
    out.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return out;
  }

  // True when the peer closes within 5 s (after any bytes still buffered).
  bool closed_by_peer() {
    for (int i = 0; i < 100; ++i) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 5000) <= 0) return false;
      char c[4096];
      const auto r = ::recv(fd_, c, sizeof c, 0);
      if (r == 0) return true;
      if (r < 0) return errno == ECONNRESET;
    }
    return false;
  }

  std::string& buffered() { return buf_; }

 private:
  int fd_ = -1;
  std::string buf_;
};

inline http_reply request(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::string& headers = "", const std::string& body = "") {
  conn c(port);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + headers;
  if (!body.empty() || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  c.send(req);
  return c.reply();
}

using agent_test::running_agent;

// GET target until it answers 200 (the writer thread stores asynchronously).
inline http_reply poll_until(std::uint16_t port, const std::string& target,
                             const std::string& needle, const std::string& headers = "") {
  http_reply r;
  for (int i = 0; i < 100; ++i) {
    r = request(port, "GET", target, headers);
    if (r.status == 200 && r.body.find(needle) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return r;
}

inline std::uint64_t status_number(std::uint16_t port, const char* group, const char* name) {
  auto r = request(port, "GET", "/status");
  simdjson::dom::parser p;
  std::uint64_t v = 0;
  REQUIRE(p.parse(r.body)[group][name].get(v) == simdjson::SUCCESS);
  return v;
}

}  // namespace http_test
