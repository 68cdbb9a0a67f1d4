// SPDX-License-Identifier: Apache-2.0
//
// The fleet read between real agents on 127.0.0.1: each stores its own exchanges (POST
// /http-events), one of them is asked with --peers and answers for all.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <algorithm>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/peer_client.h"
#include "test/agent/http_client.h"
#include "test/agent/parse_args.h"
#include "test/agent/peers.h"

namespace {

using http_test::poll_until;
using http_test::request;
using http_test::running_agent;
using peers_test::addr;
using peers_test::closed_port;
using peers_test::silent_listener;

// Stores `n` exchanges "<prefix>-<k>" on the agent at `port`, the k-th at base + 3k + offset
// seconds (so that three agents interleave), and waits until they are readable. The base is
// one for the whole run: agents filled a second apart (a restart between) still interleave.
void store_exchanges(std::uint16_t port, const std::string& prefix, int n, int offset) {
  static const std::int64_t base = std::time(nullptr) - 3600;
  std::string batch = "[";
  for (int k = 0; k < n; ++k) {
    const auto ts = std::to_string(base + 3 * k + offset);
    const auto id = prefix + "-" + std::to_string(k);
    if (k > 0) batch += ',';
    batch += R"({"type":"request","timestamp":)" + ts + R"(,"data":{"id":")" + id +
             R"(","method":"GET","path":"/)" + prefix + R"(","headers":{"host":"h"}}},)" +
             R"({"type":"response","timestamp":)" + ts + R"(,"data":{"id":")" + id +
             R"(","status":200,"headers":{}}})";
  }
  batch += ']';
  const auto r = request(port, "POST", "/http-events", "Content-Type: application/json\r\n", batch);
  REQUIRE(r.status == 202);
  REQUIRE(poll_until(port, "/events?scope=local&id=" + prefix + "-" + std::to_string(n - 1),
                     prefix + "-" + std::to_string(n - 1))
              .status == 200);
}

struct page {
  std::vector<std::string> ids;
  std::string next;
  std::int64_t peers = 0;
  bool partial = false;
  std::set<std::string> failed;  // "peer error"
};

page read_page(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(body).get(doc) == simdjson::SUCCESS);
  page out;
  for (auto e : doc["events"].get_array()) out.ids.emplace_back(std::string_view(e["id"]));
  if (!doc["next"].is_null()) out.next = std::string(std::string_view(doc["next"]));
  // A scope=local answer has none of the fleet fields.
  if (doc["peers"].get(out.peers) != simdjson::SUCCESS) return out;
  out.partial = doc["partial"].get_bool();
  for (auto f : doc["peers_failed"].get_array()) {
    out.failed.insert(std::string(std::string_view(f["peer"])) + " " +
                      std::string(std::string_view(f["error"])));
  }
  return out;
}

// The instance id the agent at `port` names in /status.
std::string instance_of(std::uint16_t port) {
  simdjson::dom::parser p;
  std::string_view id;
  REQUIRE(p.parse(request(port, "GET", "/status").body)["instance"].get(id) ==
          simdjson::SUCCESS);
  return std::string(id);
}

// `n` ports on 127.0.0.1 free right now (all bound at once, so they differ, then closed).
std::vector<std::uint16_t> free_ports(std::size_t n) {
  std::vector<std::unique_ptr<silent_listener>> held;
  std::vector<std::uint16_t> out;
  for (std::size_t i = 0; i < n; ++i) {
    held.push_back(std::make_unique<silent_listener>());
    out.push_back(held.back()->port);
  }
  return out;
}

// The ids store_exchanges() made for `prefix` (n of them, at base + 3k + offset), with their
// times, added to `all`.
void expect_exchanges(std::vector<std::pair<int, std::string>>& all, const std::string& prefix,
                      int n, int offset) {
  for (int k = 0; k < n; ++k) all.emplace_back(3 * k + offset, prefix + "-" + std::to_string(k));
}

// `all` newest first, as ids.
std::vector<std::string> newest_first(std::vector<std::pair<int, std::string>> all) {
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  std::vector<std::string> out;
  for (auto& [t, id] : all) out.push_back(std::move(id));
  return out;
}

}  // namespace

