// SPDX-License-Identifier: Apache-2.0
//
// GET /events/stream for the fleet between real agents on 127.0.0.1: one agent with --peers
// relays what its peers stream, with the client's filters, each exchange once; the "peers"
// event names the peers that failed, within the peer timeout, and again when one comes back
// or goes away; a peer that goes silent is failed as stalled.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/agent/http_client.h"
#include "test/agent/peers.h"
#include "test/agent/sse_client.h"

namespace {

using http_test::request;
using http_test::running_agent;
using http_test::sse_client;
using http_test::sse_event;
using peers_test::addr;
using peers_test::closed_port;
using peers_test::silent_listener;
using clock_type = std::chrono::steady_clock;

// Posts one exchange per id to the agent at `port`: "GET" for ids starting with 'g', "POST"
// otherwise, with `body_bytes` of response body.
void ingest(std::uint16_t port, const std::vector<std::string>& ids, std::size_t body_bytes = 0) {
  std::string ndjson;
  for (const auto& id : ids) {
    const char* method = id.starts_with("g") ? "GET" : "POST";
    ndjson += R"({"type":"request","data":{"id":")" + id + R"(","method":")" + method +
              R"(","path":"/p","headers":{"Host":"h"}}})" + "\n" +
              R"({"type":"response","data":{"id":")" + id + R"(","status":200,"body":")" +
              std::string(body_bytes, 'b') + "\"}}\n";
  }
  const auto r =
      request(port, "POST", "/http-events", "Content-Type: application/x-ndjson\r\n", ndjson);
  REQUIRE(r.status == 202);
}

// What a "peers" event says.
struct peers_notice {
  std::int64_t peers = -1;
  bool partial = false;
  std::map<std::string, std::string> failed;  // peer -> error
};

peers_notice parse_notice(const std::string& data) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(data).get(doc) == simdjson::SUCCESS);
  peers_notice n;
  n.peers = doc["peers"].get_int64();
  n.partial = doc["partial"].get_bool();
  for (auto f : doc["peers_failed"].get_array()) {
    n.failed[std::string(std::string_view(f["peer"]))] = std::string(std::string_view(f["error"]));
  }
  return n;
}

std::string id_of(const sse_event& e) {
  simdjson::dom::parser p;
  std::string_view id;
  REQUIRE(p.parse(e.data)["id"].get(id) == simdjson::SUCCESS);
  return std::string(id);
}

// Reads the stream until a "peers" event, at most `within`; the exchanges read on the way go
// to `ids`.
std::optional<peers_notice> next_notice(sse_client& s, std::chrono::milliseconds within,
                                        std::vector<std::string>* ids = nullptr) {
  const auto deadline = clock_type::now() + within;
  while (clock_type::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock_type::now());
    auto e = s.next(static_cast<int>(std::max<std::int64_t>(left.count(), 1)));
    if (!e) return std::nullopt;
    if (e->event == "peers") return parse_notice(e->data);
    if (e->event == "exchange" && ids != nullptr) ids->push_back(id_of(*e));
  }
  return std::nullopt;
}

// Reads exchanges until `n` came or `within` passed.
std::vector<std::string> read_exchanges(sse_client& s, std::size_t n,
                                        std::chrono::milliseconds within) {
  std::vector<std::string> ids;
  const auto deadline = clock_type::now() + within;
  while (ids.size() < n && clock_type::now() < deadline) {
    auto e = s.next(200);
    if (e && e->event == "exchange") ids.push_back(id_of(*e));
  }
  return ids;
}

}  // namespace

