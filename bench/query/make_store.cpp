// SPDX-License-Identifier: Apache-2.0
//
// make_store: fills a data directory with realistic exchanges through storage::store (the
// agent's own writer, so the segments are byte for byte what the agent writes), for
// bench/query.sh (issue 5).
//
//   make_store --data-dir DIR [--gib N] [--ids FILE] [--sample N] [--seed S]
//              [--start RFC3339-ish unix seconds] [--span-hours H]
//
// What is written: varied methods (GET-heavy), 14 hosts, ~40 path shapes (REST ids, static
// assets, search with queries), statuses from 200 to 503 in realistic proportions, 6-11
// request and 5-8 response headers, JSON bodies of 0.5-4 KiB on every response except
// 204/304/HEAD and on every POST/PUT/PATCH request, 1% request-only (complete:false)
// exchanges, HAProxy-style unique ids (all distinct). Request times run from --start (default
// 2026-11-27T00:00:00Z) over --span-hours (default 24) in storage order, so "newest first" is
// also newest in time and since/until select a contiguous part of the volume.
//
// Stops once `gib` GiB of JSON Lines are written (storage.bytes_written), then closes the store
// (fsync) and prints one `RESULT records=... bytes=... segments=... seconds=...` line. --ids
// writes a uniform random sample (reservoir, --sample ids, default 20000) of the stored ids,
// one per line, for GET /events/{id}.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "correlate/types.h"
#include "storage/store.h"

namespace {

using steady = std::chrono::steady_clock;

struct options {
  std::string data_dir;
  double gib = 1.0;
  std::string ids_file;
  std::size_t sample = 20000;
  std::uint64_t seed = 42;
  std::int64_t start_s = 1795737600;  // 2026-11-27T00:00:00Z
  double span_hours = 24;
};

[[noreturn]] void usage(int status) {
  std::fputs(
      "usage: make_store --data-dir DIR [--gib N] [--ids FILE] [--sample N] [--seed S]\n"
      "                  [--start UNIX_SECONDS] [--span-hours H]\n"
      "Writes N GiB (default 1) of realistic exchanges through storage::store into DIR.\n",
      status == 0 ? stdout : stderr);
  std::exit(status);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") usage(0);
    if (i + 1 >= argc) usage(2);
    const char* v = argv[++i];
    if (a == "--data-dir") {
      o.data_dir = v;
    } else if (a == "--gib") {
      o.gib = std::strtod(v, nullptr);
    } else if (a == "--ids") {
      o.ids_file = v;
    } else if (a == "--sample") {
      o.sample = std::strtoull(v, nullptr, 10);
    } else if (a == "--seed") {
      o.seed = std::strtoull(v, nullptr, 10);
    } else if (a == "--start") {
      o.start_s = std::strtoll(v, nullptr, 10);
    } else if (a == "--span-hours") {
      o.span_hours = std::strtod(v, nullptr);
    } else {
      usage(2);
    }
  }
  if (o.data_dir.empty() || o.gib <= 0 || o.span_hours <= 0) usage(2);
  return o;
}

struct weighted {
  std::string_view value;
  unsigned weight;
};

template <std::size_t N>
std::string_view pick(std::mt19937_64& rng, const weighted (&items)[N]) {
  unsigned total = 0;
  for (const auto& w : items) total += w.weight;
  auto r = static_cast<unsigned>(rng() % total);
  for (const auto& w : items) {
    if (r < w.weight) return w.value;
    r -= w.weight;
  }
  return items[N - 1].value;
}

constexpr weighted methods[] = {{"GET", 60}, {"POST", 20}, {"PUT", 8},     {"DELETE", 5},
                                {"PATCH", 4}, {"HEAD", 2}, {"OPTIONS", 1}};
constexpr std::string_view hosts[] = {
    "shop.local",         "api.shop.local",      "www.example.com",   "api.example.com",
    "auth.example.com",   "static.example.com",  "admin.example.com", "payments.internal",
    "search.internal",    "inventory.internal",  "users.internal",    "orders.internal:8080",
    "metrics.internal",   "legacy.example.org"};
// {} is replaced by a number; the path set mixes REST resources, assets and pages.
constexpr std::string_view paths[] = {
    "/api/v1/items/{}",          "/api/v1/items",              "/api/v1/items/{}/reviews",
    "/api/v1/users/{}",          "/api/v1/users/{}/orders",    "/api/v1/orders/{}",
    "/api/v1/orders",            "/api/v1/cart",               "/api/v1/cart/items/{}",
    "/api/v2/search",            "/api/v2/recommendations/{}", "/api/v2/inventory/{}/stock",
    "/api/v2/payments/{}",       "/api/v2/payments",           "/api/v2/sessions",
    "/auth/login",               "/auth/logout",               "/auth/token",
    "/auth/refresh",             "/static/js/app.{}.js",       "/static/css/main.{}.css",
    "/static/img/product-{}.webp", "/favicon.ico",             "/",
    "/products/{}",              "/category/{}",               "/checkout",
    "/checkout/confirm",         "/account",                   "/account/settings",
    "/admin/reports/{}",         "/admin/users",               "/healthz",
    "/metrics",                  "/graphql",                   "/ws/notifications",
    "/legacy/cgi-bin/order.pl",  "/internal/batch/{}",         "/api/v1/items/{}/images/{}",
    "/download/invoice-{}.pdf"};
