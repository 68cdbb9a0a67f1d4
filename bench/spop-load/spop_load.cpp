// SPDX-License-Identifier: Apache-2.0
//
// spop-load: an SPOP load generator that plays HAProxy 2.6 against an agent (issue 6).
//
// Opens N connections to the agent, sends a HAPROXY-HELLO on each (pipelining,async, 16380),
// then replays request/response NOTIFY pairs as HAProxy's capture configuration sends them
// (HAProxy 2.6's own 03-post-json messages: 13 and 11 arguments, real header blocks, bodies of
// --body bytes), every pair with a fresh unique id, stream-id = pair number, frame-id 1 for the
// request and 2 for the response. Each connection keeps at most --window frames in flight
// (pipelining). --rate R sends R NOTIFY/s in total (paced by a 1 ms timer), --rate 0 keeps every
// window full. Every ACK is checked: type ACK, FIN, stream-id/frame-id of a frame in flight, and
// at the end one ACK per NOTIFY. ACK latency (write of the NOTIFY -> read of its ACK) goes to a
// log-bucketed histogram (HdrHistogram-like, 1/64 relative precision).
//
// Output: a readable report on stderr and one `RESULT key=value ...` line on stdout.
// Exit status 0 when every NOTIFY was ACKed correctly, 1 otherwise, 2 on bad usage.
#include <uv.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/fixtures.h"
#include "spop/decoder.h"
#include "spop/encoder.h"

namespace {

// ---- options -------------------------------------------------------------------------------

struct options {
  std::string host = "127.0.0.1";
  int port = 12345;
  int conns = 4;
  int window = 64;
  double rate = 0;  // NOTIFY/s in total; 0 = flat out
  double duration = 10;
  double warmup = 1;
  std::size_t body = 500;
  int agent_pid = 0;  // when set, the agent's CPU time over the measured window is reported
  std::uint32_t max_frame_size = 16380;
  // --ports P1,P2,...: connection i goes to ports[i % n] (several agents: Kafka pairing).
  std::vector<int> ports;
  // --split: the response of a pair goes on another connection than its request (connection
  // i sends the responses of connection i + 1's requests), as HAProxy does over a pool.
  bool split = false;
};

void usage() {
  std::fputs(
      "usage: spop-load [--host H] [--port P] [--conns N] [--window W] [--rate NOTIFY_PER_S]\n"
      "                 [--duration S] [--warmup S] [--body BYTES] [--agent-pid PID]\n"
      "                 [--ports P1,P2,...] [--split 1]\n"
      "  --ports spreads the connections over several agents; --split 1 sends each response on\n"
      "  another connection than its request (with --ports: to another agent).\n"
      "  --rate 0 (default) = flat out; the window is per connection, in frames.\n",
      stderr);
}

bool parse(int argc, char** argv, options& o, bool& help) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      help = true;
      return false;
    }
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = std::atoi(v);
    else if (a == "--conns") o.conns = std::atoi(v);
    else if (a == "--window") o.window = std::atoi(v);
    else if (a == "--rate") o.rate = std::atof(v);
    else if (a == "--duration") o.duration = std::atof(v);
    else if (a == "--warmup") o.warmup = std::atof(v);
    else if (a == "--body") o.body = static_cast<std::size_t>(std::atol(v));
    else if (a == "--agent-pid") o.agent_pid = std::atoi(v);
    else if (a == "--split") o.split = std::atoi(v) != 0;
    else if (a == "--ports") {
      std::string_view rest = v;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        o.ports.push_back(std::atoi(std::string(rest.substr(0, comma)).c_str()));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      if (o.ports.empty() || o.ports.front() <= 0) return false;
      o.port = o.ports.front();
    }
    else return false;
  }
  return o.conns > 0 && o.window > 0 && o.duration > 0 && o.port > 0 && o.body < 15000;
}

// ---- histogram ------------------------------------------------------------------------------

