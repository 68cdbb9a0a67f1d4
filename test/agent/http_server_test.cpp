// SPDX-License-Identifier: Apache-2.0
//
// The HTTP side of the real agent on 127.0.0.1 (ports chosen by the kernel): legacy ingestion
// pairing with SPOP halves, chunked HAR streaming, tokens, redaction, timeouts, the
// connection cap, pipelining and 1,000 concurrent keep-alive clients.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/app.h"
#include "agent/config.h"
#include "spop/decoder.h"
#include "spop/encoder.h"
#include "test/agent/http_client.h"
#include "test/agent/parse_args.h"

namespace fs = std::filesystem;

namespace {

using namespace http_test;

std::vector<std::byte> spop_hello() {
  std::vector<std::byte> out;
  spop::encode_haproxy_hello(out, {.supported_versions = "2.0",
                                   .max_frame_size = 16380,
                                   .capabilities = "pipelining,async",
                                   .engine_id = "e",
                                   .healthcheck = false});
  return out;
}

}  // namespace

TEST_CASE("HTTP flags parse with their environment fallbacks", "[agent][http]") {
  auto r = agent_test::parse_args({"--api-token", "t1", "--ingest-token", "t2",
                                   "--max-request-bytes", "4096", "--http-request-timeout", "2.5",
                                   "--max-http-connections", "7", "--redact-json-field",
                                   "password", "--redact-json-field", "token"});
  REQUIRE(std::holds_alternative<agent::config>(r));
  const auto& c = std::get<agent::config>(r);
  CHECK(c.api_token == "t1");
  CHECK(c.ingest_token == "t2");
  CHECK(c.max_request_bytes == 4096);
  CHECK(c.http_request_timeout == 2.5);
  CHECK(c.max_http_connections == 7);
  CHECK(c.redact_json_fields == std::vector<std::string>{"password", "token"});

  ::setenv("API_TOKEN", "from-env", 1);
  ::setenv("REDACT_JSON_FIELDS", "a,b", 1);
  auto e = agent_test::parse_args({});
  ::unsetenv("API_TOKEN");
  ::unsetenv("REDACT_JSON_FIELDS");
  REQUIRE(std::holds_alternative<agent::config>(e));
  CHECK(std::get<agent::config>(e).api_token == "from-env");
  CHECK(std::get<agent::config>(e).redact_json_fields == std::vector<std::string>{"a", "b"});
  CHECK(std::get<agent::config>(e).max_request_bytes == 8u << 20);
  CHECK(std::get<agent::config>(e).max_http_connections == 1024);
}

TEST_CASE("a legacy request half and a SPOP response half pair into one exchange",
          "[agent][http]") {
  running_agent a;
  const std::string id = "mixed-0001";
  auto r = request(
      a.port(), "POST", "/http-events", "Content-Type: application/json\r\n",
      R"({"type":"request","timestamp":)" + std::to_string(std::time(nullptr) - 1) +
          R"(,"data":{"id":")" + id +
          R"(","method":"POST","path":"/login","headers":{"Authorization":"Bearer x",)"
          R"("Content-Type":"application/json"},"body":"{\"user\":\"u\",\"password\":\"p\"}"}})");
  CHECK(r.status == 202);
  CHECK(r.body == R"({"accepted":1})");

  conn spop_c(a.app->spop_port());
  spop_c.send(spop_hello());
  std::vector<spop::kv> args = {{"unique_id", spop::make_string(id)},
                                {"status", spop::make_int64(200)},
                                {"version", spop::make_string("1.1")}};
  spop::message m{"http-res", args};
  std::vector<std::byte> n;
  spop::encode_notify(n, 1, 1, std::span<const spop::message>(&m, 1));
  spop_c.send(n);

  auto got = poll_until(a.port(), "/events/" + id, "\"complete\":true");
  REQUIRE(got.status == 200);
  simdjson::dom::parser p;
  auto doc = p.parse(got.body);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  CHECK(std::string_view(doc["source"]) == "http");
  CHECK(std::string_view(doc["request"]["path"]) == "/login");
  CHECK(std::int64_t(doc["response"]["status"]) == 200);
  // Default header redaction applies to legacy events too.
  CHECK(got.body.find("Bearer x") == std::string::npos);
  CHECK(std::uint64_t(doc["duration_us"]) > 0);

  // The pairing delay and the ACK latency show up in /metrics.
  auto metrics = request(a.port(), "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("hep_correlator_pair_delay_seconds_count 1\n") != std::string::npos);
  CHECK(metrics.body.find("hep_spop_ack_latency_seconds_count 1\n") != std::string::npos);
  CHECK(metrics.body.find("hep_api_ingest_events_total 1\n") != std::string::npos);
  CHECK(a.stop() == 0);
}

