// SPDX-License-Identifier: Apache-2.0
#include "agent/app.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "agent/connections.h"
#include "agent/log.h"
#include "correlate/json_redact.h"
#include "correlate/redact.h"
#include "storage/instance_id.h"

namespace agent {

namespace {

std::uint64_t minutes_to_ms(double minutes) {
  return static_cast<std::uint64_t>(std::llround(minutes * 60'000.0));
}

correlate::config correlator_config(const config& cfg) {
  correlate::config c;
  c.ttl_us = static_cast<std::int64_t>(minutes_to_ms(cfg.event_expiry_minutes)) * 1000;
  c.max_pending = cfg.max_pending;
  c.max_pending_bytes = cfg.max_pending_bytes;
  return c;
}

// Monotonic microseconds: arrival times for the correlator's expiry.
std::int64_t mono_us() { return static_cast<std::int64_t>(uv_hrtime() / 1000); }

void check(int rc, const char* what) {
  if (rc < 0) throw std::runtime_error(fmt::format("{}: {}", what, uv_strerror(rc)));
}

// `what`: "kafka" (the exchanges sink) or "pairing" (--pairing kafka).
void log_kafka(std::string_view what, const storage::kafka_notice& n) {
  switch (n.kind) {
    case storage::kafka_notice_kind::failing:
      log::warn("{} failing reason=\"{}\"", what, n.reason);
      break;
    case storage::kafka_notice_kind::recovered:
      log::info("{} recovered failed_during_outage={}", what, n.failed_during);
      break;
    case storage::kafka_notice_kind::client_log:
      if (n.syslog_level <= 2) {
        log::warn("{} client level={} msg=\"{}\"", what, n.syslog_level, n.reason);
      } else if (n.reason.starts_with("pairing: ")) {
        // Our own: an assignment (info), a record on the halves topic that is not a half.
        if (n.syslog_level >= 6) log::info("{}", n.reason);
        else log::warn("{}", n.reason);
      } else {
        log::debug("{} client level={} msg=\"{}\"", what, n.syslog_level, n.reason);
      }
      break;
  }
}

std::vector<std::pair<std::string, std::string>> kafka_options(const config& cfg) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& o : cfg.kafka_options) {
    const auto eq = o.find('=');  // checked by parse_config
    out.emplace_back(o.substr(0, eq), o.substr(eq + 1));
  }
  return out;
}

}  // namespace

app::app(const config& cfg)
    : cfg_(cfg), redaction_(cfg.redaction_list()), correlator_(correlator_config(cfg)) {
  storage::config sc;
  sc.data_dir = cfg.data_dir;
  sc.queue_capacity = cfg.queue_capacity;
  sc.queue_bytes = cfg.queue_bytes;
  sc.segment_bytes = cfg.segment_bytes;
  sc.segment_age = std::chrono::seconds(cfg.segment_age_s);
  sc.retention_bytes = cfg.retention_bytes;
  sc.retention_age = std::chrono::seconds(cfg.retention_age_s);
  sc.fsync = storage::parse_fsync_policy(cfg.fsync).value_or(storage::fsync_policy::interval);
  sc.flush_interval_ms = static_cast<int>(std::llround(cfg.fsync_interval * 1000));
  store_ = std::make_unique<storage::store>(sc);
  // Kept in the data directory (storage/instance_id.h): a restarted replica is the same
  // instance, so the fleet cursors that name it stay valid.
  std::string instance = storage::load_instance_id(cfg.data_dir);
  if (cfg.kafka_sink_on()) {
    storage::kafka_config kc;
    kc.brokers = cfg.kafka_brokers;
    kc.topic = cfg.kafka_topic;
    kc.format = storage::parse_kafka_format(cfg.kafka_format).value_or(storage::kafka_format::json);
    kc.options = kafka_options(cfg);
    kc.queue_capacity = cfg.kafka_queue_capacity;
    kc.queue_bytes = cfg.kafka_queue_bytes;
    kc.close_timeout = std::chrono::milliseconds(std::llround(cfg.kafka_close_timeout * 1000));
    kafka_ = std::make_unique<storage::kafka_sink>(
        std::move(kc), [](const storage::kafka_notice& n) { log_kafka("kafka", n); });
  }
  if (cfg.pairing == "kafka") {
    storage::pairing_config pc;
    pc.brokers = cfg.kafka_brokers;
    pc.topic = cfg.pairing_topic;
    pc.group = cfg.pairing_group;
    pc.options = kafka_options(cfg);
    pc.correlator = correlator_config(cfg);
    pc.queue_capacity = cfg.kafka_queue_capacity;
    pc.queue_bytes = cfg.kafka_queue_bytes;
    pc.close_timeout = std::chrono::milliseconds(std::llround(cfg.kafka_close_timeout * 1000));
    // Halves re-read after a rebalance may be past their TTL already: expire at least once a
    // second, and as often as --cleanup-interval-minutes asks.
    pc.expiry_interval = std::chrono::milliseconds(std::clamp<std::uint64_t>(
        std::max<std::uint64_t>(minutes_to_ms(cfg.cleanup_interval_minutes), 1), 100, 1000));
    // Exchanges made before the loop is up wait in pairing_ready_ (pairing_output()).
    pairing_ = std::make_unique<storage::kafka_pairing>(
        std::move(pc), [this](std::vector<correlate::exchange>& xs) { pairing_output(xs); },
        [](const storage::kafka_notice& n) { log_kafka("pairing", n); });
  }
  api::router_options ro;
  ro.api_token = cfg.api_token;
  ro.ingest_token = cfg.ingest_token;
  ro.stats_max_records = cfg.stats_max_records;
  ro.ingest = [this](std::vector<correlate::event>& evs) { return ingest(evs); };
  ro.ready = [this] { return not_ready(); };
  ro.histograms = [this] { return histograms(); };
  ro.instance = std::move(instance);
  if (!cfg.peers.empty()) {
    peer_options po;
    po.peers = cfg.peers;
    po.timeout_s = cfg.peer_timeout;
    po.token = cfg.peer_token.empty() ? cfg.api_token : cfg.peer_token;
    po.instance = ro.instance;
    peers_ = std::make_shared<curl_peer_client>(std::move(po));
    ro.peers = peers_;
  }
  router_ = std::make_unique<api::router>(
      *store_, [this] { return metrics(); }, HEP_VERSION, std::move(ro));

  check(uv_loop_init(&loop_), "uv_loop_init");
  loop_.data = this;
  started_ms_ = uv_now(&loop_);
  try {
    bind(spop_server_, cfg.spop_listen, &app::on_spop_connection, "SPOP");
    bind(http_server_, cfg.http_listen, &app::on_http_connection, "HTTP");
    if (!cfg.probe_listen.host.empty()) {
      bind(probe_server_, cfg.probe_listen, &app::on_http_connection, "probe");
      probe_on_ = true;
    }
  } catch (...) {
    uv_walk(
        &loop_, [](uv_handle_t* h, void*) { if (!uv_is_closing(h)) uv_close(h, nullptr); },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    throw;
  }

  uv_timer_init(&loop_, &expiry_timer_);
  expiry_timer_.data = this;
  const auto interval = std::max<std::uint64_t>(minutes_to_ms(cfg.cleanup_interval_minutes), 1);
  uv_timer_start(&expiry_timer_, &app::on_expiry_timer, interval, interval);
  uv_timer_init(&loop_, &shutdown_timer_);
  shutdown_timer_.data = this;
  listening_ = true;

  // One sweep for every HTTP connection's request and idle timeouts, a few times per timeout.
  uv_timer_init(&loop_, &http_sweep_timer_);
  http_sweep_timer_.data = this;
  const auto sweep_ms = [](double shortest_s) {
    return std::clamp<std::uint64_t>(static_cast<std::uint64_t>(shortest_s * 1000.0 / 4.0), 10,
                                     1000);
  };
  const auto http_ms = sweep_ms(
      std::min({cfg.http_request_timeout, cfg.http_first_byte_timeout, cfg.http_idle_timeout}));
  uv_timer_start(&http_sweep_timer_, &app::on_http_sweep, http_ms, http_ms);
  // And one for the SPOP HELLO and frame timeouts.
  uv_timer_init(&loop_, &spop_sweep_timer_);
  spop_sweep_timer_.data = this;
  const auto spop_ms = sweep_ms(std::min(cfg.spop_hello_timeout, cfg.spop_frame_timeout));
  uv_timer_start(&spop_sweep_timer_, &app::on_spop_sweep, spop_ms, spop_ms);

  uv_async_init(&loop_, &stop_async_, [](uv_async_t* a) noexcept {
    static_cast<app*>(a->data)->stop();
  });
  stop_async_.data = this;

  if (pairing_) {
    uv_async_init(&loop_, &pairing_async_, [](uv_async_t* a) noexcept {
      static_cast<app*>(a->data)->pairing_take();
    });
    pairing_async_.data = this;
    std::lock_guard lk(pairing_mu_);
    pairing_loop_open_ = true;
    if (!pairing_ready_.empty()) uv_async_send(&pairing_async_);
  }

  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sigterm_);
  sigint_.data = sigterm_.data = this;
  uv_signal_start(&sigint_, &app::on_signal, SIGINT);
  uv_signal_start(&sigterm_, &app::on_signal, SIGTERM);
}

app::~app() {
  if (store_) store_->close();
}

void app::bind(uv_tcp_t& server, const listen_address& a, uv_connection_cb cb, const char* what) {
  sockaddr_storage addr{};
  int rc = uv_ip4_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc < 0) rc = uv_ip6_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in6*>(&addr));
  if (rc < 0) {
    throw std::runtime_error(fmt::format("{} listen address {}: not an IP address", what, a.host));
  }
  check(uv_tcp_init(&loop_, &server), "uv_tcp_init");
  server.data = this;
  rc = uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0);
  // The kernel caps the backlog at net.core.somaxconn; a connection flood drains it quickly.
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, cb);
  if (rc < 0) {
    throw std::runtime_error(
        fmt::format("{} listener {}:{}: {}", what, a.host, a.port, uv_strerror(rc)));
  }
}

