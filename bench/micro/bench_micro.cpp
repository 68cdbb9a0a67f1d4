// SPDX-License-Identifier: Apache-2.0
//
// Micro benchmarks of the SPOP path (issue 6): varint, NOTIFY decode of real HAProxy 2.6 frames
// (through spop::session::feed, as the agent does, and through the lower-level decoder), ACK
// encode, the bridge (SPOP message -> correlate::event), exchange -> JSON line, and the whole
// per-pair CPU path without I/O. Every benchmark reports allocs/op and alloc_bytes/op from the
// counting operator new in alloc_count.cpp.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <arpa/inet.h>

#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/spop_bridge.h"
#include "common/fixtures.h"
#include "correlate/correlator.h"
#include "correlate/redact.h"
#include "micro/alloc_count.h"
#include "micro/proto_json.h"
#include "spop/decoder.h"
#include "spop/encoder.h"
#include "spop/session.h"
#include "storage/json.h"

namespace {

using bench::bytes;

// The frames, built once.
struct frames {
  bytes hello = bench::capture_record("HAPROXY-HELLO", {});
  bytes req_500 = bench::request_500();
  bytes res_500 = bench::response_500();
  bytes res = bench::capture_record("NOTIFY", {"http-res", "[03-post-json]"});
  bytes req_60h = bench::capture_record("NOTIFY", {"http-req", "[06-many-headers]"});
  bytes req_get = bench::capture_record("NOTIFY", {"http-req", "[01-get-simple]"});
};

const frames& fx() {
  static const frames f;
  return f;
}

const bytes& frame_arg(int i) {
  switch (i) {
    case 0:
      return fx().req_500;
    case 1:
      return fx().res_500;
    case 2:
      return fx().res;
    case 3:
      return fx().req_60h;
    default:
      return fx().req_get;
  }
}

const char* frame_name(int i) {
  static const char* names[] = {"req_500B_body", "res_500B_body", "res_fixture_61B",
                                "req_60_headers", "req_get_fixture"};
  return names[i];
}

// Counts allocations made by the timed loop and reports them per iteration.
class alloc_meter {
 public:
  explicit alloc_meter(benchmark::State& st) : st_(st), start_(bench::allocations()) {}
  ~alloc_meter() {
    const auto end = bench::allocations();
    st_.counters["allocs/op"] = benchmark::Counter(
        static_cast<double>(end.allocations - start_.allocations), benchmark::Counter::kAvgIterations);
    st_.counters["alloc_B/op"] = benchmark::Counter(static_cast<double>(end.bytes - start_.bytes),
                                                    benchmark::Counter::kAvgIterations);
  }