constexpr weighted statuses[] = {
    {"200", 740}, {"201", 60}, {"204", 30}, {"301", 10}, {"302", 20}, {"304", 40},
    {"400", 15},  {"401", 15}, {"403", 8},  {"404", 40}, {"409", 3},  {"422", 5},
    {"429", 4},   {"500", 6},  {"502", 2},  {"503", 2}};
constexpr std::string_view agents[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0", "python-requests/2.32.3", "okhttp/4.12.0", "Go-http-client/1.1",
    "k6/0.54.0 (https://k6.io/)"};
constexpr std::string_view words[] = {
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"};

std::string hex(std::uint64_t v, int width) {
  char b[32];
  std::snprintf(b, sizeof b, "%0*" PRIX64, width, v);
  return b;
}

std::string make_path(std::mt19937_64& rng) {
  const std::string_view shape = paths[rng() % std::size(paths)];
  std::string p;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == '{' && i + 1 < shape.size() && shape[i + 1] == '}') {
      p += std::to_string(rng() % 100000);
      ++i;
    } else {
      p += shape[i];
    }
  }
  return p;
}

// A JSON document of about `n` bytes (an array of small objects, then padding in a string).
std::string json_body(std::mt19937_64& rng, std::size_t n) {
  std::string b = "{\"items\":[";
  bool first = true;
  while (b.size() + 160 < n) {
    if (!first) b += ',';
    first = false;
    const auto id = rng() % 1000000;
    b += "{\"id\":" + std::to_string(id) + ",\"name\":\"" +
         std::string(words[rng() % std::size(words)]) + " " +
         std::string(words[rng() % std::size(words)]) + "\",\"price\":" +
         std::to_string(rng() % 10000) + "." + std::to_string(rng() % 100) +
         ",\"tags\":[\"" + std::string(words[rng() % std::size(words)]) + "\",\"" +
         std::string(words[rng() % std::size(words)]) + "\"],\"in_stock\":" +
         ((rng() & 1) != 0 ? "true" : "false") + "}";
  }
  b += "],\"note\":\"";
  while (b.size() + 2 < n) {
    b += words[rng() % std::size(words)];
    b += ' ';
  }
  b += "\"}";
  return b;
}

correlate::body body_of(std::string data) {
  correlate::body b;
  b.size = data.size();
  b.data = std::move(data);
  return b;
}