namespace {
std::uint16_t bound_port(const uv_tcp_t& server) {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}
}  // namespace

std::uint16_t app::spop_port() const { return bound_port(spop_server_); }
std::uint16_t app::http_port() const { return bound_port(http_server_); }
std::uint16_t app::probe_port() const { return probe_on_ ? bound_port(probe_server_) : 0; }

int app::run() {
  log::info("start version={} spop={}:{} http={}:{} data_dir={}", HEP_VERSION,
            cfg_.spop_listen.host, spop_port(), cfg_.http_listen.host, http_port(),
            cfg_.data_dir);
  if (probe_on_) log::info("probe listener={}:{}", cfg_.probe_listen.host, probe_port());
  if (pairing_) {
    log::info("pairing kafka brokers={} topic={} group={}", cfg_.kafka_brokers,
              cfg_.pairing_topic, cfg_.pairing_group);
  }
  if (cfg_.discard) log::warn("discard mode: NOTIFYs are decoded and ACKed, nothing is stored");
  uv_run(&loop_, UV_RUN_DEFAULT);
  // The shutdown timer is unreferenced so it never holds the loop; close it now.
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&shutdown_timer_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&shutdown_timer_), nullptr);
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (pairing_) {
    // Our last halves reach the cluster; what the pairing thread makes meanwhile is stored
    // from here (the loop has ended); halves still waiting stay in the topic for the next owner.
    pairing_->close();
    pairing_take();
    const auto p = pairing_->stats();
    log::info("pairing closed produced={} delivered={} dropped={} failed={} handed_over={}",
              p.produced, p.delivered, p.dropped, p.failed, p.handed_over);
  }
  store_->close();
  if (kafka_) {
    const auto r = kafka_->close();
    const auto k = kafka_->stats();
    log::info("kafka closed delivered={} failed={} dropped={} left={} took_ms={}", k.delivered,
              k.failed, k.dropped, r.left, r.took.count());
    if (r.left != 0) log::warn("kafka shutdown left={} exchanges undelivered", r.left);
  }
  const auto s = store_->stats();
  log::info("stopped stored={} dropped={} write_errors={} paired={}", s.stored, s.dropped,
            s.write_errors, correlator_.stats().paired);
  if (const int rc = uv_loop_close(&loop_); rc != 0) {
    log::error("loop did not close cleanly: {}", uv_strerror(rc));
    return 1;
  }
  return 0;
}