// Values < 128 have their own bucket; above, each power of two is split in 64 linear buckets.
class histogram {
 public:
  void record(std::uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
  }
  void reset() {
    counts_.fill(0);
    total_ = 0;
    max_ = 0;
  }
  std::uint64_t total() const { return total_; }
  std::uint64_t max() const { return max_; }
  // The upper bound of the bucket holding the q-quantile (0..1).
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    const auto want = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= std::max<std::uint64_t>(want, 1)) return std::min(upper(i), max_);
    }
    return max_;
  }

 private:
  static std::size_t index(std::uint64_t v) {
    if (v < 128) return static_cast<std::size_t>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - 6;  // >= 1
    return 128 + (shift - 1) * 64 + static_cast<std::size_t>((v >> shift) - 64);
  }
  static std::uint64_t upper(std::size_t i) {
    if (i < 128) return i;
    const std::size_t shift = (i - 128) / 64 + 1;
    const std::uint64_t top = (i - 128) % 64 + 64;
    return ((top + 1) << shift) - 1;
  }
  std::array<std::uint64_t, 128 + 57 * 64> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

// ---- frames ---------------------------------------------------------------------------------

constexpr std::size_t id_len = 46;  // the length of HAProxy's unique ids in the capture

// A NOTIFY payload with a placeholder unique id at `id_off`; frames are stamped out of it.
struct frame_template {
  bench::bytes payload;
  std::size_t id_off = 0;
};

frame_template make_template(const bench::bytes& notify, std::string_view body) {
  const std::string placeholder(id_len, '#');
  auto rec = bench::rebuild_notify(notify, body, 0, 0, placeholder);
  // Record: FRAME-LEN(4) TYPE(1) FLAGS(4) STREAM-ID(1: 0) FRAME-ID(1: 0) PAYLOAD.
  frame_template t;
  t.payload.assign(rec.begin() + 11, rec.end());
  const auto* p = reinterpret_cast<const char*>(t.payload.data());
  const std::string_view sv(p, t.payload.size());
  const auto at = sv.find(placeholder);
  if (at == std::string_view::npos) throw std::runtime_error("placeholder not found");
  t.id_off = at;
  return t;
}

void put_frame(std::vector<std::byte>& out, const frame_template& t, std::uint64_t sid,
               std::uint64_t fid, const char* id) {
  std::byte hdr[4 + 1 + 4 + 2 * spop::max_varint_bytes];
  std::size_t n = 4;
  hdr[n++] = std::byte{3};  // NOTIFY
  hdr[n++] = std::byte{0};
  hdr[n++] = std::byte{0};
  hdr[n++] = std::byte{0};
  hdr[n++] = std::byte{1};  // FIN
  n += spop::encode_varint(sid, hdr + n);
  n += spop::encode_varint(fid, hdr + n);
  const auto len = static_cast<std::uint32_t>(n - 4 + t.payload.size());
  hdr[0] = static_cast<std::byte>(len >> 24);
  hdr[1] = static_cast<std::byte>(len >> 16);
  hdr[2] = static_cast<std::byte>(len >> 8);
  hdr[3] = static_cast<std::byte>(len);
  const auto start = out.size();
  out.insert(out.end(), hdr, hdr + n);
  out.insert(out.end(), t.payload.begin(), t.payload.end());
  std::memcpy(out.data() + start + n + t.id_off, id, id_len);
}

// ---- the generator --------------------------------------------------------------------------

struct generator;

struct slot {
  std::uint64_t sid = 0;
  std::uint64_t sent_ns[2] = {0, 0};
  std::uint8_t pending = 0;  // bit 0: request (fid 1), bit 1: response (fid 2)
};

struct conn {
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  generator* g = nullptr;
  int index = 0;
  bool ready = false;
  bool closed = false;
  std::vector<std::byte> in;
  std::size_t in_len = 0;
  std::vector<std::byte> out;
  std::uint64_t next_pair = 1;
  int next_fid = 1;
  int inflight = 0;
  std::vector<slot> slots;
};

struct write_req {
  uv_write_t req{};
  std::vector<std::byte> data;
};

struct generator {
  options opt;
  uv_loop_t* loop = nullptr;
  uv_timer_t tick{};
  std::vector<std::unique_ptr<conn>> conns;
  frame_template req_t;
  frame_template res_t;
  std::uint32_t tag = 0;
  std::vector<write_req*> free_writes;

  // Phases (uv_hrtime ns): connecting -> warmup -> measuring -> draining -> done.
  int hellos = 0;
  std::uint64_t t_start = 0;  // all HELLOs answered
  std::uint64_t t_measure = 0;
  std::uint64_t t_stop = 0;   // no more sends
  std::uint64_t t_deadline = 0;
  bool measuring = false;
  bool stopping = false;
  bool finished = false;

