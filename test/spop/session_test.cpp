// SPDX-License-Identifier: Apache-2.0
#include "spop/session.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "fixture_util.h"
#include "spop/decoder.h"
#include "spop/encoder.h"

using spop_test::exp_frame;
using spop_test::to_hex;
using kind = spop::session::kind;

// Counts heap allocations made while `g_counting` is set (steady-state test below).
namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

// Every replaceable form is replaced so that new/delete pairs stay consistent under ASan.
namespace {
void* counted_alloc(std::size_t n) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

// The configuration under which our session answers exactly what the recording agent sent
// (same max-frame-size, same capabilities), so AGENT-HELLO bytes can be compared as is.
spop::session_config config_for(const std::string& set) {
  spop::session_config cfg;
  if (set == "haproxy-2.6-capture") {
    cfg.fragmentation = false;  // recorded: "pipelining,async", 16380
  } else if (set == "haproxy-2.6-fragmented") {
    cfg.max_frame_size = 1024;  // recorded: 1024 + "pipelining,async,fragmentation"
    cfg.fragmentation = true;
  } else if (set.rfind("haproxy-3.", 0) == 0) {
    // recorded through spop_proxy.py: our agent with its defaults answered
  } else {
    cfg.max_frame_size = 1024;  // recorded: 1024 + "pipelining,async", no fragmentation
    cfg.fragmentation = false;
  }
  return cfg;
}

std::vector<const exp_frame*> frames_of(const spop_test::fixture_set& set, int conn) {
  std::vector<const exp_frame*> out;
  for (const exp_frame& f : set.frames) {
    if (f.conn == conn) out.push_back(&f);
  }
  return out;
}

const spop_test::exp_value* kv_of(const exp_frame& f, std::string_view key) {
  for (const auto& item : f.kvs) {
    if (item.name == key) return &item.value;
  }
  return nullptr;
}

bool healthcheck_of(const exp_frame& f) {
  const auto* hc = kv_of(f, "healthcheck");
  return hc != nullptr && hc->boolean;
}

std::vector<std::byte> h2a_stream(const spop_test::fixture_set& set, int conn) {
  std::vector<std::byte> out;
  for (const exp_frame* f : frames_of(set, conn)) {
    if (!f->h2a) continue;
    const auto rec = set.record(*f);
    out.insert(out.end(), rec.begin(), rec.end());
  }
  return out;
}

}  // namespace