TEST_CASE("a fleet stream relays every agent's new exchanges once, with the client's filters",
          "[agent][fleet][live]") {
  running_agent b, c;
  running_agent a([&](agent::config& cfg) {
    cfg.peers = {addr(b.port()), addr(c.port())};
    cfg.peer_timeout = 2;
  });
  sse_client s(a.port(), "/events/stream?method=GET");
  REQUIRE(s.status == 200);
  CHECK(s.head.find("X-HEP-Instance: ") != std::string::npos);
  // Once both peers stream, the client is told: nothing stored from then on is missed.
  const auto first = next_notice(s, std::chrono::seconds(3));
  REQUIRE(first);
  CHECK(first->peers == 2);
  CHECK_FALSE(first->partial);
  CHECK(first->failed.empty());

  ingest(a.port(), {"g-a1", "p-a2", "g-a3"});
  ingest(b.port(), {"g-b1", "p-b2", "g-b3"});
  ingest(c.port(), {"g-c1", "p-c2", "g-c3"});
  auto ids = read_exchanges(s, 6, std::chrono::seconds(5));
  std::multiset<std::string> got(ids.begin(), ids.end());
  CHECK(got == std::multiset<std::string>{"g-a1", "g-a3", "g-b1", "g-b3", "g-c1", "g-c3"});
  // Nothing more: no POST, no exchange twice.
  ids = read_exchanges(s, 1, std::chrono::milliseconds(500));
  CHECK(ids.empty());

  CHECK(http_test::status_number(a.port(), "peers", "streams") == 1);
  CHECK(http_test::status_number(a.port(), "peers", "streams_active") == 1);
  CHECK(http_test::status_number(a.port(), "peers", "stream_upstreams_active") == 2);
  CHECK(http_test::status_number(a.port(), "peers", "stream_relayed") == 4);
  // Each peer streams for the fleet stream with scope=local: one stream of its own open.
  CHECK(http_test::status_number(b.port(), "http", "live_streams_active") == 1);

  // scope=local on the same agent streams its own exchanges only.
  sse_client local(a.port(), "/events/stream?scope=local");
  REQUIRE(local.next());  // ready
  ingest(b.port(), {"g-b4"});
  ingest(a.port(), {"g-a4"});
  CHECK(read_exchanges(local, 1, std::chrono::seconds(3)) == std::vector<std::string>{"g-a4"});
  got.clear();
  for (auto& id : read_exchanges(s, 2, std::chrono::seconds(3))) got.insert(id);
  CHECK(got == std::multiset<std::string>{"g-a4", "g-b4"});
}

TEST_CASE("a fleet stream names a down peer at once, relays it once up, and tells when it goes",
          "[agent][fleet][live]") {
  running_agent b;
  const auto later = closed_port();
  running_agent a([&](agent::config& cfg) {
    cfg.peers = {addr(b.port()), addr(later)};
    cfg.peer_timeout = 1;
  });
  sse_client s(a.port(), "/events/stream");
  const auto t0 = clock_type::now();
  auto n = next_notice(s, std::chrono::seconds(3));
  REQUIRE(n);
  CHECK(clock_type::now() - t0 < std::chrono::seconds(2));
  CHECK(n->peers == 1);
  CHECK(n->partial);
  CHECK(n->failed == std::map<std::string, std::string>{{addr(later), "connection refused"}});
  ingest(b.port(), {"g-b1"});
  CHECK(read_exchanges(s, 1, std::chrono::seconds(3)) == std::vector<std::string>{"g-b1"});

  // The peer comes up on that address: it is asked again (every 3 s) and relayed.
  {
    running_agent d([&](agent::config& cfg) { cfg.http_listen = {"127.0.0.1", later}; });
    n = next_notice(s, std::chrono::seconds(6));
    REQUIRE(n);
    CHECK(n->peers == 2);
    CHECK_FALSE(n->partial);
    ingest(d.port(), {"g-d1"});
    CHECK(read_exchanges(s, 1, std::chrono::seconds(3)) == std::vector<std::string>{"g-d1"});
    CHECK(http_test::status_number(a.port(), "peers", "stream_upstream_failures") >= 1);
  }
  // It stops: its stream ends, and the client hears of it.
  n = next_notice(s, std::chrono::seconds(3));
  REQUIRE(n);
  CHECK(n->peers == 1);
  CHECK(n->partial);
  REQUIRE(n->failed.count(addr(later)) == 1);
  CHECK(n->failed[addr(later)] == "stream ended");
  ingest(b.port(), {"g-b2"});
  CHECK(read_exchanges(s, 1, std::chrono::seconds(3)) == std::vector<std::string>{"g-b2"});
}

TEST_CASE("a fleet stream skips the agent itself and times out a silent peer",
          "[agent][fleet][live]") {
  silent_listener silent;
  const auto self_port = closed_port();
  running_agent a([&](agent::config& cfg) {
    cfg.http_listen = {"127.0.0.1", self_port};
    cfg.peers = {addr(self_port), addr(silent.port)};
    cfg.peer_timeout = 1;
  });
  sse_client s(a.port(), "/events/stream");
  const auto t0 = clock_type::now();
  const auto n = next_notice(s, std::chrono::seconds(3));
  REQUIRE(n);
  CHECK(clock_type::now() - t0 < std::chrono::milliseconds(2500));
  CHECK(n->peers == 0);
  CHECK(n->partial);
  CHECK(n->failed == std::map<std::string, std::string>{{addr(silent.port), "timeout after 1s"}});
  CHECK(http_test::status_number(a.port(), "peers", "self") == 1);
  // Its own exchanges come once, not again through its own address.
  ingest(a.port(), {"g-a1"});
  CHECK(read_exchanges(s, 2, std::chrono::seconds(2)) == std::vector<std::string>{"g-a1"});
}