  // Rate mode.
  double owed = 0;
  std::uint64_t t_last_tick = 0;
  std::uint64_t backlog_max = 0;
  std::size_t rr = 0;

  // Counters: whole run, and within the measured window.
  std::uint64_t sent = 0;
  std::uint64_t acked = 0;
  std::uint64_t m_sent = 0;
  std::uint64_t m_acked = 0;
  std::uint64_t bad_acks = 0;       // wrong type, no FIN, unknown sid/fid
  std::uint64_t acks_with_actions = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t io_errors = 0;
  std::uint64_t slot_overflow = 0;
  histogram latency;

  // CPU.
  double m_gen_cpu0 = 0;
  double m_agent_cpu0 = 0;
  double gen_cpu = 0;
  double agent_cpu = -1;
};

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// utime + stime of a process from /proc/<pid>/stat, in seconds (-1 when unreadable).
double proc_cpu_s(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!f || !std::getline(f, s)) return -1;
  const auto rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  unsigned long long ut = 0;
  unsigned long long st = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) ut = std::stoull(field);
    if (i == 15) st = std::stoull(field);
  }
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void flush(conn* c);
void fill(conn* c, int budget);
void finish(generator* g);

void close_conn(conn* c) {
  if (c->closed) return;
  c->closed = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), nullptr);
}

// Queues up to `budget` frames (bounded by the window); returns through c->out.
void fill(conn* c, int budget) {
  auto* g = c->g;
  if (!c->ready || c->closed || g->stopping) return;
  const std::uint64_t now = uv_hrtime();
  char id[id_len + 1];
  while (budget-- > 0 && c->inflight < g->opt.window) {
    const std::uint64_t pair = c->next_pair;
    auto& s = c->slots[pair & (c->slots.size() - 1)];
    if (c->next_fid == 1) {
      if (s.pending != 0) {  // an ACK older than the whole slot ring never came
        g->slot_overflow++;
        return;
      }
      s.sid = pair;
    }
    const int fid = c->next_fid;
    // --split: this connection's responses complete the next connection's requests.
    const int owner = g->opt.split && fid == 2 ? (c->index + 1) % g->opt.conns : c->index;
    std::snprintf(id, sizeof id, "%08" PRIX32 ":%04X_7F000001:1F90_%08" PRIX32 "_%04X:%04X", g->tag,
                  static_cast<unsigned>(owner & 0xFFFF),
                  static_cast<std::uint32_t>(pair >> 16), static_cast<unsigned>(pair & 0xFFFF),
                  static_cast<unsigned>(getpid() & 0xFFFF));
    put_frame(c->out, fid == 1 ? g->req_t : g->res_t, pair, static_cast<std::uint64_t>(fid), id);
    s.sent_ns[fid - 1] = now;
    s.pending |= static_cast<std::uint8_t>(fid);
    c->inflight++;
    g->sent++;
    if (g->measuring) g->m_sent++;
    if (fid == 2) {
      c->next_fid = 1;
      c->next_pair++;
    } else {
      c->next_fid = 2;
    }
  }
}

void flush(conn* c) {
  if (c->out.empty() || c->closed) return;
  auto* g = c->g;
  write_req* w;
  if (!g->free_writes.empty()) {
    w = g->free_writes.back();
    g->free_writes.pop_back();
  } else {
    w = new write_req();
  }
  w->data.swap(c->out);
  c->out.clear();
  w->req.data = c;
  uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(w->data.data()),
                           static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1,
                          [](uv_write_t* req, int status) {
                            auto* wr = reinterpret_cast<write_req*>(req);
                            auto* cc = static_cast<conn*>(req->data);
                            wr->data.clear();
                            cc->g->free_writes.push_back(wr);
                            if (status < 0 && !cc->closed) {
                              std::fprintf(stderr, "spop-load: conn %d write error %s\n",
                                           cc->index, uv_err_name(status));
                              cc->g->io_errors++;
                              close_conn(cc);
                            }
                          });
  if (rc < 0) {
    g->io_errors++;
    w->data.clear();
    g->free_writes.push_back(w);
    close_conn(c);
  }
}