TEST_CASE("session: replay of every recorded connection", "[spop][session][fixtures]") {
  struct totals {
    std::size_t hellos = 0, healthchecks = 0, notifies = 0, fragments = 0, disconnects = 0,
                aborts = 0;
  };
  for (const char* name : spop_test::set_names) {
    const auto& set = spop_test::load_set(name);
    const spop::session_config cfg = config_for(name);
    totals t;
    for (int conn : set.connections()) {
      const auto frames = frames_of(set, conn);
      spop::session s(cfg);
      std::vector<std::byte> out;
      std::vector<std::pair<std::uint64_t, std::uint64_t>> ours, recorded;
      bool dropping = false;
      for (std::size_t k = 0; k < frames.size(); ++k) {
        const exp_frame& e = *frames[k];
        const std::string w =
            set.name + " conn " + std::to_string(conn) + " frame " + std::to_string(e.index);
        INFO(w);
        const auto rec = set.record(e);
        // The next frame the recording agent wrote of type `type` on this connection.
        auto next_reply = [&](int type) -> std::span<const std::byte> {
          for (std::size_t j = k + 1; j < frames.size(); ++j) {
            if (!frames[j]->h2a && frames[j]->type == type) return set.record(*frames[j]);
          }
          FAIL("no recorded reply of type " << type);
          return {};
        };
        if (!e.h2a) {
          if (e.type == 103 && (e.flags & spop::flag_abort)) {
            // The recording agent cancelled this fragmented NOTIFY; do the same.
            out.clear();
            REQUIRE(s.abort_fragmented(out));
            CHECK(to_hex(out) == to_hex(rec));
            dropping = true;
            ++t.aborts;
          } else if (e.type == 103) {
            recorded.emplace_back(e.sid, e.fid);
          }
          continue;
        }
        out.clear();
        REQUIRE(!s.closing());
        const spop::session::result r = s.feed(rec, out);
        INFO("reason " << r.err.reason);
        REQUIRE(r.what != kind::error);
        CHECK(r.consumed == rec.size());
        // The record alone holds one frame; an empty input asks for more.
        CHECK(s.feed({}, out).what == kind::need_more);
        switch (e.type) {
          case 1: {
            REQUIRE(r.what == kind::hello);
            ++t.hellos;
            CHECK(s.ready());
            // The recording agent always announced its own list; we answer the intersection
            // with HAProxy's offer, which differs only for health checks (offer "").
            if (healthcheck_of(e)) {
              std::vector<std::byte> want;
              spop::encode_agent_hello(
                  want, {"2.0", r.hello.max_frame_size, cfg.fragmentation ? "fragmentation" : ""});
              CHECK(to_hex(out) == to_hex(want));
            } else {
              CHECK(to_hex(out) == to_hex(next_reply(101)));
            }
            CHECK(r.hello.max_frame_size == std::min<std::uint32_t>(cfg.max_frame_size, 16380));
            CHECK(s.max_frame_size() == r.hello.max_frame_size);
            const bool healthcheck = healthcheck_of(e);
            CHECK(r.hello.healthcheck == healthcheck);
            CHECK(s.closing() == healthcheck);
            if (healthcheck) ++t.healthchecks;
            const auto* engine = kv_of(e, "engine-id");
            CHECK(r.hello.engine_id == (engine ? engine->str : std::string()));
            break;
          }
          case 3:
          case 0:
            if (e.decoded == exp_frame::decoded_kind::messages) {
              REQUIRE(r.what == kind::notify);
              ++t.notifies;
              CHECK(r.notify.stream_id == e.sid);
              CHECK(r.notify.frame_id == e.fid);
              spop_test::check_messages(r.notify.messages, e.messages, w);
              const auto d = spop::decode_frame(out, 0xFFFFFFFF);
              REQUIRE(d.what == spop::decode_result::kind::frame);
              CHECK(d.consumed == out.size());  // exactly one ACK
              CHECK(d.view.type == spop::frame_type::ack);
              CHECK(d.view.flags == spop::flag_fin);
              CHECK(d.view.stream_id == e.sid);
              CHECK(d.view.frame_id == e.fid);
              CHECK(d.view.payload.empty());
              ours.emplace_back(e.sid, e.fid);
              CHECK(!dropping);
            } else {
              REQUIRE(r.what == kind::fragment);
              ++t.fragments;
              CHECK(out.empty());
              if (e.flags & spop::flag_fin) dropping = false;
            }
            break;
          case 2: {
            REQUIRE(r.what == kind::disconnect);
            ++t.disconnects;
            CHECK(r.disconnect.status == kv_of(e, "status-code")->u64);
            CHECK(r.disconnect.message == kv_of(e, "message")->str);
            CHECK(to_hex(out) == to_hex(next_reply(102)));
            CHECK(s.closing());
            break;
          }
          default:
            FAIL("unexpected H2A frame type " << e.type);
        }
      }
      std::sort(ours.begin(), ours.end());
      std::sort(recorded.begin(), recorded.end());
      CHECK(ours == recorded);
    }
    INFO(name);
    if (std::string(name) == "haproxy-2.6-capture") {
      CHECK(t.hellos == 6);
      CHECK(t.healthchecks == 3);
      CHECK(t.notifies == 58);
      CHECK(t.disconnects == 3);
    } else if (std::string(name) == "haproxy-2.6-fragmented") {
      CHECK(t.hellos == 21);
      CHECK(t.notifies == 44 + 11);
      CHECK(t.aborts == 1);
      CHECK(t.fragments == 12 + 72 + 1);  // first fragments, middle ones, the aborted FIN
      CHECK(t.disconnects == 21);
    } else if (std::string(name) == "haproxy-3.2-capture") {
      // 3.1+: no DISCONNECT at all (connections end with a TCP reset), no fragments.
      CHECK(t.hellos == 3);
      CHECK(t.healthchecks == 0);
      CHECK(t.notifies == 57);
      CHECK(t.disconnects == 0);
      CHECK(t.fragments == 0);
    } else if (std::string(name) == "haproxy-3.4-capture") {
      CHECK(t.hellos == 2);
      CHECK(t.healthchecks == 1);
      CHECK(t.notifies == 56);
      CHECK(t.disconnects == 0);
      CHECK(t.fragments == 0);
    } else {
      CHECK(t.hellos == 6);
      CHECK(t.notifies == 4);
      CHECK(t.disconnects == 6);
    }
  }
}

