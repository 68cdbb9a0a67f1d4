// SPDX-License-Identifier: Apache-2.0
//
// The client side of GET /events/stream in the agent's tests: the head, then the chunked body
// decoded as it arrives and cut into Server-Sent Events messages.
#pragma once

#include <atomic>
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "test/agent/http_client.h"

namespace http_test {

struct sse_event {
  std::string event;  // "exchange", "ready", "dropped", ...; "comment" for ": text"
  std::string data;
};

// One stream. No Catch2 assertion after the constructor, so that a thread may read.
class sse_client {
 public:
  sse_client(std::uint16_t port, const std::string& target, const std::string& headers = "",
             int rcvbuf = 0)
      : c_(port, rcvbuf) {
    c_.send("GET " + target + " HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n");
    std::size_t end;
    while ((end = c_.buffered().find("\r\n\r\n")) == std::string::npos) REQUIRE(c_.fill());
    head = c_.buffered().substr(0, end + 2);
    status = std::stoi(head.substr(9, 3));
    c_.buffered().erase(0, end + 4);
  }

  // The next message, waiting up to `ms` for bytes; nothing on a timeout or at the end.
  std::optional<sse_event> next(int ms = 5000) {
    for (;;) {
      decode();
      if (const auto end = body_.find("\n\n"); end != std::string::npos) {
        sse_event e;
        std::string_view block(body_.data(), end);
        while (!block.empty()) {
          const auto eol = block.find('\n');
          const auto line = block.substr(0, eol);
          block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 1);
          if (line.starts_with(": ")) {
            e.event = "comment";
            e.data = line.substr(2);
          } else if (line.starts_with("event: ")) {
            e.event = line.substr(7);
          } else if (line.starts_with("data: ")) {
            e.data = line.substr(6);
          }
        }
        body_.erase(0, end + 2);
        if (!e.event.empty()) return e;
        continue;  // "retry:" alone
      }
      if (ended || !c_.fill(ms)) return std::nullopt;
    }
  }

  int status = 0;
  std::string head;
  bool ended = false;  // the last chunk came

 private:
  void decode() {
    auto& in = c_.buffered();
    while (!ended) {
      const auto eol = in.find("\r\n");
      if (eol == std::string::npos) return;
      const auto size = std::stoul(in.substr(0, eol), nullptr, 16);
      if (in.size() < eol + 2 + size + 2) return;
      body_.append(in, eol + 2, size);
      in.erase(0, eol + 2 + size + 2);
      ended = size == 0;
    }
  }

  conn c_;
  std::string body_;
};

// Reads `s` on a thread until `n` exchanges came, or 10 s passed without a message: counts the
// exchanges and the "dropped" notices. Joined by join() (or the destructor).
class counting_reader {
 public:
  counting_reader(sse_client& s, int n)
      : thread_([this, &s, n] {
          while (exchanges < n) {
            auto e = s.next(10000);
            if (!e) return;
            if (e->event == "exchange") exchanges++;
            if (e->event == "dropped") drops++;
          }
        }) {}
  ~counting_reader() { join(); }
  counting_reader(const counting_reader&) = delete;
  counting_reader& operator=(const counting_reader&) = delete;
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  std::atomic<int> exchanges{0};
  std::atomic<int> drops{0};

 private:
  std::thread thread_;
};

}  // namespace http_test
