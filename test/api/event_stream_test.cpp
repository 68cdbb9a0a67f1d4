// SPDX-License-Identifier: Apache-2.0
//
// api::event_stream without sockets: the Server-Sent Events text, the filter, the bound on
// what a client may have pending, and how a gap is reported.
#include "api/event_stream.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <string>

#include "storage/json.h"

namespace {

correlate::exchange exchange(const std::string& id, int status, std::size_t body = 0) {
  correlate::exchange x;
  x.id = id;
  x.complete = true;
  correlate::request_half rq;
  rq.time_us = 1795830243123456;
  rq.method = "GET";
  rq.path = "/" + id;
  rq.version = "1.1";
  rq.headers = {{"host", "shop.local"}};
  x.request = std::move(rq);
  correlate::response_half rs;
  rs.time_us = 1795830243125000;
  rs.status = status;
  rs.version = "1.1";
  rs.body.data = std::string(body, 'z');
  rs.body.size = body;
  x.response = std::move(rs);
  return x;
}

api::stream_record record(const correlate::exchange& x) {
  api::stream_record r;
  r.assign(x);
  return r;
}

std::string take(api::event_stream& s) {
  std::string out;
  s.take(out);
  return out;
}

std::string message(const api::stream_record& r) {
  return "event: exchange\ndata: " + std::string(r.line()) + "\n\n";
}

}  // namespace

TEST_CASE("a stream record is the stored line, padded for the matcher", "[api][live]") {
  const auto x = exchange("a", 200);
  const auto r = record(x);
  std::string stored;
  storage::append_json_line(x, stored);
  CHECK(std::string(r.line()) + "\n" == stored);
  CHECK(r.capacity() >= r.line().size() + simdjson::SIMDJSON_PADDING);
}

TEST_CASE("a stream starts with retry and ready, then sends what matches", "[api][live]") {
  storage::filter f;
  f.status_class = 5;
  api::event_stream s(std::move(f));
  CHECK(s.has_pending());
  CHECK(take(s) == "retry: 3000\n\nevent: ready\ndata: {}\n\n");
  CHECK_FALSE(s.has_pending());

  const auto ok = record(exchange("ok", 200));
  const auto bad = record(exchange("bad", 502));
  CHECK_FALSE(s.offer(ok, 1 << 20));
  CHECK_FALSE(s.has_pending());
  CHECK(s.offer(bad, 1 << 20));
  CHECK(take(s) == message(bad));
  CHECK(s.sent() == 1);
  CHECK(s.dropped() == 0);

  // Without a filter everything matches.
  api::event_stream all{storage::filter{}};
  take(all);
  CHECK(all.offer(ok, 1 << 20));
  CHECK(all.offer(bad, 1 << 20));
  CHECK(take(all) == message(ok) + message(bad));
}

TEST_CASE("past the bound exchanges are dropped as one run, then reported", "[api][live]") {
  api::event_stream s{storage::filter{}};
  take(s);
  const auto small = record(exchange("small", 200));
  const auto big = record(exchange("big", 200, 4000));
  const std::size_t bound = message(small).size() * 3 + 10;

  CHECK(s.offer(small, bound));
  CHECK(s.offer(small, bound));
  CHECK(s.offer(small, bound));
  CHECK_FALSE(s.offer(small, bound));  // the fourth does not fit
  CHECK(s.pending_bytes() == 3 * message(small).size());
  CHECK(s.dropped() == 1);
  CHECK(s.has_pending());
  // Once dropping, a record that would still fit is dropped too: one gap, not several.
  api::event_stream t{storage::filter{}};
  take(t);
  CHECK(t.offer(small, message(small).size() + 5));
  CHECK_FALSE(t.offer(big, message(small).size() + 5));
  CHECK_FALSE(t.offer(small, 1 << 20));
  CHECK(t.dropped() == 2);
  CHECK(take(t) == message(small) + "event: dropped\ndata: {\"dropped\":2,\"total\":2}\n\n");

  CHECK_FALSE(s.offer(small, bound));
  CHECK(take(s) == message(small) + message(small) + message(small) +
                       "event: dropped\ndata: {\"dropped\":2,\"total\":2}\n\n");
  CHECK_FALSE(s.has_pending());
  // Taken: room again, and the total keeps counting.
  CHECK(s.offer(small, bound));
  CHECK(s.offer(small, bound));
  CHECK(s.offer(small, bound));
  CHECK_FALSE(s.offer(small, bound));
  CHECK(take(s).ends_with("event: dropped\ndata: {\"dropped\":1,\"total\":3}\n\n"));
  CHECK(s.sent() == 6);
  CHECK(s.dropped() == 3);
}

