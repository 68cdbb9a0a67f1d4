// SPDX-License-Identifier: Apache-2.0
#include "agent/replay_cmd.h"

#include <curl/curl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "replay/compare.h"
#include "replay/report.h"
#include "replay/request.h"
#include "replay/schedule.h"
#include "replay/source.h"

namespace agent {

namespace {

using clock_type = std::chrono::steady_clock;

// Set by the first SIGINT/SIGTERM: send nothing more, let the requests in flight end (each is
// bounded by --timeout), print the summary. The handler then falls back to the default, so a
// second signal ends the process at once.
volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_interrupt(int sig) {
  interrupted = 1;
  std::signal(sig, SIG_DFL);
}

struct options {
  std::string from;
  std::string token;
  std::string target;
  replay::filter_options filters;
  std::size_t limit = 0;
  unsigned concurrency = 8;
  double rate = 0;
  double speed = 0;
  double timeout = 10;
  double connect_timeout = 5;
  std::vector<std::string> headers;
  std::vector<std::string> compare_headers;
  std::vector<std::string> ignore_fields;
  bool keep_host = false;
  bool insecure = false;
  std::string cacert;
  std::string report;
  bool no_body = false;
  bool quiet = false;
  bool dry_run = false;
};

struct curl_global {
  curl_global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~curl_global() { curl_global_cleanup(); }
};

struct easy_deleter {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using easy_ptr = std::unique_ptr<CURL, easy_deleter>;
using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

std::size_t on_body(char* p, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// Each header line of the response; a status line starts a new response (after a 100).
std::size_t on_header(char* p, std::size_t size, std::size_t n, void* user) {
  auto& hs = *static_cast<std::vector<replay::header>*>(user);
  std::string_view line(p, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    hs.clear();
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos && colon > 0) {
    auto v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    hs.push_back({std::string(line.substr(0, colon)), std::string(v)});
  }
  return size * n;
}

// One request in flight.
struct transfer {
  std::size_t index = 0;
  easy_ptr easy;
  slist_ptr headers;
  replay::outgoing_request rq;
  replay::received_response resp;
  char errbuf[CURL_ERROR_SIZE] = {};
};

void common_setup(CURL* e, const options& o) {
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout * 1000));
  if (o.insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!o.cacert.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, o.cacert.c_str());
}

// `idle`: handles of finished transfers. Reusing one saves its allocations (curl_easy_reset
// keeps its buffers); the connections themselves are the multi handle's, reused either way.
std::unique_ptr<transfer> make_transfer(std::size_t index, replay::outgoing_request rq,
                                        const options& o, std::vector<easy_ptr>& idle) {
  auto t = std::make_unique<transfer>();
  t->index = index;
  t->rq = std::move(rq);
  if (idle.empty()) {
    t->easy.reset(curl_easy_init());
  } else {
    t->easy = std::move(idle.back());
    idle.pop_back();
    curl_easy_reset(t->easy.get());
  }
  CURL* e = t->easy.get();
  common_setup(e, o);
  curl_easy_setopt(e, CURLOPT_URL, t->rq.url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->rq.method.c_str());
  const auto& m = t->rq.method;
  if (m == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (!t->rq.body.empty() || m == "POST" || m == "PUT" || m == "PATCH") {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->rq.body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->rq.body.data());
  }
  curl_slist* list = nullptr;
  for (const auto& h : t->rq.headers) {
    // "Name;" is curl's way of sending a header with an empty value.
    const auto line = h.value.empty() ? h.name + ";" : h.name + ": " + h.value;
    list = curl_slist_append(list, line.c_str());
  }
  // "Name:" removes a header curl would add by itself: only the captured ones go out.
  for (const char* own : {"Accept", "Content-Type", "Expect"}) {
    if (std::none_of(t->rq.headers.begin(), t->rq.headers.end(),
                     [&](const replay::header& h) { return replay::iequals(h.name, own); })) {
      list = curl_slist_append(list, fmt::format("{}:", own).c_str());
    }
  }
  t->headers.reset(list);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->resp.body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t->resp.headers);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  return t;
}

// GET /events page after page from a running agent. Blocking: this is before any replay.
replay::load_result load_from_agent(const options& o) {
  replay::load_result out;
  std::string base = o.from;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!base.ends_with("/events")) base += "/events";
  const auto filters = replay::to_query_string(o.filters);
  std::optional<std::string> cursor;
  easy_ptr e(curl_easy_init());
  slist_ptr hs;
  if (!o.token.empty()) {
    hs.reset(curl_slist_append(nullptr, ("Authorization: Bearer " + o.token).c_str()));
  }
  do {
    std::string url = base + "?limit=1000";
    if (!filters.empty()) url += "&" + filters;
    if (cursor) url += "&cursor=" + *cursor;
    std::string body;
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_reset(e.get());
    common_setup(e.get(), o);
    curl_easy_setopt(e.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(e.get(), CURLOPT_HTTPHEADER, hs.get());
    curl_easy_setopt(e.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e.get(), CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e.get(), CURLOPT_ERRORBUFFER, errbuf);
    if (const auto rc = curl_easy_perform(e.get()); rc != CURLE_OK) {
      out.error = fmt::format("GET {}: {}", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
      return out;
    }
    long status = 0;
    curl_easy_getinfo(e.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
      out.error = fmt::format("GET {}: HTTP {} {}", url, status, body.substr(0, 200));
      return out;
    }
    cursor = replay::parse_events_page(body, out);
    if (!out.error.empty()) return out;
    // Pages come newest first and --limit keeps the oldest: every page is needed.
  } while (cursor);
  std::reverse(out.exchanges.begin(), out.exchanges.end());
  return out;
}

bool is_url(std::string_view s) { return s.starts_with("http://") || s.starts_with("https://"); }

replay::load_result load(const options& o) {
  if (is_url(o.from)) return load_from_agent(o);
  std::error_code ec;
  if (std::filesystem::is_directory(o.from, ec)) {
    storage::filter f;
    if (auto err = replay::to_storage_filter(o.filters, f)) return {{}, 0, *err};
    return replay::read_data_dir(o.from, f);
  }
  std::ifstream in(o.from, std::ios::binary);
  if (!in) return {{}, 0, fmt::format("{}: cannot open", o.from)};
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto har = replay::read_har(text);
  storage::filter f;
  if (auto err = replay::to_storage_filter(o.filters, f)) return {{}, 0, *err};
  if (!f.empty()) {
    std::erase_if(har.exchanges, [&](const replay::exchange& x) { return !replay::matches(x, f); });
  }
  return har;
}

std::string describe(const replay::difference& d) {
  auto shown = [](const std::string& v, bool present) {
    if (!present) return std::string("(absent)");
    return v.size() > 60 ? v.substr(0, 57) + "..." : v;
  };
  switch (d.kind) {
    case replay::difference_kind::status:
      return fmt::format("status {} -> {}", d.expected, d.actual);
    case replay::difference_kind::header:
      return fmt::format("header {}: {} -> {}", d.where, shown(d.expected, d.expected_present),
                         shown(d.actual, d.actual_present));
    case replay::difference_kind::body:
      return fmt::format("body ({} -> {} bytes)", d.expected.size(), d.actual.size());
    case replay::difference_kind::json:
      return fmt::format("json {}: {} -> {}", d.where.empty() ? "(root)" : d.where,
                         shown(d.expected, d.expected_present), shown(d.actual, d.actual_present));
  }
  return {};
}

class progress {
 public:
  progress(std::size_t total, bool quiet)
      : total_(total),
        quiet_(quiet),
        tty_(::isatty(2) == 1),
        start_(clock_type::now()),
        last_(start_) {}

  void update(std::size_t sent, std::size_t done, std::size_t errors, bool final = false) {
    if (quiet_) return;
    const auto now = clock_type::now();
    const auto every = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
    if (!final && now - last_ < every) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    if (tty_) {
      constexpr std::size_t width = 30;
      const std::size_t filled = total_ ? done * width / total_ : width;
      fmt::print(stderr, "\r[{}{}] sent {}/{} done {} errors {} {:.1f} req/s ETA {:.0f}s \x1b[K",
                 std::string(filled, '#'), std::string(width - filled, '.'), sent, total_, done,
                 errors, rate, eta);
      if (final) fmt::print(stderr, "\n");
    } else if (!final) {
      fmt::print(stderr, "replay: sent {}/{} done {} errors {} {:.1f} req/s ETA {:.0f}s\n", sent,
                 total_, done, errors, rate, eta);
    }
  }

 private:
  std::size_t total_;
  bool quiet_;
  bool tty_;
  clock_type::time_point start_;
  clock_type::time_point last_;
};

int run(const options& o) {
  std::string error;
  auto target = replay::parse_target(o.target, error);
  if (!target) {
    fmt::print(stderr, "replay: --target {}: {}\n", o.target, error);
    return 2;
  }
  replay::request_options ro;
  ro.keep_host = o.keep_host;
  for (const auto& h : o.headers) {
    auto parsed = replay::parse_header_arg(h);
    if (!parsed) {
      fmt::print(stderr, "replay: --header \"{}\": expected 'Name: value'\n", h);
      return 2;
    }
    ro.headers.push_back(std::move(*parsed));
  }
  replay::compare_options co;
  co.headers = o.compare_headers;
  co.body = !o.no_body;
  for (const auto& p : o.ignore_fields) {
    auto parsed = replay::json_path_pattern::parse(p, error);
    if (!parsed) {
      fmt::print(stderr, "replay: --ignore-json-field \"{}\": {}\n", p, error);
      return 2;
    }
    co.ignore.push_back(std::move(*parsed));
  }
  auto loaded = load(o);
  if (!loaded.error.empty()) {
    fmt::print(stderr, "replay: {}: {}\n", o.from, loaded.error);
    return 2;
  }
  auto& xs = loaded.exchanges;
  std::stable_sort(xs.begin(), xs.end(), [](const replay::exchange& a, const replay::exchange& b) {
    return a.request.time_us < b.request.time_us;
  });
  if (o.limit > 0 && xs.size() > o.limit) xs.resize(o.limit);
  if (!o.quiet) {
    fmt::print(stderr, "replay: {} exchanges from {}{}\n", xs.size(), o.from,
               loaded.skipped ? fmt::format(" ({} without a request skipped)", loaded.skipped)
                              : std::string());
  }
  // The agent's --redact-json-field leaves "[REDACTED]" in request bodies; unlike a header,
  // a body cannot lose a field without changing its meaning, so it is sent as captured, and
  // said so.
  const auto redacted_bodies = std::count_if(xs.begin(), xs.end(), [](const replay::exchange& x) {
    return x.request.body.find("\"[REDACTED]\"") != std::string::npos;
  });
  if (redacted_bodies > 0 && !o.quiet) {
    fmt::print(stderr,
               "replay: warning: {} request bodies hold \"[REDACTED]\" values (the agent's "
               "--redact-json-field); they are sent as captured\n",
               redacted_bodies);
  }
  if (o.dry_run) {
    for (const auto& x : xs) {
      const auto rq = replay::build_request(x.request, *target, ro);
      fmt::print("> {} {}\n", rq.method, rq.url);
      for (const auto& h : rq.headers) fmt::print("> {}: {}\n", h.name, h.value);
      fmt::print(">\n> ({} body bytes)\n\n", rq.body.size());
    }
    return 0;
  }
  std::ofstream report;
  if (!o.report.empty()) {
    report.open(o.report, std::ios::binary | std::ios::trunc);
    if (!report) {
      fmt::print(stderr, "replay: --report {}: cannot open for writing\n", o.report);
      return 2;
    }
  }

  replay::schedule sched;
  if (o.rate > 0) {
    sched.mode = replay::pacing::rate;
    sched.rate = o.rate;
  } else if (o.speed > 0) {
    sched.mode = replay::pacing::speed;
    sched.speed = o.speed;
    for (const auto& x : xs) {
      if (x.request.time_us > 0) {
        sched.first_us = x.request.time_us;
        break;
      }
    }
  }

  curl_global global;
  CURLM* multi = curl_multi_init();
  std::vector<easy_ptr> idle;
  replay::summary sum;
  std::vector<std::string> shown;  // the first differences and errors, for stdout
  constexpr std::size_t max_shown = 20;
  std::size_t next = 0, active = 0, done = 0, errors = 0, not_compared = 0;
  progress bar(xs.size(), o.quiet);
  const auto start = clock_type::now();
  auto finish = [&](transfer& t, CURLcode rc) {
    const auto& x = xs[t.index];
    replay::outcome oc = replay::outcome::same;
    std::vector<replay::difference> diffs;
    std::string err;
    if (rc != CURLE_OK) {
      oc = replay::outcome::failed;
      err = t.errbuf[0] ? t.errbuf : curl_easy_strerror(rc);
      // curl's connect message ("Couldn't connect to server") does not say why; errno does.
      long os_errno = 0;
      if (curl_easy_getinfo(t.easy.get(), CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
          os_errno != 0) {
        err += fmt::format(" ({})", std::strerror(static_cast<int>(os_errno)));
      }
      ++errors;
    } else {
      long status = 0;
      curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &status);
      t.resp.status = static_cast<int>(status);
      if (x.response) {
        diffs = replay::compare(*x.response, t.resp, co);
        if (!diffs.empty()) oc = replay::outcome::changed;
      } else {
        ++not_compared;
      }
    }
    sum.add(x, oc);
    if (report.is_open()) {
      std::string lines;
      replay::append_report_lines(x, t.rq, oc, diffs, err, lines);
      report << lines;
    }
    if (oc == replay::outcome::failed && shown.size() < max_shown) {
      shown.push_back(fmt::format("failed   {} {}: {}", t.rq.method, t.rq.url, err));
    }
    for (const auto& d : diffs) {
      if (shown.size() >= max_shown) break;
      shown.push_back(
          fmt::format("changed  {} {} ({}): {}", t.rq.method, x.request.path, x.id, describe(d)));
    }
    ++done;
  };

  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  while ((next < xs.size() && !interrupted) || active > 0) {
    const auto elapsed_us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - start).count();
    while (!interrupted && active < o.concurrency && next < xs.size() &&
           sched.due_us(next, xs[next].request.time_us) <= elapsed_us) {
      auto t = make_transfer(next, replay::build_request(xs[next].request, *target, ro), o, idle);
      curl_multi_add_handle(multi, t->easy.get());
      t.release();  // owned through CURLOPT_PRIVATE until it is done
      ++next;
      ++active;
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      void* priv = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      std::unique_ptr<transfer> t(static_cast<transfer*>(priv));
      const CURLcode rc = msg->data.result;
      curl_multi_remove_handle(multi, msg->easy_handle);
      finish(*t, rc);
      idle.push_back(std::move(t->easy));
      --active;
    }
    bar.update(next, done, errors);
    if ((next >= xs.size() || interrupted) && active == 0) break;
    int wait_ms = 100;
    if (next < xs.size() && active < o.concurrency) {
      const auto now_us =
          std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - start).count();
      const auto due = sched.due_us(next, xs[next].request.time_us) - now_us;
      wait_ms = static_cast<int>(std::clamp<std::int64_t>(due / 1000, 0, 100));
    }
    curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }
  curl_multi_cleanup(multi);
  bar.update(next, done, errors, true);
  const double secs = std::chrono::duration<double>(clock_type::now() - start).count();