TEST_CASE("a fleet stream asks its peers with the peer token, and a refusal is a failed peer",
          "[agent][fleet][live]") {
  running_agent b([](agent::config& cfg) { cfg.api_token = "peer-secret"; });
  running_agent wrong([](agent::config& cfg) { cfg.api_token = "other"; });
  running_agent a([&](agent::config& cfg) {
    cfg.api_token = "front";
    cfg.peer_token = "peer-secret";
    cfg.peers = {addr(b.port()), addr(wrong.port())};
  });
  CHECK(request(a.port(), "GET", "/events/stream").status == 401);
  sse_client s(a.port(), "/events/stream", "Authorization: Bearer front\r\n");
  REQUIRE(s.status == 200);
  const auto n = next_notice(s, std::chrono::seconds(3));
  REQUIRE(n);
  CHECK(n->peers == 1);
  CHECK(n->failed == std::map<std::string, std::string>{{addr(wrong.port()), "HTTP 401"}});
}

TEST_CASE("a fleet client that does not read loses relayed exchanges, counted, and slows nobody",
          "[agent][fleet][live]") {
  running_agent b;
  running_agent a([&](agent::config& cfg) { cfg.peers = {addr(b.port())}; },
                  [](agent::app& app) { app.testing_live_stream(64 * 1024, 15000); });
  sse_client slow(a.port(), "/events/stream", "", 4096);
  REQUIRE(next_notice(slow, std::chrono::seconds(3)));
  sse_client fast(a.port(), "/events/stream");
  REQUIRE(next_notice(fast, std::chrono::seconds(3)));

  // ~8 MB through the peer: far more than the slow client's socket buffers and its 64 KiB.
  constexpr int n = 1000;
  http_test::counting_reader reader(fast, n);
  for (int i = 0; i < n; i += 100) {
    std::vector<std::string> ids;
    for (int j = i; j < i + 100; ++j) ids.push_back("g-bulk" + std::to_string(j));
    ingest(b.port(), ids, 8192);
  }
  reader.join();
  CHECK(reader.exchanges == n);
  CHECK(reader.drops == 0);
  // The relaying agent dropped for the slow client only; the peer, whose streams the relaying
  // agent reads at once for both, dropped nothing.
  const auto dropped = http_test::status_number(a.port(), "peers", "stream_relay_dropped");
  CHECK(dropped > 0);
  CHECK(dropped < static_cast<std::uint64_t>(n));
  CHECK(http_test::status_number(b.port(), "http", "live_dropped") == 0);

  // Now it reads: what was queued, and the gaps told, adding up to every exchange.
  int got = 0;
  std::uint64_t told = 0;
  while (auto e = slow.next(1000)) {
    if (e->event == "exchange") {
      got++;
    } else if (e->event == "dropped") {
      simdjson::dom::parser p;
      told += std::uint64_t(p.parse(e->data)["dropped"]);
    }
  }
  CHECK(told == dropped);
  CHECK(static_cast<std::uint64_t>(got) + told == static_cast<std::uint64_t>(n));
}

TEST_CASE("a peer stream that goes silent, heartbeats included, is failed as stalled",
          "[agent][fleet][live]") {
  // A peer that says "ready" and then nothing, holding the connection open.
  silent_listener peer;
  std::atomic<bool> done{false};
  std::thread server([&] {
    const int fd = ::accept(peer.fd, nullptr, nullptr);
    if (fd < 0) return;
    char buf[4096];
    (void)::recv(fd, buf, sizeof buf, 0);
    const std::string body = "retry: 3000\n\nevent: ready\ndata: {}\n\n";
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", body.size());
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
        "X-HEP-Instance: 00000000000000ff\r\n\r\n" + std::string(size) + body + "\r\n";
    (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::close(fd);
  });
  {
    // Heartbeats every 250 ms: a peer silent for 4 of them and the 1 s timeout has stalled.
    running_agent a(
        [&](agent::config& cfg) {
          cfg.peers = {addr(peer.port)};
          cfg.peer_timeout = 1;
        },
        [](agent::app& app) { app.testing_live_stream(1 << 20, 250); });
    sse_client s(a.port(), "/events/stream");
    auto n = next_notice(s, std::chrono::seconds(3));
    REQUIRE(n);
    CHECK(n->peers == 1);
    CHECK_FALSE(n->partial);
    const auto t0 = clock_type::now();
    n = next_notice(s, std::chrono::seconds(6));
    REQUIRE(n);
    CHECK(clock_type::now() - t0 >= std::chrono::milliseconds(1500));
    CHECK(n->peers == 0);
    CHECK(n->failed == std::map<std::string, std::string>{{addr(peer.port), "stalled: nothing for 2s"}});
  }
  done = true;
  server.join();
}