void on_ack(conn* c, const spop::frame& f, std::uint64_t now) {
  auto* g = c->g;
  if (f.raw_type != static_cast<std::uint8_t>(spop::frame_type::ack) || !f.fin() ||
      f.frame_id < 1 || f.frame_id > 2) {
    g->bad_acks++;
    return;
  }
  auto& s = c->slots[f.stream_id & (c->slots.size() - 1)];
  const auto bit = static_cast<std::uint8_t>(f.frame_id);
  if (s.sid != f.stream_id || (s.pending & bit) == 0) {
    g->bad_acks++;
    return;
  }
  if (!f.payload.empty()) g->acks_with_actions++;
  s.pending &= static_cast<std::uint8_t>(~bit);
  c->inflight--;
  g->acked++;
  const auto sent_at = s.sent_ns[f.frame_id - 1];
  if (g->measuring && sent_at >= g->t_measure) {
    g->m_acked++;
    g->latency.record(now - sent_at);
  }
}

void start_tick(generator* g);

void on_read(uv_stream_t* st, ssize_t nread, const uv_buf_t*) {
  auto* c = static_cast<conn*>(st->data);
  auto* g = c->g;
  if (nread == 0) return;
  if (nread < 0) {
    if (!g->finished) {
      std::fprintf(stderr, "spop-load: conn %d closed by agent (%s)\n", c->index,
                   uv_err_name(static_cast<int>(nread)));
      g->io_errors++;
    }
    close_conn(c);
    return;
  }
  c->in_len += static_cast<std::size_t>(nread);
  const std::uint64_t now = uv_hrtime();
  std::size_t off = 0;
  while (true) {
    auto d = spop::decode_frame(
        std::span<const std::byte>(c->in.data() + off, c->in_len - off), 1u << 24);
    if (d.what == spop::decode_result::kind::need_more) break;
    if (d.what == spop::decode_result::kind::error) {
      std::fprintf(stderr, "spop-load: conn %d undecodable reply: %.*s\n", c->index,
                   static_cast<int>(d.err.reason.size()), d.err.reason.data());
      g->bad_acks++;
      close_conn(c);
      return;
    }
    off += d.consumed;
    const auto& f = d.view;
    if (f.raw_type == static_cast<std::uint8_t>(spop::frame_type::agent_hello) && !c->ready) {
      c->ready = true;
      if (++g->hellos == static_cast<int>(g->conns.size())) {
        g->t_start = uv_hrtime();
        start_tick(g);
      }
      continue;
    }
    if (f.raw_type == static_cast<std::uint8_t>(spop::frame_type::agent_disconnect)) {
      std::vector<spop::kv> kvs;
      spop::decode_kv_list(f.payload, kvs);
      std::string msg;
      for (const auto& kv : kvs) {
        if (kv.name == "message") msg.assign(kv.value.bytes);
      }
      std::fprintf(stderr, "spop-load: conn %d AGENT-DISCONNECT: %s\n", c->index, msg.c_str());
      g->disconnects++;
      close_conn(c);
      return;
    }
    on_ack(c, f, now);
  }
  if (off > 0) {
    std::memmove(c->in.data(), c->in.data() + off, c->in_len - off);
    c->in_len -= off;
  }
  if (g->opt.rate <= 0 && g->hellos == static_cast<int>(g->conns.size())) {
    fill(c, g->opt.window);
  }
  flush(c);
  if (g->stopping) {
    std::uint64_t inflight = 0;
    for (auto& cc : g->conns) inflight += cc->closed ? 0 : static_cast<std::uint64_t>(cc->inflight);
    if (inflight == 0) finish(g);
  }
}