TEST_CASE("fleet GET /events on one agent returns every agent's exchanges newest first",
          "[agent][fleet]") {
  running_agent b, c;
  store_exchanges(b.port(), "b", 5, 1);
  store_exchanges(c.port(), "c", 5, 2);
  std::uint16_t a_port = 0;
  running_agent a([&](agent::config& cfg) {
    cfg.peers = {addr(b.port()), addr(c.port())};
    cfg.peer_timeout = 2;
  });
  store_exchanges(a.port(), "a", 5, 0);
  a_port = a.port();

  // The full answer: 15 exchanges, interleaved by time, newest first.
  auto all = request(a_port, "GET", "/events?limit=100");
  REQUIRE(all.status == 200);
  CHECK(all.head.find("X-HEP-Instance: ") != std::string::npos);
  auto v = read_page(all.body);
  CHECK(v.peers == 2);
  CHECK_FALSE(v.partial);
  CHECK(v.failed.empty());
  CHECK(v.next.empty());
  REQUIRE(v.ids.size() == 15);
  for (int k = 4, i = 0; k >= 0; --k) {
    for (const char* p : {"c", "b", "a"}) {
      CHECK(v.ids[static_cast<std::size_t>(i++)] == p + std::string("-") + std::to_string(k));
    }
  }

  // Paging with the cursor visits each exactly once, in the same order.
  std::vector<std::string> paged;
  std::string cursor;
  int pages = 0;
  do {
    auto r = request(a_port, "GET", "/events?limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    auto pg = read_page(r.body);
    CHECK(pg.ids.size() <= 4);
    paged.insert(paged.end(), pg.ids.begin(), pg.ids.end());
    cursor = pg.next;
    REQUIRE(++pages < 10);
  } while (!cursor.empty());
  CHECK(paged == v.ids);

  // scope=local: A's own only; a garbage cursor is a 400 that names it.
  auto local = read_page(request(a_port, "GET", "/events?scope=local").body);
  CHECK(local.ids.size() == 5);
  auto bad = request(a_port, "GET", "/events?cursor=garbage");
  CHECK(bad.status == 400);
  CHECK(bad.body == R"({"error":"invalid cursor"})");

  // HAR: every exchange, not partial.
  auto har = request(a_port, "GET", "/events.har");
  REQUIRE(har.status == 200);
  CHECK(har.head.find("X-HEP-Partial") == std::string::npos);
  simdjson::dom::parser p;
  CHECK(p.parse(har.body)["log"]["entries"].get_array().size() == 15);
}

TEST_CASE("fleet GET /events/{id} finds an exchange stored on another agent", "[agent][fleet]") {
  running_agent b, c;
  store_exchanges(c.port(), "c", 2, 0);
  running_agent a([&](agent::config& cfg) { cfg.peers = {addr(b.port()), addr(c.port())}; });
  auto hit = request(a.port(), "GET", "/events/c-1");
  REQUIRE(hit.status == 200);
  CHECK(hit.body.find("\"id\":\"c-1\"") != std::string::npos);
  auto miss = request(a.port(), "GET", "/events/nowhere");
  CHECK(miss.status == 404);
  CHECK(miss.body == R"({"error":"exchange not found"})");
  // Asked with scope=local, C's peer A does not fan out.
  CHECK(request(a.port(), "GET", "/events/c-1?scope=local").status == 404);
}

TEST_CASE("fleet read with a down peer and a silent peer names both within the timeout",
          "[agent][fleet]") {
  running_agent good;
  store_exchanges(good.port(), "g", 3, 1);
  silent_listener silent;
  const auto down = closed_port();
  running_agent a([&](agent::config& cfg) {
    cfg.peers = {addr(good.port()), addr(down), addr(silent.port)};
    cfg.peer_timeout = 1;
  });
  store_exchanges(a.port(), "a", 3, 0);

  const auto t0 = std::chrono::steady_clock::now();
  auto r = request(a.port(), "GET", "/events");
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < std::chrono::seconds(2));  // --peer-timeout + 1 s
  REQUIRE(r.status == 200);
  auto v = read_page(r.body);
  CHECK(v.partial);
  CHECK(v.peers == 1);
  CHECK(v.ids.size() == 6);
  CHECK(v.failed == std::set<std::string>{addr(down) + " connection refused",
                                          addr(silent.port) + " timeout after 1s"});

  CHECK(http_test::status_number(a.port(), "peers", "failures") == 2);
  CHECK(http_test::status_number(a.port(), "peers", "timeouts") == 1);
  CHECK(http_test::status_number(a.port(), "peers", "requests") == 3);

  auto one = request(a.port(), "GET", "/events/missing");
  CHECK(one.status == 404);
  CHECK(one.body.find("\"partial\":true") != std::string::npos);
  CHECK(one.body.find(addr(silent.port)) != std::string::npos);

  auto har = request(a.port(), "GET", "/events.har");
  REQUIRE(har.status == 200);
  CHECK(har.head.find("X-HEP-Partial: peers failed: ") != std::string::npos);
  simdjson::dom::parser p;
  auto log = p.parse(har.body)["log"];
  CHECK(log["entries"].get_array().size() == 6);
  CHECK(std::string_view(log["comment"]).find(addr(down)) != std::string_view::npos);
}