 private:
  benchmark::State& st_;
  bench::alloc_counts start_;
};

// ---- varint -------------------------------------------------------------------------------

const std::uint64_t varint_values[] = {100, 1000, 100000, 1ull << 40,
                                       std::numeric_limits<std::uint64_t>::max()};

void bm_varint_decode(benchmark::State& st) {
  const auto v = varint_values[st.range(0)];
  std::byte buf[spop::max_varint_bytes];
  const auto n = spop::encode_varint(v, buf);
  const std::span<const std::byte> in(buf, n);
  st.SetLabel(std::to_string(n) + " bytes");
  alloc_meter m(st);
  for (auto _ : st) {
    benchmark::DoNotOptimize(in);
    auto r = spop::decode_varint(in);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(bm_varint_decode)->DenseRange(0, 4);

void bm_varint_encode(benchmark::State& st) {
  auto v = varint_values[st.range(0)];
  std::byte buf[spop::max_varint_bytes];
  st.SetLabel(std::to_string(spop::varint_size(v)) + " bytes");
  alloc_meter m(st);
  for (auto _ : st) {
    benchmark::DoNotOptimize(v);
    auto n = spop::encode_varint(v, buf);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(bm_varint_encode)->DenseRange(0, 4);

// ---- NOTIFY decode ------------------------------------------------------------------------

// What the agent does per NOTIFY: session::feed decodes the frame and its messages and appends
// the ACK; the caller then writes and clears the output buffer.
void bm_notify_session_feed(benchmark::State& st) {
  const auto& f = frame_arg(static_cast<int>(st.range(0)));
  st.SetLabel(std::string(frame_name(static_cast<int>(st.range(0)))) + " " +
              std::to_string(f.size()) + "B");
  spop::session s;
  std::vector<std::byte> out;
  out.reserve(4096);
  if (s.feed(fx().hello, out).what != spop::session::kind::hello) throw std::runtime_error("hello");
  out.clear();
  {  // Warm the session's scratch vectors, as a connection's first NOTIFY does.
    auto r = s.feed(f, out);
    if (r.what != spop::session::kind::notify) throw std::runtime_error("notify");
    out.clear();
  }
  alloc_meter m(st);
  for (auto _ : st) {
    auto r = s.feed(f, out);
    benchmark::DoNotOptimize(r);
    out.clear();
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(f.size()));
}
BENCHMARK(bm_notify_session_feed)->DenseRange(0, 4);

// The lower-level decoder alone: frame header, then LIST-OF-MESSAGES into reused vectors.
void bm_notify_decoder(benchmark::State& st) {
  const auto& f = frame_arg(static_cast<int>(st.range(0)));
  st.SetLabel(std::string(frame_name(static_cast<int>(st.range(0)))) + " " +
              std::to_string(f.size()) + "B");
  std::vector<spop::message> msgs;
  std::vector<spop::kv> args;
  msgs.reserve(4);
  args.reserve(32);
  alloc_meter m(st);
  for (auto _ : st) {
    auto d = spop::decode_frame(f, 16380);
    auto e = spop::decode_messages(d.view.payload, msgs, args);
    benchmark::DoNotOptimize(e);
    benchmark::DoNotOptimize(msgs.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(f.size()));
}
BENCHMARK(bm_notify_decoder)->DenseRange(0, 4);

// ---- ACK encode ---------------------------------------------------------------------------

void bm_ack_encode(benchmark::State& st) {
  std::vector<std::byte> out;
  out.reserve(64);
  const std::uint64_t sid = static_cast<std::uint64_t>(st.range(0));
  alloc_meter m(st);
  for (auto _ : st) {
    out.clear();
    auto n = spop::encode_ack(out, sid, 2);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(bm_ack_encode)->Arg(7)->Arg(100000);

// ---- bridge and JSON ----------------------------------------------------------------------

struct decoded {
  std::vector<spop::message> msgs;
  std::vector<spop::kv> args;
  explicit decoded(const bytes& f) {
    auto d = spop::decode_frame(f, 1u << 24);
    if (d.what != spop::decode_result::kind::frame ||
        spop::decode_messages(d.view.payload, msgs, args) || msgs.size() != 1) {
      throw std::runtime_error("bad fixture frame");
    }
  }
};

void bm_bridge_to_event(benchmark::State& st) {
  const auto& f = frame_arg(static_cast<int>(st.range(0)));
  st.SetLabel(frame_name(static_cast<int>(st.range(0))));
  const decoded d(f);
  alloc_meter m(st);
  for (auto _ : st) {
    auto r = agent::to_event(d.msgs[0], 1'700'000'000'000'000);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(bm_bridge_to_event)->DenseRange(0, 4);

correlate::exchange make_exchange(const bytes& req, const bytes& res) {
  const decoded dq(req);
  const decoded ds(res);
  auto q = agent::to_event(dq.msgs[0], 1);
  auto s = agent::to_event(ds.msgs[0], 2);
  if (!q.event || !s.event) throw std::runtime_error("bridge");
  auto x = correlate::make_pair(std::move(*q.event), std::move(*s.event));
  correlate::redact(x, {std::begin(correlate::default_redacted_headers),
                        std::end(correlate::default_redacted_headers)});
  return x;
}

void bm_json_line(benchmark::State& st) {
  correlate::exchange x;
  if (st.range(0) == 0) {
    x = make_exchange(fx().req_500, fx().res_500);
    st.SetLabel("500B req + 500B res (JSON bodies)");
  } else if (st.range(0) == 1) {
    x = make_exchange(fx().req_60h, fx().res);
    st.SetLabel("60-header req + fixture res");
  } else {
    // The same exchange with plain-text bodies: nothing to escape in them.
    x = make_exchange(fx().req_500, fx().res_500);
    x.request->body.data.assign(500, 'a');
    x.response->body.data.assign(500, 'a');
    st.SetLabel("500B req + 500B res (plain-text bodies)");
  }
  std::string out;
  storage::append_json_line(x, out);
  const auto line = out.size();
  out.reserve(line * 2);
  alloc_meter m(st);
  for (auto _ : st) {
    out.clear();
    storage::append_json_line(x, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(line));
}
BENCHMARK(bm_json_line)->Arg(0)->Arg(1)->Arg(2);

// The JSON string writer alone on a 500-byte body: a JSON body (many '"' to escape, as real
// API traffic has) and plain text (nothing to escape). Shows what escaping costs per byte.
void bm_json_string_body(benchmark::State& st) {
  const std::string body =
      st.range(0) == 0 ? bench::body_500() : std::string(500, 'a');
  st.SetLabel(st.range(0) == 0 ? "500B JSON body" : "500B plain text");
  std::string out;
  out.reserve(4096);
  alloc_meter m(st);
  for (auto _ : st) {
    out.clear();
    storage::append_json_string(body, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(bm_json_string_body)->Arg(0)->Arg(1);

// The prototype of proto_json.h on the same inputs. Before timing, it must produce exactly the
// output of storage::append_json_string on 200,000 random strings (controls, quotes,
// backslashes, valid and invalid UTF-8, lengths 0..100) and on the body.
void check_proto_json() {
  static bool checked = std::getenv("BENCH_SKIP_PROTO_CHECK") != nullptr;  // for callgrind runs
  if (checked) return;
  std::mt19937 rng(6);
  const char alphabet[] = "ab\"\\\n\x01\x1f\x7f\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\xff\xc0\xed\xa0";
  for (int k = 0; k < 200000; ++k) {
    std::string in(rng() % 100, ' ');
    for (auto& c : in) c = alphabet[rng() % (sizeof alphabet - 1)];
    std::string a;
    std::string b;
    storage::append_json_string(in, a);
    proto::append_json_string(in, b);
    if (a != b) throw std::runtime_error("proto_json differs from storage::append_json_string");
  }
  checked = true;
}

void bm_proto_json_string_body(benchmark::State& st) {
  check_proto_json();
  const std::string body =
      st.range(0) == 0 ? bench::body_500() : std::string(500, 'a');
  st.SetLabel(st.range(0) == 0 ? "500B JSON body" : "500B plain text");
  std::string out;
  out.reserve(4096);
  alloc_meter m(st);
  for (auto _ : st) {
    out.clear();
    proto::append_json_string(body, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(bm_proto_json_string_body)->Arg(0)->Arg(1);

// Client address formatting: inet_ntop (what agent/spop_bridge.cpp as_address did) vs
// agent::append_ipv4 (what it does now).
void bm_ipv4_text(benchmark::State& st) {
  const std::uint8_t a[4] = {10, 200, 17, 254};
  const bool by_hand = st.range(0) == 1;
  st.SetLabel(by_hand ? "by hand (agent::append_ipv4)" : "inet_ntop");
  std::string out;
  out.reserve(64);
  alloc_meter m(st);
  for (auto _ : st) {
    out.clear();
    if (by_hand) {
      agent::append_ipv4(a, out);
    } else {
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET, a, buf, sizeof buf);
      out.append(buf);
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(bm_ipv4_text)->Arg(0)->Arg(1);

// ---- the whole per-pair CPU path, no I/O ---------------------------------------------------

// session::feed (request), to_event, correlator.add; the same for the response, which pairs;
// redaction; JSON line. This is the agent's CPU per pair minus syscalls and the writer's disk.
void bm_pair_path(benchmark::State& st) {
  const auto& req = fx().req_500;
  const auto& res = fx().res_500;
  spop::session s;
  std::vector<std::byte> out;
  out.reserve(4096);
  s.feed(fx().hello, out);
  out.clear();
  correlate::correlator corr;
  std::vector<correlate::exchange> xs;
  xs.reserve(4);
  const std::vector<std::string> names(std::begin(correlate::default_redacted_headers),
                                       std::end(correlate::default_redacted_headers));
  std::string line;
  line.reserve(8192);
  std::int64_t now = 1;
  auto one = [&](const bytes& f) {
    auto r = s.feed(f, out);
    for (const auto& msg : r.notify.messages) {
      auto e = agent::to_event(msg, now);
      corr.add(std::move(*e.event), now++, xs);
    }
    out.clear();
  };
  one(req);
  one(res);
  xs.clear();
  alloc_meter m(st);
  for (auto _ : st) {
    one(req);
    one(res);
    for (auto& x : xs) {
      correlate::redact(x, names);
      line.clear();
      storage::append_json_line(x, line);
    }
    xs.clear();
  }
  st.counters["ns/NOTIFY"] = benchmark::Counter(static_cast<double>(st.iterations()) * 2,
                                                benchmark::Counter::kIsRate |
                                                    benchmark::Counter::kInvert);
}
BENCHMARK(bm_pair_path);

}  // namespace

BENCHMARK_MAIN();
