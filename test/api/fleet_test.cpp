// SPDX-License-Identifier: Apache-2.0
//
// The fleet read without sockets: the cursor codec, the merge, and fleet_events() /
// fleet_event() over fake sources that page like GET /events?scope=local does.
#include "api/fleet.h"

#include <simdjson.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>
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

// One source's records, newest first; its own cursor is the index of the next record in
// decimal. Asked like GET /events?scope=local, with the fleet cursor it picks its own entry.
struct fake_source {
  std::string instance;
  std::vector<std::string> records;

  std::string page(std::string_view query) const {
    std::size_t from = 0, limit = 100;
    bool local = false, done = false;
    for (const auto& [name, value] : api::parse_query(query)) {
      if (name == "cursor") {
        // The fleet asks with the client's fleet cursor as it is, never with a local one.
        const auto fleet = api::decode_fleet_cursor(value);
        REQUIRE(fleet);
        const auto own = api::own_entry(*fleet, instance);
        done = own == api::cursor_done;
        if (!own.empty() && !done) from = std::stoul(std::string(own));
      }
      if (name == "limit") limit = std::stoul(value);
      if (name == "scope") local = value == "local";
    }
    REQUIRE(local);
    if (done) return "{\"events\":[],\"next\":null,\"cursors\":[]}";
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

// The replicas of one fleet by address, as any of them sees the others.
using fleet_map = std::map<std::string, fake_source>;

// One replica's view: its own instance `id`, and its peers (every address of `fleet` but
// `self_address`), which answer with their own instance.
class fake_peers final : public api::peer_client {
 public:
  std::shared_ptr<fleet_map> fleet = std::make_shared<fleet_map>();
  std::string self_address;                    // this replica's own entry of `fleet`, if any
  std::set<std::string> down;                  // answer "connection refused"
  std::string self_peer;                       // answers with our own instance
  std::map<std::string, std::string> alias;    // another address -> the address it reaches
  std::set<std::string> marked_self;
  std::vector<peer_call> calls_seen;
  std::string id = "inst-a";

  std::vector<std::string> peers() override {
    std::vector<std::string> out;
    for (const auto& [p, s] : *fleet) {
      if (p != self_address && !marked_self.count(p)) out.push_back(p);
    }
    for (const auto& [p, to] : alias) out.push_back(p);
    for (const auto& p : down) {
      if (!fleet->count(p)) out.push_back(p);
    }
    if (!self_peer.empty() && !marked_self.count(self_peer)) out.push_back(self_peer);
    return out;
  }
  std::vector<peer_reply> fetch(const std::vector<peer_call>& calls, bool) override {
    std::vector<peer_reply> out;
    for (const auto& c : calls) {
      calls_seen.push_back(c);
      peer_reply r;
      r.peer = c.peer;
      const auto address = alias.count(c.peer) ? alias.at(c.peer) : c.peer;
      if (down.count(c.peer)) {
        r.error = "connection refused";
      } else if (c.peer == self_peer) {
        r.status = 200;
        r.instance = id;
        r.body = "{\"events\":[],\"next\":null,\"cursors\":[]}";
      } else {
        const auto& src = fleet->at(address);
        const auto q = c.target.substr(c.target.find('?') + 1);
        const auto path = c.target.substr(0, c.target.find('?'));
        r.instance = src.instance;
        if (path == "/events") {
          r.status = 200;
          r.body = src.page(q);
        } else {
          r.status = 404;
          const std::string id_wanted = path.substr(std::string("/events/").size());
          for (const auto& rec : src.records) {
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

// Three replicas with interleaved times: "a:1" t=3k+0, "b:1" t=3k+1, "c:1" t=3k+2 (k = 0..n-1),
// instances "inst-a", "inst-b:1", "inst-c:1". `peers` is a:1's view (it is "local").
struct three_sources {
  fake_peers peers;
  explicit three_sources(int n) {
    peers.self_address = "a:1";
    auto& f = *peers.fleet;
    f["a:1"].instance = "inst-a";
    f["b:1"].instance = "inst-b:1";
    f["c:1"].instance = "inst-c:1";
    for (int k = n - 1; k >= 0; --k) {
      f["a:1"].records.push_back(record("l" + std::to_string(k), 1'000'000LL * (3 * k + 0)));
      f["b:1"].records.push_back(record("b" + std::to_string(k), 1'000'000LL * (3 * k + 1)));
      f["c:1"].records.push_back(record("c" + std::to_string(k), 1'000'000LL * (3 * k + 2)));
    }
  }
  // The view of the replica at `address`: same fleet, its own instance, the others as peers.
  fake_peers view(const std::string& address) const {
    fake_peers v;
    v.fleet = peers.fleet;
    v.self_address = address;
    v.id = peers.fleet->at(address).instance;
    return v;
  }
  static api::response get(fake_peers& pc, const std::string& query) {
    return api::fleet_events(query, pc, [&pc](std::string_view q) {
      api::response r;
      r.body = pc.fleet->at(pc.self_address).page(q);
      return r;
    });
  }
  api::response get(const std::string& query) { return get(peers, query); }
};

// Every id of three_sources(n), newest first.
std::vector<std::string> all_ids(int n) {
  std::vector<std::string> out;
  for (int k = n - 1; k >= 0; --k) {
    for (const char* p : {"c", "b", "l"}) out.push_back(p + std::to_string(k));
  }
  return out;
}

// Pages fleet_events() with limit=4 to the end, page i asked of the replica `asked(i)`, and
// returns the ids in order (`pages` counts the pages). Each page must be whole: both peers
// answered (every peer is asked on every page; a source already done answers an empty page),
// and its cursor names the sources by instance, the names every replica knows them by.
std::vector<std::string> page_through(const std::function<fake_peers&(int)>& asked, int& pages) {
  std::vector<std::string> ids;
  std::string cursor;
  do {
    auto r = three_sources::get(asked(pages),
                                "limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    const auto v = read_page(r.body);
    CHECK(v.peers == 2);
    CHECK_FALSE(v.partial);
    ids.insert(ids.end(), v.ids.begin(), v.ids.end());
    cursor = v.next;
    if (!cursor.empty()) {
      const auto c = api::decode_fleet_cursor(cursor);
      REQUIRE(c);
      for (const auto& [source, pos] : *c) {
        CHECK((source == "inst-a" || source == "inst-b:1" || source == "inst-c:1"));
      }
    }
    REQUIRE(++pages < 20);
  } while (!cursor.empty());
  return ids;
}

}  // namespace

TEST_CASE("fleet cursor: round trip keyed by instance, garbage and the issuer form refused",
          "[api][fleet]") {
  fleet_cursor c{{"14960360c4a81ea2", "1z141z7"}, {"0000000000000001", "done"},
                 {"ffffffffffffffff", ""}};
  const auto s = api::encode_fleet_cursor(c);
  for (char ch : s) {
    CHECK(((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_'));
  }
  const auto back = api::decode_fleet_cursor(s);
  REQUIRE(back);
  CHECK(*back == c);
  // Never a local cursor: a scope=local source tells the two apart by decode_cursor().
  CHECK_FALSE(api::decode_cursor(s));
  CHECK_FALSE(api::decode_cursor(api::encode_fleet_cursor({{"a", ""}})));

  for (const std::string& bad : std::vector<std::string>{
           "", "zzz", "1z141z7", "!!!!", api::base64url_encode("[1,2]"),
           api::base64url_encode("{}"), api::base64url_encode("{\"\":\"x\"}"),
           api::base64url_encode("{\"a\":3}"),
           // The form of the versions before instance keys: valid on its issuer only.
           api::base64url_encode("{\"@\":\"14960360c4a81ea2\",\"local\":\"1z141z6\"}"),
           s.substr(0, s.size() - 3)}) {
    INFO(bad);
    CHECK_FALSE(api::decode_fleet_cursor(bad));
  }
}

TEST_CASE("own_entry: a source's cursor, done, or from the newest when absent", "[api][fleet]") {
  const fleet_cursor c{{"inst-a", "1z141z7"}, {"inst-b", "done"}, {"inst-c", ""}};
  CHECK(api::own_entry(c, "inst-a") == "1z141z7");
  CHECK(api::own_entry(c, "inst-b") == api::cursor_done);
  CHECK(api::own_entry(c, "inst-c").empty());
  CHECK(api::own_entry(c, "inst-new").empty());
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
  int pages = 0;
  CHECK(page_through([&](int) -> fake_peers& { return t.peers; }, pages) == all_ids(7));
  CHECK(pages == 6);
  // Every peer was asked with scope=local (no loops).
  for (const auto& c : t.peers.calls_seen) CHECK(c.target.find("scope=local") != std::string::npos);
}

TEST_CASE("a fleet cursor pages on any replica, each source read from its own entry",
          "[api][fleet]") {
  three_sources t(5);
  std::vector<fake_peers> replicas;
  for (const char* a : {"a:1", "b:1", "c:1"}) replicas.push_back(t.view(a));
  int pages = 0;
  const auto ids = page_through(
      [&](int page) -> fake_peers& { return replicas[static_cast<std::size_t>(page % 3)]; },
      pages);
  CHECK(ids == all_ids(5));
  CHECK(pages == 4);
  for (const auto& rp : replicas) CHECK_FALSE(rp.calls_seen.empty());
}

TEST_CASE("a failed peer keeps its entry and is read from there when it answers again",
          "[api][fleet]") {
  three_sources t(4);
  auto v1 = read_page(t.get("limit=3").body);
  CHECK(v1.ids == std::vector<std::string>{"c3", "b3", "l3"});
  const auto c1 = api::decode_fleet_cursor(v1.next);
  REQUIRE(c1);

  t.peers.down.insert("c:1");
  auto v2 = read_page(t.get("limit=3&cursor=" + v1.next).body);
  CHECK(v2.ids == std::vector<std::string>{"b2", "l2", "b1"});
  CHECK(v2.partial);
  CHECK(v2.peers == 1);
  CHECK(v2.failed == std::vector<std::string>{"c:1 connection refused",
                                              "instance inst-c:1 no answer from this instance"});
  const auto c2 = api::decode_fleet_cursor(v2.next);
  REQUIRE(c2);
  CHECK(c2->at("inst-c:1") == c1->at("inst-c:1"));  // untouched
  CHECK(c2->at("inst-b:1") != c1->at("inst-b:1"));

  // Back: its records come from where it stood, none twice, none lost.
  t.peers.down.clear();
  std::vector<std::string> ids = v1.ids;
  ids.insert(ids.end(), v2.ids.begin(), v2.ids.end());
  std::string cursor = v2.next;
  while (!cursor.empty()) {
    auto v = read_page(t.get("limit=3&cursor=" + cursor).body);
    CHECK_FALSE(v.partial);
    ids.insert(ids.end(), v.ids.begin(), v.ids.end());
    cursor = v.next;
    REQUIRE(ids.size() <= 12);
  }
  std::vector<std::string> sorted = ids, want = all_ids(4);
  std::sort(sorted.begin(), sorted.end());
  std::sort(want.begin(), want.end());
  CHECK(sorted == want);
  // c's records came late but in their own order.
  std::vector<std::string> from_c;
  for (const auto& id : ids) {
    if (id[0] == 'c') from_c.push_back(id);
  }
  CHECK(from_c == std::vector<std::string>{"c3", "c2", "c1", "c0"});
}

TEST_CASE("a peer that failed before it ever answered starts from its newest", "[api][fleet]") {
  three_sources t(2);
  t.peers.down.insert("c:1");
  auto v1 = read_page(t.get("limit=2").body);
  CHECK(v1.ids == std::vector<std::string>{"b1", "l1"});
  CHECK(v1.failed == std::vector<std::string>{"c:1 connection refused"});
  const auto c1 = api::decode_fleet_cursor(v1.next);
  REQUIRE(c1);
  CHECK(c1->count("inst-c:1") == 0);  // no instance known for it yet
  t.peers.down.clear();
  auto v2 = read_page(t.get("limit=10&cursor=" + v1.next).body);
  CHECK(v2.ids == std::vector<std::string>{"c1", "c0", "b0", "l0"});
  CHECK(v2.next.empty());
  CHECK_FALSE(v2.partial);
}

TEST_CASE("one replica behind two addresses is read once", "[api][fleet]") {
  three_sources t(2);
  t.peers.alias["10.0.0.3:8080"] = "b:1";
  auto v = read_page(t.get("limit=100").body);
  CHECK(v.ids == all_ids(2));
  CHECK(v.peers == 2);
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
  // The answered sources are done; the failed peer (no instance known) is asked on any page.
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
  auto old_form = t.get("cursor=" + api::base64url_encode("{\"@\":\"inst-a\",\"local\":\"\"}"));
  CHECK(old_form.status == 400);
  CHECK(old_form.body == "{\"error\":\"invalid cursor\"}");

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