TEST_CASE("the peers flags parse (--peers, --peer-timeout, --peer-token), bad entries exit 2", "[agent][fleet]") {
  auto r = agent_test::parse_args({"--peers", "10.0.0.2:8080,dns:hep-peers.ns.svc:8080,[::1]:9",
                                   "--peer-timeout", "0.5", "--peer-token", "t"});
  REQUIRE(std::holds_alternative<agent::config>(r));
  const auto& cfg = std::get<agent::config>(r);
  CHECK(cfg.peers == std::vector<std::string>{"10.0.0.2:8080", "dns:hep-peers.ns.svc:8080",
                                              "[::1]:9"});
  CHECK(cfg.peer_timeout == 0.5);
  CHECK(cfg.peer_token == "t");
  auto defaults = agent_test::parse_args({});
  REQUIRE(std::holds_alternative<agent::config>(defaults));
  CHECK(std::get<agent::config>(defaults).peers.empty());
  CHECK(std::get<agent::config>(defaults).peer_timeout == 2);
  for (const char* bad : {"nohost", "host:", "host:0", "host:70000", "dns:name", ":80",
                          "http://host:80", "host:80/events"}) {
    INFO(bad);
    auto e = agent_test::parse_args({"--peers", bad});
    REQUIRE(std::holds_alternative<agent::exit_now>(e));
    CHECK(std::get<agent::exit_now>(e).code == 2);
  }
}

TEST_CASE("dns: peers resolve to every address of the name", "[agent][fleet]") {
  agent::peer_options o;
  o.peers = {"dns:localhost:8080", "10.0.0.2:81", "10.0.0.2:81"};
  o.instance = "x";
  agent::curl_peer_client pc(o);
  const auto peers = pc.peers();
  CHECK(std::count(peers.begin(), peers.end(), "127.0.0.1:8080") == 1);
  CHECK(std::count(peers.begin(), peers.end(), "10.0.0.2:81") == 1);
  pc.mark_self("127.0.0.1:8080");
  const auto after = pc.peers();
  CHECK(std::count(after.begin(), after.end(), "127.0.0.1:8080") == 0);
  agent::peer_options bad;
  bad.peers = {"dns:nothing.invalid:80"};
  agent::curl_peer_client none(bad);
  CHECK(none.peers().empty());
  const auto why = none.unresolved();
  REQUIRE(why.size() == 1);
  CHECK(why[0].peer == "dns:nothing.invalid:80");
  CHECK(why[0].error.starts_with("could not resolve nothing.invalid: "));
}

TEST_CASE("an agent that lists itself among its peers skips itself", "[agent][fleet]") {
  running_agent b;
  store_exchanges(b.port(), "b", 2, 1);
  const auto self_port = closed_port();
  running_agent a([&](agent::config& cfg) {
    cfg.http_listen = {"127.0.0.1", self_port};
    cfg.peers = {addr(self_port), addr(b.port())};
  });
  store_exchanges(a.port(), "a", 2, 0);
  for (int round = 0; round < 2; ++round) {
    auto v = read_page(request(a.port(), "GET", "/events").body);
    CHECK(v.ids == std::vector<std::string>{"b-1", "a-1", "b-0", "a-0"});
    CHECK(v.peers == 1);
    CHECK_FALSE(v.partial);
  }
  // /status says which instance answered; the /events header is the same id.
  simdjson::dom::parser p;
  const std::string instance(
      std::string_view(p.parse(request(a.port(), "GET", "/status").body)["instance"]));
  CHECK(instance.size() == 16);
  CHECK(request(a.port(), "GET", "/events").head.find("X-HEP-Instance: " + instance) !=
        std::string::npos);
}