TEST_CASE("redaction of JSON body fields masks them and lists body:<name>", "[agent][http]") {
  running_agent a([](agent::config& c) { c.redact_json_fields = {"password"}; });
  auto r = request(
      a.port(), "POST", "/http-events", "Content-Type: application/x-ndjson\r\n",
      R"({"type":"request","data":{"id":"r1","method":"POST","path":"/","headers":[["content-type","application/json"]],"body":"{\"password\":\"hunter2\"}"}})"
      "\n"
      R"({"type":"response","data":{"id":"r1","status":201,"headers":{"content-type":"application/json"},"body":"{\"ok\":true,\"password\":\"again\"}"}})"
      "\n");
  CHECK(r.status == 202);
  auto got = poll_until(a.port(), "/events/r1", "\"id\":\"r1\"");
  REQUIRE(got.status == 200);
  CHECK(got.body.find("hunter2") == std::string::npos);
  CHECK(got.body.find("again") == std::string::npos);
  CHECK(got.body.find(R"(\"password\":\"[REDACTED]\")") != std::string::npos);
  CHECK(got.body.find(R"("redacted":["body:password"])") != std::string::npos);
  CHECK(a.stop() == 0);
}

TEST_CASE("GET /events.har streams chunks, and tokens guard the API", "[agent][http]") {
  running_agent a([](agent::config& c) {
    c.api_token = "api-secret";
    c.ingest_token = "ingest-secret";
  });
  std::string batch = "[";
  for (int i = 0; i < 250; ++i) {
    if (i > 0) batch += ',';
    batch += R"({"type":"request","timestamp":1795830243,"data":{"id":"h)" + std::to_string(i) +
             R"(","method":"GET","path":"/p/)" + std::to_string(i) + R"("}},)";
    batch += R"({"type":"response","timestamp":1795830243.002,"data":{"id":"h)" +
             std::to_string(i) + R"(","status":200,"body":"ok"}})";
  }
  batch += "]";
  CHECK(request(a.port(), "POST", "/http-events", "Content-Type: application/json\r\n", batch)
            .status == 401);
  CHECK(request(a.port(), "POST", "/http-events",
                "Content-Type: application/json\r\nAuthorization: Bearer api-secret\r\n", batch)
            .status == 401);
  auto ok =
      request(a.port(), "POST", "/http-events",
              "Content-Type: application/json\r\nAuthorization: Bearer ingest-secret\r\n", batch);
  CHECK(ok.status == 202);
  CHECK(ok.body == R"({"accepted":500})");

  auto denied = request(a.port(), "GET", "/events.har");
  CHECK(denied.status == 401);
  CHECK(denied.head.find("WWW-Authenticate: Bearer") != std::string::npos);
  CHECK(request(a.port(), "GET", "/status").status == 200);
  CHECK(request(a.port(), "GET", "/healthz").status == 200);
  CHECK(request(a.port(), "GET", "/readyz").status == 200);

  const std::string auth = "Authorization: Bearer api-secret\r\n";
  poll_until(a.port(), "/events?id=h0", "\"h0\"", auth);
  http_reply har;
  for (int i = 0; i < 100; ++i) {
    har = request(a.port(), "GET", "/events.har", auth);
    if (har.body.find("\"_id\":\"h0\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(har.status == 200);
  CHECK(har.chunked);
  CHECK(har.chunks >= 3);  // 250 entries, 100 per page
  simdjson::dom::parser p;
  auto doc = p.parse(har.body);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  CHECK(doc["log"]["entries"].get_array().size() == 250);

  // NDJSON over the wire, then keep-alive still works on the same connection.
  conn c(a.port());
  c.send("GET /events?limit=3&path=/p/1* HTTP/1.1\r\nHost: t\r\n" + auth +
         "Accept: application/x-ndjson\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  auto nd = c.reply();
  CHECK(nd.status == 200);
  CHECK(nd.chunked);
  CHECK(std::count(nd.body.begin(), nd.body.end(), '\n') == 3);
  CHECK(nd.head.find("X-Next-Cursor: ") != std::string::npos);
  CHECK(c.reply().status == 200);
  CHECK(a.stop() == 0);
}

TEST_CASE("pipelined requests are answered in order, blocking ones included", "[agent][http]") {
  running_agent a;
  conn c(a.port());
  c.send(
      "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /events?limit=1 HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /events/none HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /status HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.reply().status == 200);
  CHECK(c.reply().body == R"({"events":[],"next":null})");
  CHECK(c.reply().status == 404);
  CHECK(c.reply().body == R"({"error":"exchange not found"})");
  CHECK(c.reply().body.starts_with("{\"status\":\"ok\""));
  CHECK(a.stop() == 0);
}

TEST_CASE("413 over --max-request-bytes, 408 for a slow request", "[agent][http]") {
  running_agent a([](agent::config& c) {
    c.max_request_bytes = 2048;
    c.http_request_timeout = 0.3;
  });
  auto big = request(a.port(), "POST", "/http-events", "Content-Type: application/json\r\n",
                     std::string(4096, ' '));
  CHECK(big.status == 413);

  conn slow(a.port());
  slow.send("GET /healthz HTTP/1.1\r\nHost: t\r\n");  // never finished
  auto r = slow.reply();
  CHECK(r.status == 408);
  CHECK(r.head.find("Connection: close") != std::string::npos);
  CHECK(slow.closed_by_peer());

  // A keep-alive connection that sent a whole request and waits is not timed out.
  conn idle(a.port());
  idle.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(idle.reply().status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  idle.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(idle.reply().status == 200);
  CHECK(status_number(a.port(), "http", "timeouts") == 1);
  CHECK(a.stop() == 0);
}

TEST_CASE("over --max-http-connections the connection idle longest makes room",
          "[agent][http]") {
  running_agent a([](agent::config& c) { c.max_http_connections = 3; });
  std::vector<std::unique_ptr<conn>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<conn>(a.port()));
    held.back()->send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(held.back()->reply().status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // held[0] is idle longest
  }
  // Before, a full table refused every new client until an idle one timed out (60 s).
  conn extra(a.port());
  extra.send("GET /status HTTP/1.1\r\nHost: t\r\n\r\n");
  const auto r = extra.reply();
  REQUIRE(r.status == 200);
  CHECK(held[0]->closed_by_peer());
  for (int i = 1; i < 3; ++i) {
    held[static_cast<std::size_t>(i)]->send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(held[static_cast<std::size_t>(i)]->reply().status == 200);
  }
  simdjson::dom::parser p;
  CHECK(std::uint64_t(p.parse(r.body)["http"]["evicted_idle"]) == 1);
  CHECK(std::uint64_t(p.parse(r.body)["http"]["rejected_connections"]) == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("1,000 concurrent keep-alive clients are all served, twice", "[agent][http]") {
  running_agent a;
  constexpr int clients = 1000;
  std::vector<std::unique_ptr<conn>> cs;
  cs.reserve(clients);
  for (int i = 0; i < clients; ++i) cs.push_back(std::make_unique<conn>(a.port()));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < clients; ++i) {
      cs[static_cast<std::size_t>(i)]->send(
          i % 2 == 0 ? "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                     : "GET /events?limit=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    int ok = 0;
    for (int i = 0; i < clients; ++i) {
      auto r = cs[static_cast<std::size_t>(i)]->reply();
      if (r.status == 200 && r.head.find("Connection: keep-alive") != std::string::npos) ++ok;
    }
    CHECK(ok == clients);
  }
  CHECK(status_number(a.port(), "http", "connections_active") >= clients);
  cs.clear();
  CHECK(a.stop() == 0);
}
