// SPDX-License-Identifier: Apache-2.0
//
// The real agent on a real loop, on 127.0.0.1 with ports chosen by the kernel, talked to with
// plain blocking sockets (with timeouts) from the test thread.
#include "agent/app.h"
#include "test/common/temp_dir.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "spop/decoder.h"
#include "spop/encoder.h"

namespace fs = std::filesystem;

namespace {

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

std::pair<int, std::string> http_get(std::uint16_t port, const std::string& target) {
  client c(port);
  c.send("GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n");
  return c.http_response();
}

struct running_agent {
  temp_dir dir;
  agent::config cfg;
  std::unique_ptr<agent::app> app;
  std::thread thread;
  int rc = -1;

  running_agent() {
    cfg.spop_listen = {"127.0.0.1", 0};
    cfg.http_listen = {"127.0.0.1", 0};
    cfg.data_dir = dir.path().string();
    agent::log::set_level(agent::log::level::error);
    app = std::make_unique<agent::app>(cfg);
    thread = std::thread([this] { rc = app->run(); });
  }
  ~running_agent() {
    if (thread.joinable()) stop();
  }
  int stop() {
    app->request_stop();
    thread.join();
    return rc;
  }
};

spop::frame decode(const std::vector<std::byte>& rec) {
  auto r = spop::decode_frame(rec, 1u << 20);
  REQUIRE(r.what == spop::decode_result::kind::frame);
  return r.view;
}

std::uint32_t disconnect_status(const std::vector<std::byte>& rec) {
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
std::vector<std::byte> hello_frame(bool haproxy2 = true) {
  std::vector<std::byte> out;
  spop::encode_haproxy_hello(out, {.supported_versions = "2.0",
                                   .max_frame_size = 16380,
                                   .capabilities = haproxy2 ? "pipelining,async" : "pipelining",
                                   .engine_id = haproxy2 ? "test-engine" : "",
                                   .healthcheck = false});
  return out;
}

std::pair<int, std::string> poll_get(std::uint16_t port, const std::string& target) {
  std::pair<int, std::string> got;
  for (int i = 0; i < 100; ++i) {
    got = http_get(port, target);
    if (got.first == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return got;
}

}  // namespace

TEST_CASE("HAProxy's HELLO, a pipelined request/response pair, then the pair over HTTP",
          "[agent]") {
  running_agent a;
  client spop_client(a.app->spop_port());
  spop_client.send(hello_frame());
  auto hello = decode(spop_client.read_record());
  CHECK(hello.type == spop::frame_type::agent_hello);

  const std::string id = "7F000001:TEST_0001";
  std::vector<spop::kv> req_args = {{"unique_id", spop::make_string(id)},
                                    {"method", spop::make_string("POST")},
                                    {"path", spop::make_string("/api/items")},
                                    {"query", spop::make_string("page=2")},
                                    {"version", spop::make_string("1.1")},
                                    {"req_body", spop::make_binary("{\"a\":1}")}};
  std::vector<spop::kv> res_args = {{"unique_id", spop::make_string(id)},
                                    {"status", spop::make_int64(201)},
                                    {"version", spop::make_string("1.1")}};
  spop::message req{"http-req", req_args};
  spop::message res{"http-res", res_args};
  std::vector<std::byte> frames;
  spop::encode_notify(frames, 7, 1, std::span<const spop::message>(&req, 1));
  spop::encode_notify(frames, 7, 2, std::span<const spop::message>(&res, 1));
  spop_client.send(frames);  // both in flight at once: pipelining

  for (std::uint64_t fid : {1u, 2u}) {
    auto ack = decode(spop_client.read_record());
    CHECK(ack.type == spop::frame_type::ack);
    CHECK(ack.stream_id == 7);
    CHECK(ack.frame_id == fid);
    CHECK(ack.payload.empty());
  }

  // The writer thread stores asynchronously: poll, bounded.
  auto got = poll_get(a.app->http_port(), "/events/" + id);
  REQUIRE(got.first == 200);
  simdjson::dom::parser p;
  auto doc = p.parse(got.second);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  CHECK(std::string_view(doc["id"].get_string().value()) == id);
  CHECK(doc["complete"].get_bool().value());
  CHECK(std::string_view(doc["request"]["method"].get_string().value()) == "POST");
  CHECK(std::string_view(doc["request"]["body"].get_string().value()) == "{\"a\":1}");
  CHECK(doc["response"]["status"].get_int64().value() == 201);

  auto list = http_get(a.app->http_port(), "/events?limit=10");
  REQUIRE(list.first == 200);
  auto ldoc = p.parse(list.second);
  REQUIRE(ldoc.error() == simdjson::SUCCESS);
  CHECK(ldoc["events"].get_array().size() == 1);

  auto status = http_get(a.app->http_port(), "/status");
  REQUIRE(status.first == 200);
  auto sdoc = p.parse(status.second);
  REQUIRE(sdoc.error() == simdjson::SUCCESS);
  CHECK(sdoc["spop"]["notify"].get_uint64().value() == 2);
  CHECK(sdoc["spop"]["acks"].get_uint64().value() == 2);
  CHECK(sdoc["correlator"]["paired"].get_uint64().value() == 1);

  CHECK(a.stop() == 0);
}

TEST_CASE("HAPROXY-DISCONNECT is answered and the connection closed", "[agent]") {
  running_agent a;
  client c(a.app->spop_port());
  c.send(hello_frame());
  REQUIRE_FALSE(c.read_record().empty());
  std::vector<std::byte> bye;
  spop::encode_haproxy_disconnect(bye, spop::status::normal, "normal");
  c.send(bye);
  CHECK(disconnect_status(c.read_record()) == 0);
  CHECK(c.closed_by_peer());
  CHECK(a.stop() == 0);
}

TEST_CASE("a health-check HELLO is answered, then closed", "[agent]") {
  running_agent a;
  client c(a.app->spop_port());
  std::vector<std::byte> hc;
  spop::encode_haproxy_hello(hc, {.supported_versions = "2.0",
                                  .max_frame_size = 16380,
                                  .capabilities = "",
                                  .engine_id = "",
                                  .healthcheck = true});
  c.send(hc);
  CHECK(decode(c.read_record()).type == spop::frame_type::agent_hello);
  CHECK(c.closed_by_peer());
  CHECK(a.stop() == 0);
}

TEST_CASE("bad input closes only its own connection, with the matching status", "[agent]") {
  running_agent a;
  client good(a.app->spop_port());
  good.send(hello_frame());
  REQUIRE_FALSE(good.read_record().empty());

  SECTION("HTTP sent to the SPOP port: frame too big") {
    client c(a.app->spop_port());
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(disconnect_status(c.read_record()) == 3);
    CHECK(c.closed_by_peer());
  }
  SECTION("NOTIFY before HELLO: invalid frame") {
    client c(a.app->spop_port());
    std::vector<std::byte> n;
    spop::encode_notify(n, 1, 1, {});
    c.send(n);
    CHECK(disconnect_status(c.read_record()) == 4);
    CHECK(c.closed_by_peer());
  }
  SECTION("a well-framed NOTIFY with an unusable message is still ACKed") {
    std::vector<spop::kv> args = {{"unique_id", spop::make_string("u")},
                                  {"status", spop::make_string("not a number")}};
    spop::message m{"http-req", args};
    std::vector<std::byte> n;
    spop::encode_notify(n, 3, 1, std::span<const spop::message>(&m, 1));
    good.send(n);
    auto ack = decode(good.read_record());
    CHECK(ack.type == spop::frame_type::ack);
    CHECK(ack.stream_id == 3);
    auto status = http_get(a.app->http_port(), "/status");
    simdjson::dom::parser p;
    auto doc = p.parse(status.second);
    CHECK(doc["spop"]["bad_messages"].get_uint64().value() == 1);
  }

  // The good connection still works.
  std::vector<spop::kv> args = {{"unique_id", spop::make_string("still-ok")},
                                {"status", spop::make_int64(200)}};
  spop::message m{"http-res", args};
  std::vector<std::byte> n;
  spop::encode_notify(n, 9, 2, std::span<const spop::message>(&m, 1));
  good.send(n);
  CHECK(decode(good.read_record()).frame_id == 2);
  CHECK(a.stop() == 0);
}

TEST_CASE("bad HTTP on the API port gets a 400 with a reason", "[agent]") {
  running_agent a;
  client c(a.app->http_port());
  c.send("BLAH\x01 / HTTP/1.1\r\n\r\n");
  auto [status, body] = c.http_response();
  CHECK(status == 400);
  CHECK(body.find("\"error\"") != std::string::npos);
  auto missing = http_get(a.app->http_port(), "/nope");
  CHECK(missing.first == 404);
  CHECK(a.stop() == 0);
}

TEST_CASE("stopping stores halves still waiting as incomplete", "[agent]") {
  {
    running_agent a;
    client c(a.app->spop_port());
    c.send(hello_frame());
    REQUIRE_FALSE(c.read_record().empty());
    std::vector<spop::kv> args = {{"unique_id", spop::make_string("lonely")},
                                  {"method", spop::make_string("GET")},
                                  {"path", spop::make_string("/wait")}};
    spop::message m{"http-req", args};
    std::vector<std::byte> n;
    spop::encode_notify(n, 1, 1, std::span<const spop::message>(&m, 1));
    c.send(n);
    REQUIRE_FALSE(c.read_record().empty());
    // The agent says goodbye on shutdown.
    a.app->request_stop();
    CHECK(disconnect_status(c.read_record()) == 0);
    a.thread.join();
    CHECK(a.rc == 0);
    // Reopen the same data dir: the half is there, incomplete.
    agent::config cfg = a.cfg;
    cfg.data_dir = a.dir.path().string();
    agent::app again(cfg);
    auto again_port = again.http_port();
    std::thread t([&] { again.run(); });
    auto got = http_get(again_port, "/events/lonely");
    again.request_stop();
    t.join();
    REQUIRE(got.first == 200);
    CHECK(got.second.find("\"complete\":false") != std::string::npos);
  }
}

TEST_CASE("without unique_id, 2.x halves pair by engine-id and stream-id", "[agent]") {
  running_agent a;
  client c(a.app->spop_port());
  c.send(hello_frame(true));
  REQUIRE_FALSE(c.read_record().empty());
  std::vector<spop::kv> req_args = {{"method", spop::make_string("GET")},
                                    {"path", spop::make_string("/no-id")}};
  std::vector<spop::kv> res_args = {{"status", spop::make_int64(204)}};
  spop::message req{"http-req", req_args};
  spop::message res{"http-res", res_args};
  std::vector<std::byte> frames;
  spop::encode_notify(frames, 5, 1, std::span<const spop::message>(&req, 1));
  spop::encode_notify(frames, 5, 2, std::span<const spop::message>(&res, 1));
  c.send(frames);
  REQUIRE_FALSE(c.read_record().empty());
  REQUIRE_FALSE(c.read_record().empty());
  auto got = poll_get(a.app->http_port(), "/events/engine:test-engine:5");
  REQUIRE(got.first == 200);
  CHECK(got.second.find("\"complete\":true") != std::string::npos);
  CHECK(got.second.find("\"status\":204") != std::string::npos);
  CHECK(a.stop() == 0);
}

TEST_CASE("without unique_id, 3.x halves are stored unpaired and counted", "[agent]") {
  running_agent a;
  client c(a.app->spop_port());
  c.send(hello_frame(false));
  REQUIRE_FALSE(c.read_record().empty());
  std::vector<spop::kv> req_args = {{"method", spop::make_string("GET")},
                                    {"path", spop::make_string("/no-id")}};
  spop::message req{"http-req", req_args};
  std::vector<std::byte> frames;
  spop::encode_notify(frames, 1, 1, std::span<const spop::message>(&req, 1));
  c.send(frames);
  REQUIRE_FALSE(c.read_record().empty());
  auto list = poll_get(a.app->http_port(), "/events?limit=5");
  for (int i = 0; i < 100 && list.second.find("/no-id") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    list = http_get(a.app->http_port(), "/events?limit=5");
  }
  CHECK(list.second.find("\"path\":\"/no-id\"") != std::string::npos);
  CHECK(list.second.find("\"complete\":false") != std::string::npos);
  auto status = http_get(a.app->http_port(), "/status");
  simdjson::dom::parser p;
  auto doc = p.parse(status.second);
  CHECK(doc["spop"]["missing_id"].get_uint64().value() == 1);
  CHECK(doc["correlator"]["pending"].get_uint64().value() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("with --kafka-brokers, every stored exchange is also delivered to Kafka", "[agent]") {
  temp_dir dir;
  agent::config cfg;
  cfg.spop_listen = {"127.0.0.1", 0};
  cfg.http_listen = {"127.0.0.1", 0};
  cfg.data_dir = dir.path().string();
  // librdkafka's mock cluster, started inside the producer: real Kafka protocol over loopback.
  cfg.kafka_brokers = "mock";
  cfg.kafka_options = {"test.mock.num.brokers=3"};
  agent::log::set_level(agent::log::level::error);
  agent::app app(cfg);
  int rc = -1;
  std::thread t([&] { rc = app.run(); });

  client c(app.spop_port());
  c.send(hello_frame());
  REQUIRE_FALSE(c.read_record().empty());
  std::vector<std::byte> frames;
  for (int i = 0; i < 10; ++i) {
    const std::string id = "kafka-" + std::to_string(i);
    std::vector<spop::kv> req_args = {{"unique_id", spop::make_string(id)},
                                      {"method", spop::make_string("GET")}};
    std::vector<spop::kv> res_args = {{"unique_id", spop::make_string(id)},
                                      {"status", spop::make_int64(200)}};
    spop::message req{"http-req", req_args};
    spop::message res{"http-res", res_args};
    const auto sid = static_cast<std::uint64_t>(i);
    spop::encode_notify(frames, sid, 1, std::span<const spop::message>(&req, 1));
    spop::encode_notify(frames, sid, 2, std::span<const spop::message>(&res, 1));
  }
  c.send(frames);
  for (int i = 0; i < 20; ++i) REQUIRE_FALSE(c.read_record().empty());

  simdjson::dom::parser p;
  std::uint64_t delivered = 0;
  for (int i = 0; i < 200 && delivered < 10; ++i) {
    auto status = http_get(app.http_port(), "/status");
    auto doc = p.parse(status.second);
    REQUIRE(doc.error() == simdjson::SUCCESS);
    delivered = doc["kafka"]["delivered"].get_uint64().value();
    if (delivered < 10) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(delivered == 10);
  auto status = http_get(app.http_port(), "/status");
  auto doc = p.parse(status.second);
  CHECK(doc["kafka"]["failed"].get_uint64().value() == 0);
  CHECK(doc["kafka"]["dropped"].get_uint64().value() == 0);
  CHECK(doc["storage"]["submitted"].get_uint64().value() == 10);
  app.request_stop();
  t.join();
  CHECK(rc == 0);
}
