// SPDX-License-Identifier: Apache-2.0
//
// The fleet read without sockets: the cursor codec, the merge, and fleet_events() /
// fleet_event() over fake sources that page like GET /events?scope=local does.
#include "api/fleet.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/router.h"
#include "storage/json.h"

namespace {

using api::fleet_cursor;
using api::peer_call;
using api::peer_reply;
using api::source_page;

std::string record(const std::string& id, std::int64_t time_us) {
  std::string r = "{\"id\":\"" + id + "\",\"request\":{\"time\":\"";
  storage::append_rfc3339(time_us, r);
  r += "\",\"method\":\"GET\",\"path\":\"/\"}}";
  return r;
}

// One source's records, newest first; its cursor is the index of the next record in decimal.
struct fake_source {
  std::vector<std::string> records;

  std::string page(std::string_view query) const {
    std::size_t from = 0, limit = 100;
    bool local = false;
    for (const auto& [name, value] : api::parse_query(query)) {
      if (name == "cursor") from = std::stoul(value);
      if (name == "limit") limit = std::stoul(value);
      if (name == "scope") local = value == "local";
    }
    REQUIRE(local);
    std::string body = "{\"events\":[";
    std::string cursors;
    std::size_t i = from;
    for (; i < records.size() && i < from + limit; ++i) {
      if (i > from) {
        body += ',';
        cursors += ',';
      }
      body += records[i];
      cursors += "\"" + std::to_string(i + 1) + "\"";
    }
    body += "],\"next\":";
    body += i < records.size() ? "\"" + std::to_string(i) + "\"" : "null";
    body += ",\"cursors\":[" + cursors + "]}";
    return body;
  }
};

class fake_peers final : public api::peer_client {
 public:
  std::map<std::string, fake_source> sources;  // peer -> data
  std::set<std::string> down;                  // answer "connection refused"
  std::string self_peer;                       // answers with our own instance
  std::set<std::string> marked_self;
  std::vector<peer_call> calls_seen;
  std::string id = "inst-a";

