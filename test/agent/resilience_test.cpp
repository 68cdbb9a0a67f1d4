// SPDX-License-Identifier: Apache-2.0
//
// Floods and shutdown: requests whose responses never come, storage slower than input, and
// the shutdown grace period. The agent runs for real on 127.0.0.1 (see harness.h).
#include <simdjson.h>

#include <string>
#include <vector>

#include "test/agent/harness.h"
#include "test/agent/http_client.h"

using namespace agent_test;

namespace {

std::vector<std::byte> request_notify(std::uint64_t stream, const std::string& id) {
  std::vector<spop::kv> args = {{"unique_id", spop::make_string(id)},
                                {"method", spop::make_string("GET")},
                                {"path", spop::make_string("/flood")}};
  spop::message m{"http-req", args};
  std::vector<std::byte> out;
  spop::encode_notify(out, stream, 1, std::span<const spop::message>(&m, 1));
  return out;
}

std::vector<std::byte> response_notify(std::uint64_t stream, const std::string& id) {
  std::vector<spop::kv> args = {{"unique_id", spop::make_string(id)},
                                {"status", spop::make_int64(200)}};
  spop::message m{"http-res", args};
  std::vector<std::byte> out;
  spop::encode_notify(out, stream, 2, std::span<const spop::message>(&m, 1));
  return out;
}

// Reads `n` records and checks each is an ACK.
void expect_acks(client& c, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto rec = c.read_record();
    REQUIRE_FALSE(rec.empty());
    REQUIRE(decode(rec).type == spop::frame_type::ack);
  }
}

// Polls /status until group.name == want (the writer is asynchronous), for at most 5 s.
std::uint64_t wait_counter(std::uint16_t port, const char* group, const char* name,
                           std::uint64_t want) {
  std::uint64_t v = 0;
  for (int i = 0; i < 100; ++i) {
    v = http_test::status_number(port, group, name);
    if (v == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return v;
}

}  // namespace

TEST_CASE("requests whose responses never come: the pending cap holds, evictions are stored",
          "[agent][flood]") {
  running_agent a([](agent::config& c) { c.max_pending = 100; });
  client c(a.app->spop_port());
  c.send(hello_frame());
  REQUIRE(decode(c.read_record()).type == spop::frame_type::agent_hello);
  constexpr int n = 2000;
  std::vector<std::byte> frames;
  for (int i = 0; i < n; ++i) {
    const auto f = request_notify(static_cast<std::uint64_t>(i + 1), "r-" + std::to_string(i));
    frames.insert(frames.end(), f.begin(), f.end());
    if (i % 100 == 99) {  // pipelined in bursts of 100
      c.send(frames);
      expect_acks(c, 100);
      frames.clear();
    }
  }
  const auto port = a.app->http_port();
  CHECK(http_test::status_number(port, "correlator", "pending") == 100);
  CHECK(http_test::status_number(port, "correlator", "evicted") == n - 100);
  CHECK(wait_counter(port, "storage", "stored", n - 100) == n - 100);
  // The oldest were evicted, stored alone and marked incomplete; the newest still wait.
  const auto oldest = poll_get(port, "/events/r-0");
  REQUIRE(oldest.first == 200);
  CHECK(oldest.second.find("\"complete\":false") != std::string::npos);
  CHECK(http_get(port, "/events/r-" + std::to_string(n - 1)).first == 404);
  CHECK(a.stop() == 0);
}

TEST_CASE("storage slower than input: ACKs keep flowing, drops are counted, never silent",
          "[agent][flood]") {
  running_agent a([](agent::config& c) { c.queue_capacity = 50; });
  client c(a.app->spop_port());
  c.send(hello_frame());
  REQUIRE(decode(c.read_record()).type == spop::frame_type::agent_hello);
  a.app->testing_pause_storage(true);
  constexpr int pairs = 200;
  for (int i = 0; i < pairs; ++i) {
    const std::string id = "s-" + std::to_string(i);
    auto f = request_notify(static_cast<std::uint64_t>(i + 1), id);
    const auto g = response_notify(static_cast<std::uint64_t>(i + 1), id);
    f.insert(f.end(), g.begin(), g.end());
    c.send(f);
  }
  // Every NOTIFY is answered while the writer takes nothing.
  expect_acks(c, 2 * pairs);
  const auto port = a.app->http_port();
  CHECK(http_test::status_number(port, "correlator", "paired") == pairs);
  CHECK(http_test::status_number(port, "storage", "submitted") == 50);
  CHECK(http_test::status_number(port, "storage", "dropped") == pairs - 50);
  CHECK(http_test::status_number(port, "storage", "stored") == 0);
  const auto metrics = http_get(port, "/metrics");
  REQUIRE(metrics.first == 200);
  CHECK(metrics.second.find("\nhep_storage_dropped_total 150\n") != std::string::npos);
  a.app->testing_pause_storage(false);
  CHECK(wait_counter(port, "storage", "stored", 50) == 50);
  CHECK(a.stop() == 0);
}

TEST_CASE("shutdown grace: a partner arriving during the grace period completes its pair",
          "[agent]") {
  running_agent a([](agent::config& c) { c.shutdown_grace = 60; });
  {
    client c(a.app->spop_port());
    c.send(hello_frame());
    REQUIRE(decode(c.read_record()).type == spop::frame_type::agent_hello);
    c.send(request_notify(1, "late"));
    expect_acks(c, 1);
    a.app->request_stop();
    // Still served: the response comes after SIGTERM, is ACKed, and as nothing else is
    // pending the agent says goodbye at once (long before the 60 s grace).
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    c.send(response_notify(1, "late"));
    expect_acks(c, 1);
    CHECK(disconnect_status(c.read_record()) == 0);
  }
  a.thread.join();
  CHECK(a.rc == 0);
  agent::config cfg = a.cfg;
  agent::app again(cfg);
  const auto port = again.http_port();
  std::thread t([&] { again.run(); });
  const auto got = http_get(port, "/events/late");
  again.request_stop();
  t.join();
  REQUIRE(got.first == 200);
  CHECK(got.second.find("\"complete\":true") != std::string::npos);
}

TEST_CASE("shutdown grace ends when the last SPOP connection closes", "[agent]") {
  running_agent a([](agent::config& c) { c.shutdown_grace = 60; });
  {
    client c(a.app->spop_port());
    c.send(hello_frame());
    REQUIRE(decode(c.read_record()).type == spop::frame_type::agent_hello);
    c.send(request_notify(1, "orphan"));
    expect_acks(c, 1);
    a.app->request_stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }                 // HAProxy goes away: nothing can bring the partner any more
  a.thread.join();  // would take 60 s without the early end; ctest's timeout catches that
  CHECK(a.rc == 0);
  agent::config cfg = a.cfg;
  agent::app again(cfg);
  const auto port = again.http_port();
  std::thread t([&] { again.run(); });
  const auto got = http_get(port, "/events/orphan");
  again.request_stop();
  t.join();
  REQUIRE(got.first == 200);
  CHECK(got.second.find("\"complete\":false") != std::string::npos);
}
