// SPDX-License-Identifier: Apache-2.0
//
// What a hostile network tries: floods of connections that send nothing, or one byte a
// second, on both ports. The probes must keep answering, HAProxy's own connections must keep
// working, nothing stored or pending is lost, and the descriptors come back. Real sockets on
// 127.0.0.1 (harness.h); the agent runs in this process, so /proc/self/fd counts both sides.
#include <fcntl.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "test/agent/harness.h"
#include "test/agent/http_client.h"

using namespace agent_test;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr int flood = 2000;  // connections per port

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// The flood needs ~8,000 descriptors in this process (both ends of every connection).
void raise_descriptor_limit() {
  rlimit nofile{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &nofile) == 0);
  nofile.rlim_cur = nofile.rlim_max;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &nofile) == 0);
  REQUIRE(nofile.rlim_cur >= 4 * flood + 1000);
}

// Raw connections that the test holds open and may write single bytes to; errors on write
// are ignored (the agent may have closed them, which is the point).
struct crowd {
  std::vector<int> fds;
  crowd(std::uint16_t port, int n) {
    fds.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) fds.push_back(http_test::connect_to(port));
  }
  ~crowd() { close_all(); }
  void send_byte(std::string_view bytes, std::size_t index) {
    if (index >= bytes.size()) return;
    for (int fd : fds) (void)::send(fd, bytes.data() + index, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  void close_all() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
};

std::vector<std::byte> notify(std::uint64_t stream, std::uint64_t frame, const std::string& id,
                              bool request) {
  std::vector<spop::kv> args = {{"unique_id", spop::make_string(id)}};
  if (request) {
    args.push_back({"method", spop::make_string("GET")});
    args.push_back({"path", spop::make_string("/kept")});
  } else {
    args.push_back({"status", spop::make_int64(200)});
  }
  spop::message m{request ? "http-req" : "http-res", args};
  std::vector<std::byte> out;
  spop::encode_notify(out, stream, frame, std::span<const spop::message>(&m, 1));
  return out;
}

// One GET on a new connection, which must be answered 200 within 1 s.
void probe_within_1s(std::uint16_t port, const std::string& target) {
  const auto t0 = steady_clock::now();
  http_test::conn c(port);
  c.send("GET " + target + " HTTP/1.1\r\nHost: probe\r\n\r\n");
  const auto r = c.reply();
  const auto took = steady_clock::now() - t0;
  INFO("port " << port << " " << target << " took "
               << std::chrono::duration_cast<milliseconds>(took).count() << " ms");
  CHECK(r.status == 200);
  CHECK(took < milliseconds(1000));
}

// A new HAProxy-like connection: HELLO, then one NOTIFY whose ACK must come within 1 s.
void haproxy_within_1s(std::uint16_t spop_port, std::uint64_t stream, const std::string& id) {
  const auto t0 = steady_clock::now();
  client c(spop_port);
  c.send(hello_frame());
  REQUIRE(decode(c.read_record()).type == spop::frame_type::agent_hello);
  c.send(notify(stream, 1, id, true));
  c.send(notify(stream, 2, id, false));
  REQUIRE(decode(c.read_record()).type == spop::frame_type::ack);
  REQUIRE(decode(c.read_record()).type == spop::frame_type::ack);
  const auto took = steady_clock::now() - t0;
  INFO("HELLO + NOTIFY took " << std::chrono::duration_cast<milliseconds>(took).count() << " ms");
  CHECK(took < milliseconds(1000));
}

// Something stored and something pending before the flood, to check neither is lost.
void store_and_leave_pending(running_agent& a) {
  client c(a.app->spop_port());
  c.send(hello_frame());
  REQUIRE(decode(c.read_record()).type == spop::frame_type::agent_hello);
  c.send(notify(1, 1, "before", true));
  c.send(notify(1, 2, "before", false));
  c.send(notify(2, 1, "pending", true));
  for (int i = 0; i < 3; ++i) REQUIRE(decode(c.read_record()).type == spop::frame_type::ack);
  REQUIRE(http_test::poll_until(a.port(), "/events/before", "\"complete\":true").status == 200);
}

void nothing_lost(running_agent& a) {
  const auto port = a.port();
  CHECK(http_test::poll_until(port, "/events/before", "\"complete\":true").status == 200);
  CHECK(http_test::status_number(port, "correlator", "pending") == 1);  // "pending" waits on
  CHECK(http_test::status_number(port, "correlator", "evicted") == 0);
}

void descriptors_return_to(std::size_t baseline) {
  std::size_t now = open_descriptors();
  for (int i = 0; i < 100 && now > baseline; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    now = open_descriptors();
  }
  CHECK(now == baseline);
}

// An agent with a probe listener, one pair stored and one half pending, and the count of
// descriptors before any flood.
struct flood_agent {
  running_agent agent;
  std::size_t baseline = 0;
  flood_agent()
      : agent(raise_limit_then([](agent::config& c) {
          c.probe_listen = {"127.0.0.1", 0};
        })) {
    store_and_leave_pending(agent);
    // Let the agent's own connections of store_and_leave_pending() finish closing.
    std::this_thread::sleep_for(milliseconds(100));
    baseline = open_descriptors();
  }
  template <typename F>
  static F raise_limit_then(F tweak) {
    raise_descriptor_limit();
    return tweak;
  }
};

}  // namespace