  std::vector<std::string> peers() override {
    std::vector<std::string> out;
    for (const auto& [p, s] : sources) {
      if (!marked_self.count(p)) out.push_back(p);
    }
    for (const auto& p : down) out.push_back(p);
    if (!self_peer.empty() && !marked_self.count(self_peer)) out.push_back(self_peer);
    return out;
  }
  std::vector<peer_reply> fetch(const std::vector<peer_call>& calls, bool) override {
    std::vector<peer_reply> out;
    for (const auto& c : calls) {
      calls_seen.push_back(c);
      peer_reply r;
      r.peer = c.peer;
      if (down.count(c.peer)) {
        r.error = "connection refused";
      } else if (c.peer == self_peer) {
        r.status = 200;
        r.instance = id;
        r.body = "{\"events\":[],\"next\":null,\"cursors\":[]}";
      } else {
        const auto q = c.target.substr(c.target.find('?') + 1);
        const auto path = c.target.substr(0, c.target.find('?'));
        r.instance = "inst-" + c.peer;
        if (path == "/events") {
          r.status = 200;
          r.body = sources.at(c.peer).page(q);
        } else {
          r.status = 404;
          const std::string id_wanted = path.substr(std::string("/events/").size());
          for (const auto& rec : sources.at(c.peer).records) {
            if (rec.find("\"" + id_wanted + "\"") != std::string::npos) {
              r.status = 200;
              r.body = rec;
            }
          }
        }
      }
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<peer_reply> unresolved() override {
    if (dns_failure.empty()) return {};
    peer_reply r;
    r.peer = dns_failure;
    r.error = "could not resolve";
    return {r};
  }
  std::string dns_failure;  // a dns: entry without an address
  const std::string& instance() const override { return id; }
  void mark_self(const std::string& peer) override { marked_self.insert(peer); }
};

struct page_view {
  std::vector<std::string> ids;
  std::string next;  // empty: null
  std::int64_t peers = 0;
  bool partial = false;
  std::vector<std::string> failed;
};

page_view read_page(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(body);
  page_view v;
  for (auto e : doc["events"].get_array()) v.ids.emplace_back(std::string_view(e["id"]));
  if (!doc["next"].is_null()) v.next = std::string(std::string_view(doc["next"]));
  v.peers = doc["peers"].get_int64();
  v.partial = doc["partial"].get_bool();
  for (auto f : doc["peers_failed"].get_array()) {
    v.failed.push_back(std::string(std::string_view(f["peer"])) + " " +
                       std::string(std::string_view(f["error"])));
  }
  return v;
}

// Three sources with interleaved times: local t=3k+0, b t=3k+1, c t=3k+2 (k = 0..n-1).
struct three_sources {
  fake_peers peers;
  fake_source local;
  explicit three_sources(int n) {
    for (int k = n - 1; k >= 0; --k) {
      local.records.push_back(record("l" + std::to_string(k), 1'000'000LL * (3 * k + 0)));
      peers.sources["b:1"].records.push_back(
          record("b" + std::to_string(k), 1'000'000LL * (3 * k + 1)));
      peers.sources["c:1"].records.push_back(
          record("c" + std::to_string(k), 1'000'000LL * (3 * k + 2)));
    }
  }
  api::response get(const std::string& query) {
    return api::fleet_events(query, peers, [this](std::string_view q) {
      api::response r;
      r.body = local.page(q);
      return r;
    });
  }
};

}  // namespace

TEST_CASE("fleet cursor: round trip, issuer, garbage refused", "[api][fleet]") {
  fleet_cursor c{{"local", "1z141z7"}, {"10.0.0.2:8080", "done"}, {"[::1]:9", ""}};
  const auto s = api::encode_fleet_cursor(c, "abc123");
  for (char ch : s) {
    CHECK(((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_'));
  }
  std::string issuer;
  const auto back = api::decode_fleet_cursor(s, issuer);
  REQUIRE(back);
  CHECK(*back == c);
  CHECK(issuer == "abc123");

  for (const std::string& bad : std::vector<std::string>{"", "zzz", "1z141z7", "!!!!", api::base64url_encode("[1,2]"),
        api::base64url_encode("{\"local\":\"x\"}"), api::base64url_encode("{\"@\":1}"),
        api::base64url_encode("{\"@\":\"a\",\"x\":3}"), s.substr(0, s.size() - 3)}) {
    std::string who;
    CHECK_FALSE(api::decode_fleet_cursor(bad, who));
  }
}

TEST_CASE("base64url round trips every length and refuses non-canonical input", "[api][fleet]") {
  std::string in;
  for (int i = 0; i < 40; ++i) {
    const auto enc = api::base64url_encode(in);
    CHECK(enc.find('=') == std::string::npos);
    const auto dec = api::base64url_decode(enc);
    REQUIRE(dec);
    CHECK(*dec == in);
    in += static_cast<char>(i * 37 + 200);
  }
  CHECK_FALSE(api::base64url_decode("AB+/"));
  CHECK_FALSE(api::base64url_decode("QR"));  // leftover bits set: "QQ" is the spelling
  CHECK(api::base64url_decode("QQ") == std::string("A"));
}

TEST_CASE("merge_pages: newest first, limit, and where each source stands", "[api][fleet]") {
  source_page a{"a", {record("a2", 20), record("a1", 10)}, {"ca2", "ca1"}, std::nullopt};
  source_page b{"b", {record("b3", 30), record("b2", 15), record("b1", 5)}, {"cb3", "cb2", "cb1"},
                std::string("cb1")};
  source_page c{"c", {}, {}, std::nullopt};
  const fleet_cursor before{{"a", ""}, {"b", "x"}, {"c", ""}, {"failed:1", "f"}};
  auto m = api::merge_pages({a, b, c}, before, 3);
  REQUIRE(m.records.size() == 3);
  CHECK(api::record_time_us(m.records[0]) == 30);
  CHECK(api::record_time_us(m.records[1]) == 20);
  CHECK(api::record_time_us(m.records[2]) == 15);
  CHECK(m.next.at("a") == "ca2");
  CHECK(m.next.at("b") == "cb2");
  CHECK(m.next.at("c") == "done");
  CHECK(m.next.at("failed:1") == "f");  // a source that did not answer keeps its place
  CHECK(m.more);

  auto all = api::merge_pages({a, b, c}, before, 100);
  CHECK(all.records.size() == 5);
  CHECK(all.next.at("a") == "done");
  CHECK(all.next.at("b") == "cb1");  // its own next: it has older records

  source_page a_done{"a", {record("a1", 10)}, {"ca1"}, std::nullopt};
  auto last = api::merge_pages({a_done}, {{"a", "ca2"}}, 10);
  CHECK_FALSE(last.more);

  // Nothing taken from a source: it keeps the cursor it was asked with.
  source_page old{"o", {record("o1", 1)}, {"co1"}, std::nullopt};
  source_page fresh{"f", {record("f1", 100)}, {"cf1"}, std::nullopt};
  auto one = api::merge_pages({old, fresh}, {{"o", "start"}, {"f", ""}}, 1);
  CHECK(one.next.at("o") == "start");
  CHECK(one.next.at("f") == "done");
}

TEST_CASE("fleet_events pages through every source exactly once, newest first",
          "[api][fleet]") {
  three_sources t(7);
  std::vector<std::string> ids;
  std::string cursor;
  int pages = 0;
  do {
    auto r = t.get("limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    const auto v = read_page(r.body);
    // Peers asked on this page that answered: a done source is not asked again.
    CHECK(v.peers == (pages == 0 ? 2 : v.peers));
    CHECK(v.peers <= 2);
    CHECK_FALSE(v.partial);
    ids.insert(ids.end(), v.ids.begin(), v.ids.end());
    cursor = v.next;
    REQUIRE(++pages < 20);
  } while (!cursor.empty());
  REQUIRE(ids.size() == 21);
  for (int k = 6, i = 0; k >= 0; --k) {
    CHECK(ids[static_cast<std::size_t>(i++)] == "c" + std::to_string(k));
    CHECK(ids[static_cast<std::size_t>(i++)] == "b" + std::to_string(k));
    CHECK(ids[static_cast<std::size_t>(i++)] == "l" + std::to_string(k));
  }
  CHECK(pages == 6);
  // Every peer was asked with scope=local (no loops), and a done source is not asked again.
  for (const auto& c : t.peers.calls_seen) CHECK(c.target.find("scope=local") != std::string::npos);
}

TEST_CASE("fleet_events names failed peers, skips itself, refuses bad cursors", "[api][fleet]") {
  three_sources t(2);
  t.peers.down.insert("10.0.0.9:8080");
  t.peers.self_peer = "10.0.0.1:8080";
  auto r = t.get("limit=100");
  REQUIRE(r.status == 200);
  auto v = read_page(r.body);
  CHECK(v.ids.size() == 6);
  CHECK(v.partial);
  CHECK(v.peers == 2);
  CHECK(v.failed == std::vector<std::string>{"10.0.0.9:8080 connection refused"});
  CHECK(t.peers.marked_self == std::set<std::string>{"10.0.0.1:8080"});
  // The failed peer is kept for the next page; the answered sources are done.
  CHECK(v.next.empty());

  // A name without an address is a failed peer too, never silently left out.
  t.peers.dns_failure = "dns:gone:80";
  v = read_page(t.get("limit=100").body);
  CHECK(v.failed == std::vector<std::string>{"10.0.0.9:8080 connection refused",
                                             "dns:gone:80 could not resolve"});
  auto one = api::fleet_event("/events/zz", t.peers, api::error_response(404, "x"));
  CHECK(one.body.find("dns:gone:80") != std::string::npos);

  auto garbage = t.get("cursor=not-a-cursor");
  CHECK(garbage.status == 400);
  CHECK(garbage.body == "{\"error\":\"invalid cursor\"}");
  auto foreign = t.get("cursor=" + api::encode_fleet_cursor({{"local", ""}}, "someone-else"));
  CHECK(foreign.status == 400);
  CHECK(foreign.body.find("invalid cursor: issued by another replica") != std::string::npos);

  // Each source is asked with a limit of the fleet's choosing: the fleet checks the client's.
  for (const char* bad : {"limit=0", "limit=1001", "limit=x", "limit="}) {
    auto r400 = t.get(bad);
    CHECK(r400.status == 400);
    CHECK(r400.body == "{\"error\":\"invalid limit: expected an integer from 1 to 1000\"}");
  }
  auto local_400 = api::fleet_events("status=abc", t.peers, [](std::string_view) {
    return api::error_response(400, "invalid status");
  });
  CHECK(local_400.status == 400);
}

TEST_CASE("fleet_event: local hit, peer hit, 404 naming failed peers", "[api][fleet]") {
  three_sources t(2);
  api::response hit;
  hit.body = record("l1", 3);
  CHECK(api::fleet_event("/events/l1", t.peers, std::move(hit)).body == record("l1", 3));

  auto from_c = api::fleet_event("/events/c0", t.peers, api::error_response(404, "exchange not found"));
  CHECK(from_c.status == 200);
  CHECK(from_c.body.find("\"c0\"") != std::string::npos);

  auto miss = api::fleet_event("/events/zz", t.peers, api::error_response(404, "exchange not found"));
  CHECK(miss.status == 404);
  CHECK(miss.body == "{\"error\":\"exchange not found\"}");

  t.peers.down.insert("10.0.0.9:8080");
  auto partial = api::fleet_event("/events/zz", t.peers, api::error_response(404, "exchange not found"));
  CHECK(partial.status == 404);
  CHECK(partial.body ==
        "{\"error\":\"exchange not found\",\"partial\":true,\"peers_failed\":[{\"peer\":\"10.0.0."
        "9:8080\",\"error\":\"connection refused\"}]}");
}

TEST_CASE("replace_query_param drops every occurrence and encodes the value", "[api][fleet]") {
  CHECK(api::replace_query_param("a=1&cursor=x&b=2&cursor=y", "cursor", "z z") ==
        "a=1&b=2&cursor=z%20z");
  CHECK(api::replace_query_param("cursor=x", "cursor", "") == "");
  CHECK(api::replace_query_param("", "scope", "local") == "scope=local");
}