TEST_CASE("session: whole stream, one byte at a time and every split agree",
          "[spop][session][fixtures]") {
  for (const char* name : spop_test::set_names) {
    const auto& set = spop_test::load_set(name);
    const spop::session_config cfg = config_for(name);
    for (int conn : set.connections()) {
      INFO(set.name << " conn " << conn);
      const auto bytes = h2a_stream(set, conn);
      const std::size_t whole_boundary[] = {bytes.size()};
      std::vector<std::byte> out_whole;
      const auto whole = spop_test::run_session(bytes, whole_boundary, cfg, out_whole, true);
      REQUIRE(whole.back().find("consumed=" + std::to_string(bytes.size())) != std::string::npos);

      std::vector<std::size_t> bytewise(bytes.size());
      for (std::size_t i = 0; i < bytes.size(); ++i) bytewise[i] = i + 1;
      std::vector<std::byte> out_bytewise;
      CHECK(spop_test::run_session(bytes, bytewise, cfg, out_bytewise, true) == whole);
      CHECK(out_bytewise == out_whole);

      // Splits: the first piece ends at `split`, the rest arrives at once; compared by
      // fingerprint (see session_fingerprint) and output bytes with the whole-stream run.
      // Every offset of streams up to 4 KiB; for longer ones (each split re-decodes the whole
      // stream) every offset within 24 bytes of a frame start, so length and header are cut in
      // every way, plus every 61st offset. HEP_SPOP_EXHAUSTIVE=1 tries every offset everywhere
      // (~40 s with sanitizers). The byte-at-a-time run above already ends the input at every
      // offset.
      std::vector<bool> near_start(bytes.size() + 1, false);
      for (std::size_t at = 0; at < bytes.size();) {
        for (std::size_t j = at > 24 ? at - 24 : 0; j <= std::min(bytes.size(), at + 24); ++j) {
          near_start[j] = true;
        }
        at += 4 + ((static_cast<std::size_t>(bytes[at]) << 24) |
                   (static_cast<std::size_t>(bytes[at + 1]) << 16) |
                   (static_cast<std::size_t>(bytes[at + 2]) << 8) |
                   static_cast<std::size_t>(bytes[at + 3]));
      }
      const bool exhaustive = bytes.size() <= 4096 || std::getenv("HEP_SPOP_EXHAUSTIVE") != nullptr;
      std::vector<std::byte> out_ref;
      const std::size_t one[] = {bytes.size()};
      const std::uint64_t ref = spop_test::session_fingerprint(bytes, one, cfg, out_ref);
      CHECK(out_ref == out_whole);
      for (std::size_t split = 0; split <= bytes.size(); ++split) {
        if (!exhaustive && !near_start[split] && split % 61 != 0) continue;
        const std::size_t b[] = {split, bytes.size()};
        std::vector<std::byte> out_split;
        if (spop_test::session_fingerprint(bytes, b, cfg, out_split) != ref ||
            out_split != out_ref) {
          FAIL("split at " << split << " changes the result");
        }
      }
    }
  }
}

