// SPDX-License-Identifier: Apache-2.0
//
// The real agent on a real loop, on 127.0.0.1 with ports chosen by the kernel, talked to with
// plain blocking sockets (with timeouts) from the test thread.
#include <simdjson.h>

#include <filesystem>
#include <random>

#include "test/agent/harness.h"

namespace fs = std::filesystem;

using namespace agent_test;

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
  auto cfg = loopback_config(dir.path().string());
  // librdkafka's mock cluster, started inside the producer: real Kafka protocol over loopback.
  cfg.kafka_brokers = "mock";
  cfg.kafka_options = {"test.mock.num.brokers=3"};
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

TEST_CASE("request_stop() is harmless before run() and after run() returned", "[agent]") {
  // An embedder may ask to stop at any time, from any thread: before the loop runs (it then
  // stops at once), and after it returned (nothing left to stop; the wake-up handle is closed,
  // and libuv aborts on a send to a closed loop).
  temp_dir dir;
  agent::app app(loopback_config(dir.path().string()));
  app.request_stop();
  CHECK(app.run() == 0);
  app.request_stop();
  app.request_stop();
  SUCCEED("no abort");
}