TEST_CASE("a record larger than the bound still goes to a client that keeps up", "[api][live]") {
  api::event_stream s{storage::filter{}};
  take(s);
  const auto big = record(exchange("big", 200, 4000));
  CHECK(s.offer(big, 100));
  CHECK_FALSE(s.offer(big, 100));
  CHECK(take(s) == message(big) + "event: dropped\ndata: {\"dropped\":1,\"total\":1}\n\n");
  CHECK(s.offer(big, 100));
}

TEST_CASE("a heartbeat is a comment, sent only when nothing else is pending", "[api][live]") {
  api::event_stream s{storage::filter{}};
  s.heartbeat();  // the preamble is pending
  CHECK(take(s) == "retry: 3000\n\nevent: ready\ndata: {}\n\n");
  s.heartbeat();
  s.heartbeat();
  CHECK(take(s) == ": keepalive\n\n");
  const auto r = record(exchange("a", 200));
  CHECK(s.offer(r, 1 << 20));
  s.heartbeat();
  CHECK(take(s) == message(r));
}

TEST_CASE("a fleet stream relays a peer's records unfiltered, under the same bound",
          "[api][live][fleet]") {
  // The peer applied the filter already: a record this stream's own filter would refuse is
  // relayed all the same.
  storage::filter f;
  f.status_class = 5;
  api::event_stream s(std::move(f));
  take(s);
  const auto ok = record(exchange("ok", 200));
  CHECK(s.relay(ok.line(), 1 << 20));
  CHECK(take(s) == message(ok));
  const std::size_t bound = message(ok).size() + 5;
  CHECK(s.relay(ok.line(), bound));
  CHECK_FALSE(s.relay(ok.line(), bound));
  CHECK(s.sent() == 2);
  CHECK(s.dropped() == 1);
  CHECK(take(s) == message(ok) + "event: dropped\ndata: {\"dropped\":1,\"total\":1}\n\n");
}

TEST_CASE("a peer's drops are reported without opening a gap, and notices are never dropped",
          "[api][live][fleet]") {
  api::event_stream s{storage::filter{}};
  take(s);
  const auto r = record(exchange("a", 200));
  s.add_dropped(4);
  CHECK(s.has_pending());
  // Still queued after the peer's drops: only this stream's own gap drops what follows.
  CHECK(s.relay(r.line(), 1 << 20));
  CHECK(take(s) == message(r) + "event: dropped\ndata: {\"dropped\":4,\"total\":4}\n\n");
  CHECK_FALSE(s.has_pending());

  // A notice goes out past the bound, after what is pending.
  const std::size_t bound = message(r).size() + 5;
  CHECK(s.offer(r, bound));
  CHECK_FALSE(s.offer(r, bound));
  s.notice("peers", R"({"peers":2,"partial":false,"peers_failed":[]})");
  s.add_dropped(1);
  CHECK(take(s) == message(r) +
                       "event: peers\ndata: {\"peers\":2,\"partial\":false,\"peers_failed\":[]}\n\n"
                       "event: dropped\ndata: {\"dropped\":2,\"total\":6}\n\n");
  CHECK(s.fleet_target().empty());
  s.set_fleet_target("/events/stream?scope=local");
  CHECK(s.fleet_target() == "/events/stream?scope=local");
}