void on_tick(uv_timer_t* t) {
  auto* g = static_cast<generator*>(t->data);
  const std::uint64_t now = uv_hrtime();
  if (!g->measuring && !g->stopping && now >= g->t_measure) {
    g->measuring = true;
    g->m_gen_cpu0 = self_cpu_s();
    if (g->opt.agent_pid > 0) g->m_agent_cpu0 = proc_cpu_s(g->opt.agent_pid);
  }
  if (!g->stopping && now >= g->t_stop) {
    g->stopping = true;
    g->measuring = false;
    g->gen_cpu = self_cpu_s() - g->m_gen_cpu0;
    if (g->opt.agent_pid > 0) g->agent_cpu = proc_cpu_s(g->opt.agent_pid) - g->m_agent_cpu0;
    g->t_deadline = now + 5'000'000'000ull;
  }
  if (g->stopping) {
    std::uint64_t inflight = 0;
    for (auto& c : g->conns) inflight += c->closed ? 0 : static_cast<std::uint64_t>(c->inflight);
    if (inflight == 0 || now >= g->t_deadline) finish(g);
    return;
  }
  if (g->opt.rate > 0) {
    g->owed += g->opt.rate * static_cast<double>(now - g->t_last_tick) / 1e9;
    g->t_last_tick = now;
    // Round-robin, a frame at a time, over connections with room in their window.
    auto due = static_cast<std::int64_t>(g->owed);
    const std::size_t n = g->conns.size();
    std::size_t idle = 0;
    while (due > 0 && idle < n) {
      auto* c = g->conns[g->rr++ % n].get();
      const int before = c->inflight;
      fill(c, 1);
      if (c->inflight > before) {
        --due;
        g->owed -= 1;
        idle = 0;
      } else {
        ++idle;
      }
    }
    g->backlog_max = std::max(g->backlog_max, static_cast<std::uint64_t>(g->owed));
    for (auto& c : g->conns) flush(c.get());
  }
}

void start_tick(generator* g) {
  g->t_measure = g->t_start + static_cast<std::uint64_t>(g->opt.warmup * 1e9);
  g->t_stop = g->t_measure + static_cast<std::uint64_t>(g->opt.duration * 1e9);
  g->t_last_tick = g->t_start;
  uv_timer_start(&g->tick, &on_tick, 1, 1);
  if (g->opt.rate <= 0) {
    for (auto& c : g->conns) {
      fill(c.get(), g->opt.window);
      flush(c.get());
    }
  }
}

void finish(generator* g) {
  if (g->finished) return;
  g->finished = true;
  uv_timer_stop(&g->tick);
  uv_close(reinterpret_cast<uv_handle_t*>(&g->tick), nullptr);
  for (auto& c : g->conns) close_conn(c.get());
}