  for (const auto& s : shown) fmt::print("{}\n", s);
  if (!shown.empty()) fmt::print("\n");
  fmt::print("{}", sum.table());
  fmt::print(
      "\nreplayed {} exchanges to {} in {:.2f} s ({:.1f} req/s): {} same, {} changed, {} "
      "failed{}\n",
      done, o.target, secs, secs > 0 ? static_cast<double>(done) / secs : 0.0, sum.same(),
      sum.changed(), sum.failed(),
      not_compared ? fmt::format(" ({} without a captured response, not compared)", not_compared)
                   : std::string());
  if (interrupted) {
    fmt::print("interrupted: {} of {} exchanges not sent\n", xs.size() - next, xs.size());
  }
  std::fflush(stdout);
  if (interrupted) return 130;
  if (sum.failed() > 0) return 2;
  return sum.changed() > 0 ? 1 : 0;
}

}  // namespace

int replay_main(int argc, char** argv) {
  options o;
  CLI::App app{
      "Sends captured exchanges again to a target and compares each new response with the\n"
      "captured one (status, chosen headers, body; JSON-aware). docs/replay.md has the details.\n"
      "Exit status: 0 nothing differs, 1 some responses differ, 2 a request failed.",
      "http-event-processor replay"};
  app.add_option("--from", o.from,
                 "where the exchanges come from: a data directory, a HAR file, or a running "
                 "agent's URL (http://HOST:PORT or .../events)")
      ->required();
  app.add_option("--target", o.target, "where to send them: http://HOST:PORT[/BASE] or https://...")
      ->required();
  app.add_option("--token", o.token, "bearer token for --from URL (the agent's --api-token)");
  app.add_option("--since", o.filters.since, "only exchanges at or after this RFC 3339 time");
  app.add_option("--until", o.filters.until, "only exchanges at or before this RFC 3339 time");
  app.add_option("--method", o.filters.method, "only this method");
  app.add_option("--status", o.filters.status, "only this captured status (404) or class (5xx)");
  app.add_option("--path", o.filters.path,
                 "only paths with this prefix, or matching this glob (*)");
  app.add_option("--host", o.filters.host, "only this Host header (port optional)");
  app.add_option("--id", o.filters.id, "only the exchange with this id");
  app.add_option("--complete", o.filters.complete,
                 "only complete (true) or incomplete (false) ones");
  app.add_option("--limit", o.limit, "send at most N exchanges (the oldest N that match)");
  app.add_option("--concurrency", o.concurrency, "requests in flight at most (default 8)")
      ->check(CLI::Range(1u, 10000u));
  auto* rate =
      app.add_option("--rate", o.rate, "send R requests per second")->check(CLI::PositiveNumber);
  app.add_option("--speed", o.speed,
                 "keep the captured pacing, X times faster (1: real time, 2: twice as fast)")
      ->check(CLI::PositiveNumber)
      ->excludes(rate);
  app.add_option("--timeout", o.timeout, "seconds a request may take in all (default 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--connect-timeout", o.connect_timeout, "seconds to connect (default 5)")
      ->check(CLI::PositiveNumber);
  app.add_option("--header", o.headers,
                 "'Name: value' to add or replace in every request ('Name:' removes it); "
                 "repeatable")
      ->allow_extra_args(false);
  app.add_flag("--keep-host", o.keep_host, "send the captured Host header instead of the target's");
  app.add_flag("--insecure", o.insecure, "https: do not verify the target's certificate");
  app.add_option("--cacert", o.cacert, "https: CA certificates (PEM) to verify the target with")
      ->check(CLI::ExistingFile);
  app.add_option("--compare-header", o.compare_headers,
                 "also compare this response header; repeatable")
      ->allow_extra_args(false);
  app.add_option("--ignore-json-field", o.ignore_fields,
                 "JSON path not to compare (meta.timestamp, items[].id, *.updated_at); "
                 "repeatable")
      ->allow_extra_args(false);
  app.add_flag("--no-body", o.no_body, "do not compare bodies");
  app.add_option("--report", o.report, "write each difference and failure as a JSON line here");
  app.add_flag("--quiet", o.quiet, "no progress on stderr");
  app.add_flag("--dry-run", o.dry_run, "print the requests that would be sent, send nothing");
  try {
    app.parse(argc - 1, argv + 1);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::signal(SIGPIPE, SIG_IGN);
  return run(o);
}

}  // namespace agent