void app::stop() {
  if (stopping_) {
    if (in_grace_) finish_stop();  // a second signal, or the last partner arrived
    return;
  }
  stopping_ = true;
  log::info("stopping spop_connections={} http_connections={} pending={}", spop_conns_.size(),
            http_conns_.size(), correlator_.pending());
  uv_close(reinterpret_cast<uv_handle_t*>(&spop_server_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&http_server_), nullptr);
  if (probe_on_) uv_close(reinterpret_cast<uv_handle_t*>(&probe_server_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&expiry_timer_), nullptr);
  listening_ = false;
  if (cfg_.shutdown_grace > 0 && correlator_.pending() > 0 && !spop_conns_.empty()) {
    in_grace_ = true;
    log::info("shutdown grace: waiting up to {}s for the partners of {} pending halves",
              cfg_.shutdown_grace, correlator_.pending());
    uv_timer_start(&shutdown_timer_, &app::on_grace_timer,
                   static_cast<std::uint64_t>(std::llround(cfg_.shutdown_grace * 1000)), 0);
    return;
  }
  finish_stop();
}

void app::finish_stop() {
  if (stop_finished_) return;
  stop_finished_ = true;
  if (in_grace_) {
    in_grace_ = false;
    log::info("shutdown grace over pending={}", correlator_.pending());
  }
  uv_timer_stop(&shutdown_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&http_sweep_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&spop_sweep_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  {
    std::lock_guard lk(stop_async_mu_);
    stop_async_open_ = false;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
  if (pairing_) {
    {
      std::lock_guard lk(pairing_mu_);
      pairing_loop_open_ = false;
    }
    pairing_cv_.notify_all();
    uv_close(reinterpret_cast<uv_handle_t*>(&pairing_async_), nullptr);
  }

  // Every frame already read has been handled and ACKed; tell HAProxy we are going.
  for (auto* c : std::vector<spop_conn*>(spop_conns_.begin(), spop_conns_.end())) {
    if (!c->session.closing()) {
      c->session.disconnect(c->out, spop::status::normal);
      spop_stats_.disconnects_sent++;
    }
    c->close_after_write = true;
    spop_flush(c);
  }
  live_stop();
  for (auto* c : std::vector<http_conn*>(http_conns_.begin(), http_conns_.end())) {
    if (!c->busy && c->writes_pending == 0) http_close(c);
    else c->close_after_write = true;
  }

  // Halves still waiting for a partner are stored incomplete rather than lost.
  correlator_.drain(scratch_);
  sink(scratch_);

  // A peer that never reads its AGENT-DISCONNECT must not hold the process.
  uv_timer_start(&shutdown_timer_, &app::on_shutdown_timer, 5000, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&shutdown_timer_));
}

void app::request_stop() {
  std::lock_guard lk(stop_async_mu_);
  if (stop_async_open_) uv_async_send(&stop_async_);
}

void app::testing_pause_storage(bool paused) { store_->testing_pause_writer(paused); }

void app::on_shutdown_timer(uv_timer_t* t) noexcept {
  auto* self = static_cast<app*>(t->data);
  log::warn("shutdown timeout: closing {} SPOP and {} HTTP connections", self->spop_conns_.size(),
            self->http_conns_.size());
  for (auto* c : std::vector<spop_conn*>(self->spop_conns_.begin(), self->spop_conns_.end())) {
    self->spop_close(c);
  }
  for (auto* c : std::vector<http_conn*>(self->http_conns_.begin(), self->http_conns_.end())) {
    self->http_close(c);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
}

void app::on_grace_timer(uv_timer_t* t) noexcept {
  static_cast<app*>(t->data)->finish_stop();
}

void app::on_signal(uv_signal_t* s, int signum) noexcept {
  auto* self = static_cast<app*>(s->data);
  log::info("signal {} received", signum == SIGINT ? "SIGINT" : "SIGTERM");
  self->stop();
}

void app::on_expiry_timer(uv_timer_t* t) noexcept {
  auto* self = static_cast<app*>(t->data);
  self->correlator_.expire(mono_us(), self->scratch_);
  if (!self->scratch_.empty()) {
    log::debug("expired halves={}", self->scratch_.size());
    self->sink(self->scratch_);
  }
}

void app::add_event(correlate::event&& e) {
  if (pairing_) {
    // Masked before it leaves the agent: the halves topic holds no more than the store would.
    correlate::redact(e, redaction_);
    correlate::redact_json_fields(e, cfg_.redact_json_fields);
    pairing_->submit(e);  // a refusal is counted in pairing.dropped
    return;
  }
  const auto paired = correlator_.stats().paired;
  correlator_.add(std::move(e), mono_us(), scratch_);
  if (correlator_.stats().paired != paired) {
    pair_delay_.observe(static_cast<double>(correlator_.last_pair_wait_us()) / 1e6);
  }
  if (!scratch_.empty()) sink(scratch_);
  // The last partner the grace period waited for: finish on the next loop turn, outside the
  // connection callback that brought it.
  if (in_grace_ && correlator_.pending() == 0) uv_async_send(&stop_async_);
}

void app::sink(std::vector<correlate::exchange>& xs) {
  for (auto& x : xs) {
    correlate::redact(x, redaction_);
    correlate::redact_json_fields(x, cfg_.redact_json_fields);
    live_publish(x);  // GET /events/stream clients; nothing to do without any
    // One shared record for both sinks: no copy, and one JSON line for both.
    auto r = storage::make_record(std::move(x));
    if (kafka_) kafka_->submit(r);
    if (!cfg_.no_file_storage) store_->submit(std::move(r));
  }
  xs.clear();
}

void app::pairing_output(std::vector<correlate::exchange>& xs) {
  std::unique_lock lk(pairing_mu_);
  // Bounded like the store's queue: past it the pairing thread waits (the halves wait in
  // Kafka meanwhile), unless the loop has ended and run() takes them itself.
  pairing_cv_.wait(lk, [&] {
    return !pairing_loop_open_ || pairing_ready_.size() < cfg_.queue_capacity;
  });
  const bool was_empty = pairing_ready_.empty();
  for (auto& x : xs) pairing_ready_.push_back(std::move(x));
  const bool wake = was_empty && pairing_loop_open_;
  lk.unlock();
  if (wake) uv_async_send(&pairing_async_);
}

void app::pairing_take() {
  {
    std::lock_guard lk(pairing_mu_);
    pairing_batch_.swap(pairing_ready_);
  }
  pairing_cv_.notify_all();
  sink(pairing_batch_);
}

bool app::ingest(std::vector<correlate::event>& events) {
  // Each half can complete at most one exchange: refuse the batch, whole, when the writer's
  // queue could not take them all.
  if (stopping_ || store_->stats().queue_depth + events.size() > cfg_.queue_capacity) {
    return false;
  }
  for (auto& e : events) add_event(std::move(e));
  events.clear();
  return true;
}

std::string app::not_ready() const {
  if (stopping_) return "shutting down";
  if (!listening_) return "listeners not up";
  return {};
}

std::vector<api::named_histogram> app::histograms() const {
  std::vector<api::named_histogram> hs(2);
  hs[0].name = "hep_spop_ack_latency_seconds";
  hs[0].help = "Time from reading NOTIFY frames to handing their ACKs to the socket.";
  hs[0].h = ack_latency_;
  hs[1].name = "hep_correlator_pair_delay_seconds";
  hs[1].help = "Time the first half of an exchange waited for its partner.";
  hs[1].h = pair_delay_;
  return hs;
}

std::vector<api::metric_group> app::metrics() const {
  using api::metric;
  std::vector<api::metric_group> groups;
  const auto uptime_s = (uv_now(&loop_) - started_ms_) / 1000;
  groups.push_back({"process", {metric{"uptime_seconds", uptime_s, true}}});

  const auto& s = spop_stats_;
  api::metric_group spop{"spop",
                         {{"connections_total", s.connections_total},
                          {"connections_active", spop_conns_.size(), true},
                          {"hello", s.hello},
                          {"healthchecks", s.healthchecks},
                          {"notify", s.notify},
                          {"messages", s.messages},
                          {"acks", s.acks},
                          {"fragments", s.fragments},
                          {"disconnects_received", s.disconnects_received},
                          {"disconnects_sent", s.disconnects_sent},
                          {"skipped_frames", s.skipped_frames},
                          {"resets", s.resets},
                          {"read_errors", s.read_errors},
                          {"bad_messages", s.bad_messages},
                          {"missing_id", s.missing_id},
                          {"ignored_messages", s.ignored_messages},
                          {"errors", s.errors},
                          {"hello_timeouts", s.hello_timeouts},
                          {"frame_timeouts", s.frame_timeouts},
                          {"evicted", s.evicted},
                          {"rejected_connections", s.rejected_connections},
                          {"waiting_hello", spop_waiting_hello_.size(), true}}};
  static constexpr std::string_view error_names[] = {
      "errors_normal",  // never counted as an error; kept so the index is the status code
      "errors_io",
      "errors_timeout",
      "errors_too_big",
      "errors_invalid",
      "errors_no_version",
      "errors_no_max_frame_size",
      "errors_no_capabilities",
      "errors_bad_version",
      "errors_bad_max_frame_size",
      "errors_fragmentation_not_supported",
      "errors_interlaced_frames",
      "errors_frame_id_not_found",
      "errors_resource_allocation"};
  for (std::size_t i = 1; i < s.errors_by_status.size(); ++i) {
    spop.metrics.push_back({error_names[i], s.errors_by_status[i]});
  }
  spop.metrics.push_back({"errors_other", s.errors_other_status});
  groups.push_back(std::move(spop));

  const auto& c = correlator_.stats();
  groups.push_back({"correlator",
                    {{"pending", correlator_.pending(), true},
                     {"pending_bytes", correlator_.pending_bytes(), true},
                     {"requests", c.requests},
                     {"responses", c.responses},
                     {"paired", c.paired},
                     {"expired", c.expired},
                     {"evicted", c.evicted},
                     {"duplicates", c.duplicates},
                     {"drained", c.drained}}});

  const auto st = store_->stats();
  groups.push_back({"storage",
                    {{"submitted", st.submitted},
                     {"stored", st.stored},
                     {"dropped", st.dropped},
                     {"write_errors", st.write_errors},
                     {"bytes_written", st.bytes_written},
                     {"segments", st.segments},
                     {"rotations", st.rotations},
                     {"deleted_segments", st.deleted_segments},
                     {"deleted_records", st.deleted_records},
                     {"deleted_bytes", st.deleted_bytes},
                     {"fsyncs", st.fsyncs},
                     {"queue_depth", st.queue_depth, true},
                     {"queue_bytes", st.queue_bytes, true},
                     {"indexed", st.indexed, true},
                     {"stored_bytes", st.stored_bytes, true},
                     {"live_segments", st.live_segments, true},
                     {"index_bytes", st.index_bytes, true},
                     {"writable", store_->writable() ? 1u : 0u, true}}});

  if (kafka_) {
    const auto k = kafka_->stats();
    groups.push_back({"kafka",
                      {{"submitted", k.submitted},
                       {"delivered", k.delivered},
                       {"failed", k.failed},
                       {"dropped", k.dropped},
                       {"left", k.left},
                       {"bytes_delivered", k.bytes_delivered},
                       {"in_flight", k.in_flight, true},
                       {"queue_bytes", k.queue_bytes, true},
                       {"healthy", k.healthy ? 1u : 0u, true}}});
  }

  if (pairing_) {
    const auto p = pairing_->stats();
    groups.push_back({"pairing",
                      {{"produced", p.produced},
                       {"dropped", p.dropped},
                       {"delivered", p.delivered},
                       {"failed", p.failed},
                       {"in_flight", p.in_flight, true},
                       {"consumed", p.consumed},
                       {"bad_records", p.bad_records},
                       {"paired", p.paired},
                       {"expired", p.expired},
                       {"evicted", p.evicted},
                       {"duplicates", p.duplicates},
                       {"handed_over", p.handed_over},
                       {"rebalances", p.rebalances},
                       {"commits", p.commits},
                       {"commit_errors", p.commit_errors},
                       {"requeued", p.requeued},
                       {"partitions", p.partitions, true},
                       {"lag", p.lag, true},
                       {"pending", p.pending, true},
                       {"pending_bytes", p.pending_bytes, true},
                       {"healthy", p.healthy ? 1u : 0u, true}}});
  }

  if (peers_) {
    const auto p = peers_->stats();
    groups.push_back({"peers",
                      {{"fetches", p.fetches},
                       {"requests", p.requests},
                       {"failures", p.failures},
                       {"timeouts", p.timeouts},
                       {"self", p.self, true}}});
    const auto f = fleet_streams_ ? fleet_streams_->stats() : fleet_streams::counters{};
    auto& g = groups.back().metrics;
    g.push_back({"streams", f.streams});
    g.push_back({"streams_active", f.streams_active, true});
    g.push_back({"stream_upstreams_active", f.upstreams_active, true});
    g.push_back({"stream_upstream_opens", f.upstream_opens});
    g.push_back({"stream_upstream_failures", f.upstream_failures});
    g.push_back({"stream_relayed", f.relayed});
    g.push_back({"stream_relay_dropped", f.relay_dropped});
  }

  const auto& h = http_stats_;
  groups.push_back({"http",
                    {{"connections_total", h.connections_total},
                     {"connections_active", http_conns_.size() - probe_conns_, true},
                     {"probe_connections_total", h.probe_connections_total},
                     {"probe_connections_active", probe_conns_, true},
                     {"requests", h.requests},
                     {"responses_2xx", h.responses_2xx},
                     {"responses_3xx", h.responses_3xx},
                     {"responses_4xx", h.responses_4xx},
                     {"responses_5xx", h.responses_5xx},
                     {"bad_requests", h.bad_requests},
                     {"rejected_connections", h.rejected_connections},
                     {"evicted_idle", h.evicted_idle},
                     {"evicted_slow", h.evicted_slow},
                     {"timeouts", h.timeouts},
                     {"first_byte_timeouts", h.first_byte_timeouts},
                     {"idle_closed", h.idle_closed},
                     {"write_stalled", h.write_stalled},
                     {"streamed_responses", h.streamed_responses},
                     {"live_streams", h.live_streams},
                     {"live_streams_active", live_conns_.size(), true},
                     {"live_events", h.live_events},
                     {"live_dropped", h.live_dropped},
                     {"live_stalled", h.live_stalled}}});

  // The limits in force, so that an operator reading /status sees what the counters are
  // measured against.
  const auto ms = [](double seconds) { return static_cast<std::uint64_t>(seconds * 1000.0); };
  groups.push_back({"limits",
                    {{"max_spop_connections", cfg_.max_spop_connections, true},
                     {"spop_hello_timeout_ms", ms(cfg_.spop_hello_timeout), true},
                     {"spop_frame_timeout_ms", ms(cfg_.spop_frame_timeout), true},
                     {"max_frame_size", cfg_.max_frame_size, true},
                     {"max_http_connections", cfg_.max_http_connections, true},
                     {"max_probe_connections", probe_on_ ? cfg_.max_probe_connections : 0, true},
                     {"http_first_byte_timeout_ms", ms(cfg_.http_first_byte_timeout), true},
                     {"http_request_timeout_ms", ms(cfg_.http_request_timeout), true},
                     {"http_idle_timeout_ms", ms(cfg_.http_idle_timeout), true},
                     {"max_request_bytes", cfg_.max_request_bytes, true},
                     {"max_pending", cfg_.max_pending, true},
                     {"max_pending_bytes", cfg_.max_pending_bytes, true},
                     {"queue_capacity", cfg_.queue_capacity, true},
                     {"queue_bytes", cfg_.queue_bytes, true}}});

  const auto a = router_->stats();
  groups.push_back({"api",
                    {{"ingest_requests", a.ingest_requests},
                     {"ingest_events", a.ingest_events},
                     {"ingest_rejected", a.ingest_rejected},
                     {"ingest_bad_bodies", a.ingest_bad_bodies},
                     {"ingest_full", a.ingest_full},
                     {"unauthorized", a.unauthorized}}});
  return groups;
}

}  // namespace agent