void on_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<conn*>(req->data);
  if (status < 0) {
    std::fprintf(stderr, "spop-load: conn %d connect: %s\n", c->index, uv_err_name(status));
    c->g->io_errors++;
    close_conn(c);
    finish(c->g);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* cc = static_cast<conn*>(h->data);
        if (cc->in.size() - cc->in_len < 16 * 1024) cc->in.resize(cc->in.size() + 64 * 1024);
        b->base = reinterpret_cast<char*>(cc->in.data() + cc->in_len);
        b->len = cc->in.size() - cc->in_len;
      },
      &on_read);
  spop::haproxy_hello_params hp;
  hp.max_frame_size = c->g->opt.max_frame_size;
  hp.capabilities = "pipelining,async";
  char engine[40];
  std::snprintf(engine, sizeof engine, "spop-load-%08" PRIX32 "-%d", c->g->tag, c->index);
  hp.engine_id = engine;
  spop::encode_haproxy_hello(c->out, hp);
  flush(c);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  bool help = false;
  if (!parse(argc, argv, o, help)) {
    usage();
    return help ? 0 : 2;
  }
  generator g;
  g.opt = o;
  g.tag = static_cast<std::uint32_t>(uv_hrtime() ^ (static_cast<std::uint64_t>(getpid()) << 20));
  const std::string body = [&] {
    auto b = bench::body_500();
    b.resize(o.body, ' ');
    return b;
  }();
  g.req_t = make_template(bench::capture_record("NOTIFY", {"http-req", "[03-post-json]"}), body);
  g.res_t = make_template(bench::capture_record("NOTIFY", {"http-res", "[03-post-json]"}), body);

  g.loop = uv_default_loop();
  uv_timer_init(g.loop, &g.tick);
  g.tick.data = &g;
  if (o.ports.empty()) o.ports.push_back(o.port);
  std::vector<sockaddr_in> addrs(o.ports.size());
  for (std::size_t i = 0; i < o.ports.size(); ++i) {
    if (uv_ip4_addr(o.host.c_str(), o.ports[i], &addrs[i]) != 0) {
      std::fprintf(stderr, "spop-load: bad address %s\n", o.host.c_str());
      return 2;
    }
  }
  const std::size_t ring = std::bit_ceil(static_cast<std::size_t>(o.window) * 8 + 16);
  for (int i = 0; i < o.conns; ++i) {
    auto c = std::make_unique<conn>();
    c->g = &g;
    c->index = i;
    c->slots.resize(ring);
    uv_tcp_init(g.loop, &c->tcp);
    c->tcp.data = c.get();
    c->connect_req.data = c.get();
    const auto& addr = addrs[static_cast<std::size_t>(i) % addrs.size()];
    uv_tcp_connect(&c->connect_req, &c->tcp, reinterpret_cast<const sockaddr*>(&addr), &on_connect);
    g.conns.push_back(std::move(c));
  }
  // A hard bound on the whole run, whatever happens.
  uv_timer_t guard{};
  uv_timer_init(g.loop, &guard);
  guard.data = &g;
  uv_timer_start(
      &guard,
      [](uv_timer_t* t) {
        auto* gg = static_cast<generator*>(t->data);
        if (!gg->finished) {
          std::fprintf(stderr, "spop-load: time limit reached (HELLO never answered?)\n");
          gg->io_errors++;
          finish(gg);
        }
      },
      static_cast<std::uint64_t>((o.warmup + o.duration + 15) * 1000), 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
  uv_run(g.loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
  uv_run(g.loop, UV_RUN_DEFAULT);
  for (auto* w : g.free_writes) delete w;

  std::uint64_t inflight = 0;
  for (auto& c : g.conns) inflight += static_cast<std::uint64_t>(c->inflight);
  const bool ok = g.hellos == o.conns && g.sent > 0 && g.acked == g.sent && inflight == 0 &&
                  g.bad_acks == 0 && g.disconnects == 0 && g.io_errors == 0 &&
                  g.slot_overflow == 0;
  const double secs = o.duration;
  const double rate = static_cast<double>(g.m_acked) / secs;
  auto us = [&](double q) { return static_cast<double>(g.latency.quantile(q)) / 1000.0; };
  std::fprintf(stderr,
               "spop-load: %d conns, window %d, %s, %.1f s measured after %.1f s warm-up, body %zu B\n"
               "  NOTIFY sent %" PRIu64 " acked %" PRIu64 " (measured: %" PRIu64
               " ACKs, %.0f NOTIFY/s)\n"
               "  ACK latency us: p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n"
               "  errors: bad_acks %" PRIu64 " disconnects %" PRIu64 " io %" PRIu64
               " unacked %" PRIu64 " slot_overflow %" PRIu64 "; rate backlog max %" PRIu64 "\n"
               "  generator CPU %.2f s; agent CPU %.2f s (%.2f us/NOTIFY)\n",
               o.conns, o.window,
               o.rate > 0 ? ("rate " + std::to_string(static_cast<long>(o.rate)) + "/s").c_str()
                          : "flat out",
               secs, o.warmup, o.body, g.sent, g.acked, g.m_acked, rate, us(0.5), us(0.9),
               us(0.99), us(0.999), static_cast<double>(g.latency.max()) / 1000.0, g.bad_acks,
               g.disconnects, g.io_errors, inflight, g.slot_overflow, g.backlog_max, g.gen_cpu,
               g.agent_cpu,
               g.agent_cpu >= 0 && g.m_acked > 0 ? g.agent_cpu * 1e6 / static_cast<double>(g.m_acked)
                                                 : -1.0);
  std::printf("RESULT conns=%d window=%d rate=%.0f duration_s=%.1f body=%zu sent=%" PRIu64
              " acked=%" PRIu64 " measured_acks=%" PRIu64
              " notify_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f"
              " bad_acks=%" PRIu64 " disconnects=%" PRIu64 " io_errors=%" PRIu64
              " unacked=%" PRIu64 " backlog_max=%" PRIu64
              " gen_cpu_s=%.3f agent_cpu_s=%.3f agent_us_per_notify=%.3f verified=%s\n",
              o.conns, o.window, o.rate, secs, o.body, g.sent, g.acked, g.m_acked, rate, us(0.5),
              us(0.9), us(0.99), us(0.999), static_cast<double>(g.latency.max()) / 1000.0,
              g.bad_acks, g.disconnects, g.io_errors, inflight, g.backlog_max, g.gen_cpu,
              g.agent_cpu,
              g.agent_cpu >= 0 && g.m_acked > 0 ? g.agent_cpu * 1e6 / static_cast<double>(g.m_acked)
                                                : -1.0,
              ok ? "yes" : "no");
  return ok ? 0 : 1;
}