correlate::exchange make(std::mt19937_64& rng, std::uint64_t seq, std::int64_t time_us) {
  correlate::exchange x;
  // unique-id-format %{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid (the shipped capture.cfg's).
  const auto client = 0x0A000000u + static_cast<std::uint32_t>(rng() % 0xFFFFFF);
  const auto cport = 1024 + rng() % 64000;
  x.id = hex(client, 8) + ":" + hex(cport, 4) + "_7F000001:1F90_" +
         hex(static_cast<std::uint64_t>(time_us / 1000000), 8) + "_" + hex(seq, 8) + ":" +
         hex(4242, 4);
  x.source = correlate::source::spop;

  correlate::request_half q;
  q.time_us = time_us;
  q.method = std::string(pick(rng, methods));
  q.path = make_path(rng);
  if (rng() % 4 == 0) {
    q.query = "page=" + std::to_string(rng() % 50) + "&q=" +
              std::string(words[rng() % std::size(words)]);
  }
  q.version = rng() % 10 == 0 ? "2.0" : "1.1";
  const std::string_view host = hosts[rng() % std::size(hosts)];
  q.headers.emplace_back("host", std::string(host));
  q.headers.emplace_back("user-agent", std::string(agents[rng() % std::size(agents)]));
  q.headers.emplace_back("accept", "application/json, text/plain, */*");
  q.headers.emplace_back("accept-encoding", "gzip, deflate, br");
  q.headers.emplace_back("x-request-id", hex(rng(), 16) + hex(rng(), 16));
  q.headers.emplace_back("x-forwarded-for", "203.0.113." + std::to_string(rng() % 255));
  const unsigned extra_headers = static_cast<unsigned>(rng() % 4);
  for (unsigned i = 0; i < extra_headers; ++i) {
    q.headers.emplace_back("x-trace-" + std::to_string(i), hex(rng(), 16));
  }
  const bool has_req_body = q.method == "POST" || q.method == "PUT" || q.method == "PATCH";
  if (has_req_body) {
    q.headers.emplace_back("content-type", "application/json");
    auto b = json_body(rng, 512 + rng() % (4096 - 512 + 1));
    q.headers.emplace_back("content-length", std::to_string(b.size()));
    q.body = body_of(std::move(b));
  } else {
    q.body.captured = true;
  }
  q.client_ip = std::to_string(client >> 24) + "." + std::to_string((client >> 16) & 255) + "." +
                std::to_string((client >> 8) & 255) + "." + std::to_string(client & 255);
  q.client_port = static_cast<std::uint16_t>(cport);
  q.frontend = "fe_capture";
  x.request = std::move(q);

  // 1% of requests never got their response (HAProxy-generated answers, aborted clients).
  if (rng() % 100 == 0) {
    x.complete = false;
    return x;
  }
  correlate::response_half r;
  const std::int64_t elapsed = 200 + static_cast<std::int64_t>(rng() % 50000);
  r.time_us = time_us + elapsed;
  r.elapsed_us = elapsed;
  r.status = std::atoi(std::string(pick(rng, statuses)).c_str());
  r.version = x.request->version;
  r.headers.emplace_back("date", "Fri, 27 Nov 2026 12:00:00 GMT");
  r.headers.emplace_back("server", "app/1.4.2");
  r.headers.emplace_back("cache-control", "no-store");
  r.headers.emplace_back("x-request-id", x.request->headers[4].second);
  const bool has_res_body = r.status != 204 && r.status != 304 && x.request->method != "HEAD";
  if (has_res_body) {
    r.headers.emplace_back("content-type", "application/json");
    auto b = json_body(rng, 512 + rng() % (4096 - 512 + 1));
    r.headers.emplace_back("content-length", std::to_string(b.size()));
    r.body = body_of(std::move(b));
  }
  if (rng() % 3 == 0) r.headers.emplace_back("vary", "accept-encoding");
  r.backend = "be_app";
  r.server = "app" + std::to_string(1 + rng() % 3);
  x.response = std::move(r);
  x.complete = true;
  x.duration_us = elapsed;
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  const auto target = static_cast<std::uint64_t>(o.gib * static_cast<double>(1ull << 30));

  storage::config cfg;
  cfg.data_dir = o.data_dir;
  cfg.retention_bytes = 0;
  cfg.fsync = storage::fsync_policy::none;  // segments are fsynced when closed
  cfg.segment_age = std::chrono::seconds(0);
  std::mt19937_64 rng(o.seed);
  std::mt19937_64 sample_rng(o.seed + 1);
  std::vector<std::string> sample;
  sample.reserve(o.sample);

  const auto t0 = steady::now();
  std::uint64_t n = 0;
  // Estimate of the records to come, for spreading times; refined as bytes come in.
  std::uint64_t expected = target / 3000;
  const std::int64_t start_us = o.start_s * 1000000;
  const auto span_us = static_cast<std::int64_t>(o.span_hours * 3600e6);
  std::int64_t t = start_us;
  try {
    storage::store st(cfg);
    for (;;) {
      if (n % 4096 == 0) {
        st.flush();
        const auto s = st.stats();
        if (s.bytes_written >= target) break;
        if (s.stored > 0) {
          expected = std::max<std::uint64_t>(
              n + 1, static_cast<std::uint64_t>(static_cast<double>(target) /
                                                (static_cast<double>(s.bytes_written) /
                                                 static_cast<double>(s.stored))));
        }
      }
      // Times advance monotonically; the estimate only changes the step, never goes back.
      const std::int64_t step = span_us / static_cast<std::int64_t>(expected);
      const auto jitter = static_cast<std::uint64_t>(std::max<std::int64_t>(1, step / 2));
      t += std::max<std::int64_t>(1, step - step / 4 + static_cast<std::int64_t>(rng() % jitter));
      auto x = make(rng, n, t);
      if (!o.ids_file.empty()) {
        if (sample.size() < o.sample) {
          sample.push_back(x.id);
        } else {
          const auto j = sample_rng() % (n + 1);
          if (j < o.sample) sample[j] = x.id;
        }
      }
      while (!st.submit(std::move(x))) {
        st.flush();  // queue full: let the writer catch up (submit did not take x)
      }
      ++n;
    }
    st.close();
    const auto s = st.stats();
    const double secs = std::chrono::duration<double>(steady::now() - t0).count();
    if (!o.ids_file.empty()) {
      std::ofstream f(o.ids_file);
      for (const auto& id : sample) f << id << '\n';
      if (!f) {
        std::fprintf(stderr, "make_store: cannot write %s\n", o.ids_file.c_str());
        return 1;
      }
    }
    std::printf("RESULT records=%" PRIu64 " bytes=%" PRIu64 " segments=%" PRIu64
                " write_errors=%" PRIu64 " dropped=%" PRIu64 " seconds=%.1f\n",
                s.stored, s.bytes_written, s.segments, s.write_errors, s.dropped, secs);
    return s.write_errors == 0 && s.stored == n ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_store: %s\n", e.what());
    return 1;
  }
}