TEST_CASE("2,000 idle SPOP and 2,000 idle HTTP connections: probes and HAProxy are served",
          "[agent][hardening]") {
  flood_agent f;
  auto& a = f.agent;
  const auto port = a.port();
  const auto baseline = f.baseline;
  {
    crowd spop(a.app->spop_port(), flood);
    crowd http(port, flood);
    std::this_thread::sleep_for(milliseconds(200));  // every connect accepted by the loop
    for (int round = 0; round < 3; ++round) {
      probe_within_1s(port, "/status");
      probe_within_1s(port, "/healthz");
      probe_within_1s(port, "/readyz");
      probe_within_1s(a.app->probe_port(), "/status");
    }
    haproxy_within_1s(a.app->spop_port(), 10, "during-idle-flood");
    // The table made room for the flood's later half and for the probes by closing the
    // connections idle longest; none was refused.
    const auto evicted = http_test::status_number(port, "http", "evicted_idle");
    CHECK(evicted >= flood - 1024);
    CHECK(http_test::status_number(port, "http", "rejected_connections") == 0);
    CHECK(http_test::status_number(port, "http", "connections_active") <= 1024);
    CHECK(http_test::status_number(port, "spop", "connections_active") >= flood);
    CHECK(http_test::status_number(port, "spop", "waiting_hello") >= flood);
  }
  CHECK(http_test::poll_until(port, "/events/during-idle-flood", "\"complete\":true").status ==
        200);
  nothing_lost(a);
  descriptors_return_to(baseline);
  CHECK(a.stop() == 0);
}

TEST_CASE("2,000 slow SPOP and 2,000 slow HTTP clients (one byte a second): probes are served",
          "[agent][hardening]") {
  flood_agent f;
  auto& a = f.agent;
  const auto port = a.port();
  const auto baseline = f.baseline;
  std::vector<std::byte> hello = hello_frame();
  const std::string_view hello_bytes(reinterpret_cast<const char*>(hello.data()), hello.size());
  const std::string_view request = "GET /status HTTP/1.1\r\nHost: slow\r\n\r\n";
  {
    crowd spop(a.app->spop_port(), flood);
    crowd http(port, flood);
    // Three seconds of one byte a second on every connection, probing in between. The probe
    // listener answers from the first second; the API port once the trickling requests are a
    // second old and may be closed to make room.
    for (std::size_t second = 0; second < 3; ++second) {
      spop.send_byte(hello_bytes, second);
      http.send_byte(request, second);
      probe_within_1s(a.app->probe_port(), "/status");
      probe_within_1s(a.app->probe_port(), "/healthz");
      std::this_thread::sleep_for(milliseconds(1000));
      probe_within_1s(port, "/status");
      probe_within_1s(port, "/readyz");
    }
    haproxy_within_1s(a.app->spop_port(), 10, "during-slow-flood");
    // Each API-port probe found the table full of trickling requests over a second old;
    // the first closed one of them, and a probe's slot, once it is gone, serves the next.
    CHECK(http_test::status_number(port, "http", "evicted_slow") >= 1);
    CHECK(http_test::status_number(port, "http", "rejected_connections") == 0);
  }
  // Nothing of the slow SPOP clients ever became a HELLO.
  CHECK(http_test::status_number(port, "spop", "hello") == 2);
  CHECK(http_test::poll_until(port, "/events/during-slow-flood", "\"complete\":true").status ==
        200);
  nothing_lost(a);
  descriptors_return_to(baseline);
  CHECK(a.stop() == 0);
}

