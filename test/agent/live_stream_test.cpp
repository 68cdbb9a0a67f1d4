// SPDX-License-Identifier: Apache-2.0
//
// GET /events/stream on the real agent: exchanges stored after a client subscribed reach it
// as Server-Sent Events, filtered and redacted; a client that does not read loses exchanges
// (counted, reported) without holding memory or slowing the others; heartbeats; a stalled
// client is closed; stopping ends every stream at once; streams count against the
// connection cap.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test/agent/http_client.h"
#include "test/agent/sse_client.h"

namespace {

using namespace http_test;

std::string exchange_ndjson(const std::string& id, const std::string& method, int status,
                            const std::string& extra_headers = "", std::size_t body_bytes = 0) {
  return R"({"type":"request","data":{"id":")" + id + R"(","method":")" + method +
         R"(","path":"/p/)" + id + R"(","headers":{"Host":"shop.local")" + extra_headers + "}}}\n" +
         R"({"type":"response","data":{"id":")" + id + R"(","status":)" + std::to_string(status) +
         R"(,"body":")" + std::string(body_bytes, 'b') + "\"}}\n";
}

void ingest(std::uint16_t port, const std::string& ndjson) {
  const auto r =
      request(port, "POST", "/http-events", "Content-Type: application/x-ndjson\r\n", ndjson);
  REQUIRE(r.status == 202);
}

// The id of a streamed exchange (the record starts with it).
std::string id_of(const sse_event& e) {
  simdjson::dom::parser p;
  std::string_view id;
  REQUIRE(p.parse(e.data)["id"].get(id) == simdjson::SUCCESS);
  return std::string(id);
}

// Posts `n` exchanges with ~8 KiB bodies, in batches.
void ingest_bulk(std::uint16_t port, int n) {
  for (int i = 0; i < n;) {
    std::string batch;
    for (int j = 0; j < 100 && i < n; ++j, ++i) {
      batch += exchange_ndjson("bulk" + std::to_string(i), "GET", 200, "", 8192);
    }
    ingest(port, batch);
  }
}

}  // namespace