TEST_CASE("session: default config announces fragmentation and caps the frame size",
          "[spop][session]") {
  std::vector<std::byte> in, out;
  spop::encode_haproxy_hello(in, {"2.0", 16380, "pipelining,async", "e1", false});
  spop::session s;
  CHECK(!s.ready());
  CHECK(s.max_frame_size() == spop::session_config{}.max_frame_size);
  auto r = s.feed(in, out);
  REQUIRE(r.what == kind::hello);
  CHECK(r.hello.capabilities == "pipelining,async,fragmentation");
  CHECK(r.hello.max_frame_size == 16380);
  CHECK(r.hello.engine_id == "e1");

  // Our cap below HAProxy's offer wins; unknown capabilities are ignored, spaces trimmed.
  in.clear();
  out.clear();
  spop::encode_haproxy_hello(in, {" 1.0 , 2.5", 16380, " async , foo", {}, false});
  spop::session small({4096, false, 1 << 20});
  r = small.feed(in, out);
  REQUIRE(r.what == kind::hello);
  CHECK(r.hello.capabilities == "async");
  CHECK(r.hello.max_frame_size == 4096);
  std::vector<std::byte> want;
  spop::encode_agent_hello(want, {"2.0", 4096, "async"});
  CHECK(out == want);
  CHECK(small.max_frame_size() == 4096);
}

TEST_CASE("session: agent-initiated disconnect and abort", "[spop][session]") {
  std::vector<std::byte> in, out;
  spop::encode_haproxy_hello(in, {});
  spop::session s;
  REQUIRE(s.feed(in, out).what == kind::hello);
  CHECK(!s.abort_fragmented(out));  // nothing pending
  out.clear();
  s.disconnect(out, spop::status::timeout);
  CHECK(s.closing());
  std::vector<std::byte> want;
  spop::encode_agent_disconnect(want, spop::status::timeout, "a timeout occurred");
  CHECK(out == want);
  s.disconnect(out);  // only one DISCONNECT is ever sent
  CHECK(out == want);
  // Nothing is decoded once closing.
  in.clear();
  spop::encode_notify(in, 1, 1, {});
  CHECK(s.feed(in, out).what == kind::need_more);
  CHECK(out == want);

  // Errors are sticky and the DISCONNECT is appended once.
  spop::session e;
  out.clear();
  const auto r1 = e.feed(spop_test::as_bytes("GET / HTTP/1.1\r\n"), out);
  REQUIRE(r1.what == kind::error);
  CHECK(r1.err.code == spop::status::too_big);
  const std::size_t n = out.size();
  const auto r2 = e.feed(in, out);
  CHECK(r2.what == kind::error);
  CHECK(r2.err.code == spop::status::too_big);
  CHECK(out.size() == n);
  CHECK(e.closing());

  // Moved-from sessions hand their state over.
  spop::session moved(std::move(e));
  CHECK(moved.closing());
}

TEST_CASE("session: steady state does not allocate", "[spop][session]") {
  const auto& set = spop_test::load_set("haproxy-2.6-capture");
  std::vector<std::byte> hello, notify;
  for (const exp_frame& f : set.frames) {
    const auto rec = set.record(f);
    if (f.conn != 1 || !f.h2a) continue;
    if (f.type == 1 && hello.empty()) hello.assign(rec.begin(), rec.end());
    if (f.type == 3 && notify.size() < rec.size()) notify.assign(rec.begin(), rec.end());
  }
  spop::session s;
  std::vector<std::byte> out;
  REQUIRE(s.feed(hello, out).what == kind::hello);
  out.reserve(4096);
  for (int i = 0; i < 2; ++i) {  // warm-up sizes the scratch vectors
    out.clear();
    REQUIRE(s.feed(notify, out).what == kind::notify);
  }
  g_allocations = 0;
  g_counting = true;
  std::size_t messages = 0;
  for (int i = 0; i < 100; ++i) {
    out.clear();
    const auto r = s.feed(notify, out);
    messages += r.notify.messages.size();
  }
  g_counting = false;
  CHECK(messages == 100);
  CHECK(g_allocations.load() == 0);
}