TEST_CASE("a fleet cursor pages on any replica: A, B, C, A, ... each page asked of the next",
          "[agent][fleet]") {
  const auto ports = free_ports(3);
  auto peers_of = [&](std::size_t i) {
    std::vector<std::string> out;
    for (std::size_t j = 0; j < ports.size(); ++j) {
      if (j != i) out.push_back(addr(ports[j]));
    }
    return out;
  };
  auto replica = [&](std::size_t i) {
    return [&, i](agent::config& cfg) {
      cfg.http_listen = {"127.0.0.1", ports[i]};
      cfg.peers = peers_of(i);
    };
  };
  running_agent a(replica(0)), b(replica(1)), c(replica(2));
  // Uneven shares, so that the sources run out on different pages.
  store_exchanges(a.port(), "a", 6, 0);
  store_exchanges(b.port(), "b", 3, 1);
  store_exchanges(c.port(), "c", 5, 2);
  std::vector<std::pair<int, std::string>> stored;
  expect_exchanges(stored, "a", 6, 0);
  expect_exchanges(stored, "b", 3, 1);
  expect_exchanges(stored, "c", 5, 2);

  const std::vector<std::uint16_t> asked = {a.port(), b.port(), c.port()};
  const std::vector<std::string> instances = {instance_of(a.port()), instance_of(b.port()),
                                              instance_of(c.port())};
  CHECK(std::set<std::string>(instances.begin(), instances.end()).size() == 3);
  std::vector<std::string> paged;
  std::string cursor;
  std::size_t pages = 0;
  do {
    const auto i = pages % 3;
    auto r = request(asked[i], "GET",
                     "/events?limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor));
    INFO("page " << pages << " on replica " << i << ": " << r.body);
    REQUIRE(r.status == 200);
    CHECK(r.head.find("X-HEP-Instance: " + instances[i]) != std::string::npos);
    auto pg = read_page(r.body);
    CHECK(pg.ids.size() <= 4);
    CHECK(pg.peers == 2);
    CHECK_FALSE(pg.partial);
    paged.insert(paged.end(), pg.ids.begin(), pg.ids.end());
    cursor = pg.next;
    REQUIRE(++pages < 10);
  } while (!cursor.empty());
  // Every stored exchange exactly once, newest first.
  CHECK(paged == newest_first(stored));
  CHECK(pages == 4);
}

TEST_CASE("an agent restarted on its data dir is the same instance, and paging goes on",
          "[agent][fleet]") {
  hep_test::temp_dir data;
  auto on_data = [&](agent::config& cfg) { cfg.data_dir = data.path().string(); };
  std::string first;
  std::uint16_t b_port = 0;
  {
    running_agent b(on_data);
    b_port = b.port();
    first = instance_of(b.port());
    CHECK(request(b.port(), "GET", "/events").head.find("X-HEP-Instance: " + first) !=
          std::string::npos);
    store_exchanges(b.port(), "b", 4, 1);
  }
  REQUIRE(first.size() == 16);
  std::ifstream f(data.path() / "instance-id");
  std::string line;
  std::getline(f, line);
  CHECK(line == first);
  {
    running_agent again(on_data);
    CHECK(instance_of(again.port()) == first);
  }
  running_agent elsewhere;
  CHECK(instance_of(elsewhere.port()) != first);

  // A client pages through A and B; B restarts between two pages: its entry of the cursor is
  // still its own, so nothing is listed twice.
  auto b_again = [&](agent::config& cfg) {
    on_data(cfg);
    cfg.http_listen = {"127.0.0.1", b_port};
  };
  auto b = std::make_unique<running_agent>(b_again);
  running_agent a([&](agent::config& cfg) { cfg.peers = {addr(b_port)}; });
  store_exchanges(a.port(), "a", 4, 0);
  auto p1 = read_page(request(a.port(), "GET", "/events?limit=3").body);
  CHECK(p1.ids == std::vector<std::string>{"b-3", "a-3", "b-2"});
  REQUIRE(!p1.next.empty());
  b.reset();
  b = std::make_unique<running_agent>(b_again);
  std::vector<std::string> paged = p1.ids;
  std::string cursor = p1.next;
  while (!cursor.empty()) {
    auto pg = read_page(request(a.port(), "GET", "/events?limit=3&cursor=" + cursor).body);
    CHECK_FALSE(pg.partial);
    paged.insert(paged.end(), pg.ids.begin(), pg.ids.end());
    cursor = pg.next;
    REQUIRE(paged.size() <= 8);
  }
  CHECK(paged == std::vector<std::string>{"b-3", "a-3", "b-2", "a-2", "b-1", "a-1", "b-0",
                                          "a-0"});
}
