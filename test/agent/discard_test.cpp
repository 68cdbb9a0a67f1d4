// SPDX-License-Identifier: Apache-2.0
//
// --discard (the benchmarks' "decode + ACK only" mode): every NOTIFY is still decoded and ACKed,
// but nothing reaches the correlator or the store.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/app.h"
#include "agent/config.h"
#include "spop/decoder.h"
#include "spop/encoder.h"
#include "test/agent/parse_args.h"
#include "test/agent/running_agent.h"

namespace fs = std::filesystem;

namespace {

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

void send_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const auto w = ::send(fd, p, n, MSG_NOSIGNAL);
    REQUIRE(w > 0);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Reads until `n` bytes arrived (5 s without data fails).
std::string read_n(int fd, std::size_t n) {
  std::string s;
  char buf[4096];
  while (s.size() < n) {
    pollfd pfd{fd, POLLIN, 0};
    REQUIRE(::poll(&pfd, 1, 5000) > 0);
    const auto r = ::recv(fd, buf, std::min(sizeof buf, n - s.size()), 0);
    REQUIRE(r > 0);
    s.append(buf, static_cast<std::size_t>(r));
  }
  return s;
}

spop::frame read_frame(int fd, std::string& keep) {
  keep = read_n(fd, 4);
  const auto* u = reinterpret_cast<const unsigned char*>(keep.data());
  const std::size_t len = (std::size_t{u[0]} << 24) | (std::size_t{u[1]} << 16) |
                          (std::size_t{u[2]} << 8) | std::size_t{u[3]};
  keep += read_n(fd, len);
  auto r = spop::decode_frame(std::as_bytes(std::span<const char>(keep.data(), keep.size())),
                              1u << 20);
  REQUIRE(r.what == spop::decode_result::kind::frame);
  return r.view;
}

// GET /status; the body (Content-Length framed).
std::string get_status(std::uint16_t port) {
  const int fd = connect_to(port);
  const std::string req = "GET /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  send_all(fd, req.data(), req.size());
  std::string data;
  char buf[4096];
  while (true) {
    pollfd pfd{fd, POLLIN, 0};
    REQUIRE(::poll(&pfd, 1, 5000) > 0);
    const auto r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    data.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  const auto end = data.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  return data.substr(end + 4);
}

}  // namespace

TEST_CASE("discard mode is off by default and set by --discard", "[agent]") {
  auto off = agent_test::parse_args({});
  REQUIRE(std::holds_alternative<agent::config>(off));
  CHECK_FALSE(std::get<agent::config>(off).discard);
  auto on = agent_test::parse_args({"--discard"});
  REQUIRE(std::holds_alternative<agent::config>(on));
  CHECK(std::get<agent::config>(on).discard);
}

TEST_CASE("with --discard, NOTIFYs are ACKed but nothing is paired or stored", "[agent]") {
  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("hep-discard-test-" + std::to_string(rd()));
  fs::create_directories(dir);
  auto cfg = agent_test::loopback_config(dir.string());
  cfg.discard = true;
  auto app = std::make_unique<agent::app>(cfg);
  int rc = -1;
  std::thread t([&] { rc = app->run(); });

  const int fd = connect_to(app->spop_port());
  std::vector<std::byte> out;
  spop::encode_haproxy_hello(out, {.supported_versions = "2.0",
                                   .max_frame_size = 16380,
                                   .capabilities = "pipelining,async",
                                   .engine_id = "e",
                                   .healthcheck = false});
  const std::vector<spop::kv> req_args = {{"unique_id", spop::make_string("D-1")},
                                          {"method", spop::make_string("GET")},
                                          {"path", spop::make_string("/")}};
  const std::vector<spop::kv> res_args = {{"unique_id", spop::make_string("D-1")},
                                          {"status", spop::make_int64(200)}};
  const spop::message req{"http-req", req_args};
  const spop::message res{"http-res", res_args};
  spop::encode_notify(out, 3, 1, std::span<const spop::message>(&req, 1));
  spop::encode_notify(out, 3, 2, std::span<const spop::message>(&res, 1));
  send_all(fd, out.data(), out.size());

  std::string keep;
  CHECK(read_frame(fd, keep).type == spop::frame_type::agent_hello);
  for (std::uint64_t fid : {1u, 2u}) {
    auto ack = read_frame(fd, keep);
    CHECK(ack.type == spop::frame_type::ack);
    CHECK(ack.stream_id == 3);
    CHECK(ack.frame_id == fid);
  }
  ::close(fd);

  simdjson::dom::parser p;
  const auto body = get_status(app->http_port());
  auto doc = p.parse(body);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  CHECK(doc["spop"]["notify"].get_uint64().value() == 2);
  CHECK(doc["spop"]["acks"].get_uint64().value() == 2);
  CHECK(doc["spop"]["messages"].get_uint64().value() == 2);
  CHECK(doc["correlator"]["requests"].get_uint64().value() == 0);
  CHECK(doc["correlator"]["responses"].get_uint64().value() == 0);
  CHECK(doc["storage"]["submitted"].get_uint64().value() == 0);

  app->request_stop();
  t.join();
  CHECK(rc == 0);
  app.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}