TEST_CASE("GET /events/stream sends each new exchange that passes its filters", "[agent][live]") {
  // A short request timeout: the sweep must not take a stream for a slow request.
  running_agent a([](agent::config& c) { c.http_request_timeout = 0.2; });
  CHECK(request(a.port(), "GET", "/events/stream?status=abc").status == 400);

  sse_client all(a.port(), "/events/stream");
  sse_client some(a.port(), "/events/stream?method=POST&status=2xx");
  for (auto* s : {&all, &some}) {
    REQUIRE(s->status == 200);
    CHECK(s->head.find("Content-Type: text/event-stream\r\n") != std::string::npos);
    CHECK(s->head.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(s->head.find("Cache-Control: no-store\r\n") != std::string::npos);
    auto ready = s->next();
    REQUIRE(ready);
    CHECK(ready->event == "ready");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  ingest(a.port(), exchange_ndjson("x1", "GET", 200) + exchange_ndjson("x2", "POST", 201) +
                       exchange_ndjson("x3", "POST", 500) +
                       exchange_ndjson("x4", "POST", 200, R"(,"Authorization":"Bearer s3cret")"));
  std::vector<std::string> got_all, got_some;
  for (int i = 0; i < 4; ++i) {
    auto e = all.next();
    REQUIRE(e);
    REQUIRE(e->event == "exchange");
    got_all.push_back(id_of(*e));
    if (i == 3) {
      // After redaction, like what is stored.
      CHECK(e->data.find("s3cret") == std::string::npos);
      CHECK(e->data.find(R"(["authorization","[REDACTED]"])") != std::string::npos);
    }
  }
  for (int i = 0; i < 2; ++i) {
    auto e = some.next();
    REQUIRE(e);
    REQUIRE(e->event == "exchange");
    got_some.push_back(id_of(*e));
  }
  CHECK(got_all == std::vector<std::string>{"x1", "x2", "x3", "x4"});
  CHECK(got_some == std::vector<std::string>{"x2", "x4"});
  // What a stream sends is the stored record.
  auto stored = poll_until(a.port(), "/events/x4", "\"x4\"");
  REQUIRE(stored.status == 200);

  CHECK(status_number(a.port(), "http", "live_streams_active") == 2);
  CHECK(status_number(a.port(), "http", "live_events") == 6);
  CHECK(status_number(a.port(), "http", "live_dropped") == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("GET /events/stream needs the API token when there is one", "[agent][live]") {
  running_agent a([](agent::config& c) { c.api_token = "t0k"; });
  CHECK(request(a.port(), "GET", "/events/stream").status == 401);
  sse_client s(a.port(), "/events/stream", "Authorization: Bearer t0k\r\n");
  CHECK(s.status == 200);
  CHECK(a.stop() == 0);
}

TEST_CASE("a client that does not read loses exchanges, counted and told, and others get all",
          "[agent][live]") {
  running_agent a(nullptr, [](agent::app& app) { app.testing_live_stream(64 * 1024, 15000); });
  sse_client slow(a.port(), "/events/stream", "", 4096);
  REQUIRE(slow.next()->event == "ready");
  sse_client fast(a.port(), "/events/stream");
  REQUIRE(fast.next()->event == "ready");

  constexpr int n = 1000;  // ~8 MB: more than the socket buffers of the slow client hold
  http_test::counting_reader reader(fast, n);
  ingest_bulk(a.port(), n);
  reader.join();
  CHECK(reader.exchanges == n);
  CHECK(reader.drops == 0);

  const auto dropped = status_number(a.port(), "http", "live_dropped");
  CHECK(dropped > 0);
  CHECK(dropped < static_cast<std::uint64_t>(n));

  // Now it reads: what was queued, with a notice for each gap (more than one when the kernel
  // found room for more while it did not read), totals adding up.
  int got = 0;
  std::uint64_t told = 0;
  while (auto e = slow.next(1000)) {
    if (e->event == "exchange") {
      got++;
    } else if (e->event == "dropped") {
      simdjson::dom::parser p;
      auto doc = p.parse(e->data);
      told += std::uint64_t(doc["dropped"]);
      CHECK(std::uint64_t(doc["total"]) == told);
    }
  }
  CHECK(told == dropped);
  CHECK(static_cast<std::uint64_t>(got) + told == static_cast<std::uint64_t>(n));

  // Caught up, it gets the next exchange again.
  ingest(a.port(), exchange_ndjson("after", "GET", 200));
  auto e = slow.next();
  REQUIRE(e);
  CHECK(e->event == "exchange");
  CHECK(id_of(*e) == "after");
  CHECK(a.stop() == 0);
}

TEST_CASE("heartbeats keep a quiet stream alive, and a stalled one is closed", "[agent][live]") {
  running_agent a(nullptr, [](agent::app& app) { app.testing_live_stream(16 * 1024, 50); });
  {
    sse_client quiet(a.port(), "/events/stream");
    REQUIRE(quiet.next()->event == "ready");
    auto e = quiet.next(2000);
    REQUIRE(e);
    CHECK(e->event == "comment");
    CHECK(e->data == "keepalive");
  }
  sse_client stuck(a.port(), "/events/stream", "", 4096);
  REQUIRE(stuck.next()->event == "ready");
  ingest_bulk(a.port(), 1000);  // more than the socket buffers hold
  std::uint64_t stalled = 0;
  for (int i = 0; i < 100 && stalled == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stalled = status_number(a.port(), "http", "live_stalled");
  }
  CHECK(stalled == 1);
  CHECK(status_number(a.port(), "http", "live_streams_active") == 0);
  // It gets what was in flight, then the connection ends (no heartbeat keeps coming).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (stuck.next(2000) && std::chrono::steady_clock::now() < deadline) {
  }
  CHECK(std::chrono::steady_clock::now() < deadline);
  CHECK_FALSE(stuck.ended);
  CHECK(a.stop() == 0);
}

TEST_CASE("stopping ends every stream at once, one that does not read too", "[agent][live]") {
  running_agent a(nullptr, [](agent::app& app) { app.testing_live_stream(16 * 1024, 15000); });
  sse_client reading(a.port(), "/events/stream");
  REQUIRE(reading.next()->event == "ready");
  sse_client stuck(a.port(), "/events/stream", "", 4096);
  REQUIRE(stuck.next()->event == "ready");
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (reading.next(10000)) {
    }
    done = true;
  });
  ingest_bulk(a.port(), 300);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  const auto t0 = std::chrono::steady_clock::now();
  CHECK(a.stop() == 0);
  // Without ending the streams the stuck one would hold the loop for the 5 s shutdown timer.
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  reader.join();
  CHECK(done);
  CHECK(reading.ended);  // the last chunk: a clean end
}

TEST_CASE("streams count against --max-http-connections", "[agent][live]") {
  running_agent a([](agent::config& c) { c.max_http_connections = 2; });
  sse_client s1(a.port(), "/events/stream");
  sse_client s2(a.port(), "/events/stream");
  REQUIRE(s1.next()->event == "ready");
  REQUIRE(s2.next()->event == "ready");
  conn extra(a.port());
  CHECK(extra.closed_by_peer());
  CHECK(a.stop() == 0);
}