TEST_CASE("SPOP: no HELLO in time, or a frame left half-sent, is closed with status timeout",
          "[agent][hardening]") {
  running_agent a([](agent::config& c) {
    c.spop_hello_timeout = 0.2;
    c.spop_frame_timeout = 0.3;
  });
  const auto port = a.port();
  client silent(a.app->spop_port());
  // Half a HELLO is no HELLO either.
  const auto hello = hello_frame();
  client half_hello(a.app->spop_port());
  half_hello.send(hello.data(), hello.size() / 2);
  CHECK(disconnect_status(silent.read_record()) == 2);
  CHECK(silent.closed_by_peer());
  CHECK(disconnect_status(half_hello.read_record()) == 2);

  // Past its HELLO, a connection may idle (HAProxy keeps them), but not stop mid-frame.
  client idle(a.app->spop_port());
  idle.send(hello);
  REQUIRE(decode(idle.read_record()).type == spop::frame_type::agent_hello);
  client stuck(a.app->spop_port());
  stuck.send(hello);
  REQUIRE(decode(stuck.read_record()).type == spop::frame_type::agent_hello);
  const auto frame = notify(1, 1, "half", true);
  stuck.send(frame.data(), frame.size() - 3);
  CHECK(disconnect_status(stuck.read_record()) == 2);
  CHECK(stuck.closed_by_peer());
  std::this_thread::sleep_for(milliseconds(400));
  idle.send(notify(2, 1, "whole", true));
  CHECK(decode(idle.read_record()).type == spop::frame_type::ack);

  CHECK(http_test::status_number(port, "spop", "hello_timeouts") == 2);
  CHECK(http_test::status_number(port, "spop", "frame_timeouts") == 1);
  CHECK(http_test::status_number(port, "spop", "errors") == 0);
  CHECK(http_test::status_number(port, "limits", "spop_hello_timeout_ms") == 200);
  CHECK(a.stop() == 0);
}

TEST_CASE("SPOP: a full table closes the oldest connection without HELLO, never HAProxy's",
          "[agent][hardening]") {
  running_agent a([](agent::config& c) { c.max_spop_connections = 3; });
  const auto port = a.port();
  client haproxy(a.app->spop_port());
  haproxy.send(hello_frame());
  REQUIRE(decode(haproxy.read_record()).type == spop::frame_type::agent_hello);
  client first(a.app->spop_port());
  client second(a.app->spop_port());
  client third(a.app->spop_port());  // the table is full: `first` makes room
  CHECK(first.closed_by_peer());
  haproxy.send(notify(1, 1, "still-served", true));
  CHECK(decode(haproxy.read_record()).type == spop::frame_type::ack);
  CHECK(http_test::status_number(port, "spop", "evicted") == 1);

  // Every connection past its HELLO: the new one is refused, the old ones stay.
  second.send(hello_frame());
  REQUIRE(decode(second.read_record()).type == spop::frame_type::agent_hello);
  third.send(hello_frame());
  REQUIRE(decode(third.read_record()).type == spop::frame_type::agent_hello);
  client refused(a.app->spop_port());
  CHECK(refused.closed_by_peer());
  haproxy.send(notify(2, 1, "still-served-2", true));
  CHECK(decode(haproxy.read_record()).type == spop::frame_type::ack);
  CHECK(http_test::status_number(port, "spop", "rejected_connections") == 1);
  CHECK(a.stop() == 0);
}

TEST_CASE("HTTP: a silent connection is closed after the first-byte timeout",
          "[agent][hardening]") {
  running_agent a([](agent::config& c) { c.http_first_byte_timeout = 0.2; });
  http_test::conn silent(a.port());
  const auto t0 = steady_clock::now();
  CHECK(silent.closed_by_peer());
  CHECK(steady_clock::now() - t0 < milliseconds(2000));
  // A connection that has spoken keeps the (longer) idle timeout between requests.
  http_test::conn talking(a.port());
  talking.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(talking.reply().status == 200);
  std::this_thread::sleep_for(milliseconds(400));
  talking.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(talking.reply().status == 200);
  CHECK(http_test::status_number(a.port(), "http", "first_byte_timeouts") == 1);
  CHECK(a.stop() == 0);
}

TEST_CASE("HTTP: a full table evicts the idle, then the slow, and refuses when all are busy",
          "[agent][hardening]") {
  running_agent a([](agent::config& c) {
    c.max_http_connections = 3;
    c.probe_listen = {"127.0.0.1", 0};
  });
  const auto port = a.port();
  const auto probe = a.app->probe_port();  // for the counters: the API port is full
  {
    http_test::conn idle(port);
    http_test::conn trickle1(port);
    http_test::conn trickle2(port);
    trickle1.send("GET /sta");
    std::this_thread::sleep_for(milliseconds(50));  // trickle1's request is the oldest
    trickle2.send("GET /sta");
    std::this_thread::sleep_for(milliseconds(100));
    // Full: the idle one goes first.
    probe_within_1s(port, "/healthz");
    CHECK(idle.closed_by_peer());
    // Full of requests begun less than a second ago: the new connection is refused.
    http_test::conn trickle3(port);
    trickle3.send("GET /sta");
    std::this_thread::sleep_for(milliseconds(100));
    http_test::conn refused(port);
    CHECK(refused.closed_by_peer());
    CHECK(http_test::status_number(probe, "http", "rejected_connections") == 1);
    // A second later they are slow, and the oldest makes room.
    std::this_thread::sleep_for(milliseconds(1000));
    probe_within_1s(port, "/status");
    CHECK(trickle1.closed_by_peer());
    trickle2.send("tus HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(trickle2.reply().status == 200);
  }
  CHECK(http_test::status_number(probe, "http", "evicted_idle") >= 1);
  CHECK(http_test::status_number(probe, "http", "evicted_slow") == 1);
  CHECK(a.stop() == 0);
}

TEST_CASE("HTTP: the probe listener serves the probes only, with a table of its own",
          "[agent][hardening]") {
  running_agent a([](agent::config& c) {
    c.probe_listen = {"127.0.0.1", 0};
    c.max_http_connections = 2;
    c.api_token = "secret";
  });
  const auto probe = a.app->probe_port();
  REQUIRE(probe != 0);
  REQUIRE(probe != a.port());
  http_test::conn busy1(a.port());
  http_test::conn busy2(a.port());
  busy1.send("GET /sta");
  busy2.send("GET /sta");
  std::this_thread::sleep_for(milliseconds(100));
  for (const char* path : {"/healthz", "/readyz", "/status"}) probe_within_1s(probe, path);
  const auto metrics =
      http_test::request(probe, "GET", "/metrics", "Authorization: Bearer secret\r\n");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("hep_limits_max_http_connections 2\n") != std::string::npos);
  const auto events = http_test::request(probe, "GET", "/events");
  CHECK(events.status == 404);
  CHECK(events.body.find("probe listener") != std::string::npos);
  CHECK(http_test::status_number(probe, "http", "probe_connections_total") >= 5);
  CHECK(http_test::status_number(probe, "http", "connections_active") == 2);
  CHECK(a.stop() == 0);
}

TEST_CASE("HTTP: a client that stops reading its responses is closed after the idle timeout",
          "[agent][hardening]") {
  running_agent a([](agent::config& c) { c.http_idle_timeout = 0.3; });
  http_test::conn reader_gone(a.port(), 4096);
  std::string burst;
  for (int i = 0; i < 2000; ++i) burst += "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
  reader_gone.send(burst);
  std::uint64_t stalled = 0;
  for (int i = 0; i < 60 && stalled == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    stalled = http_test::status_number(a.port(), "http", "write_stalled");
  }
  CHECK(stalled == 1);
  CHECK(a.stop() == 0);
}
