// SPDX-License-Identifier: Apache-2.0
//
// The recorded HAProxy 2.6 sets (test/fixtures/spop/*.bin + .jsonl): every frame decodes to what
// the recorder wrote, and every frame re-encodes to the same bytes.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fixture_util.h"
#include "spop/decoder.h"
#include "spop/encoder.h"

using spop_test::exp_frame;

namespace {

std::string where(const spop_test::fixture_set& s, const exp_frame& f) {
  return s.name + " frame " + std::to_string(f.index) + " @" + std::to_string(f.offset);
}

std::string scope_name(spop::var_scope s) {
  const char* names[] = {"proc", "sess", "txn", "req", "res"};
  return names[static_cast<int>(s)];
}

}  // namespace

TEST_CASE("fixtures: every frame decodes to its .jsonl line", "[spop][fixtures]") {
  for (const char* name : spop_test::set_names) {
    const auto& set = spop_test::load_set(name);
    std::span<const std::byte> rest(set.bin);
    std::size_t offset = 0;
    std::size_t i = 0;
    std::vector<spop::kv> kvs, args;
    std::vector<spop::message> msgs;
    std::vector<spop::action> actions;
    // Per connection: the fragmented NOTIFY being reassembled.
    std::map<int, std::vector<std::byte>> pending;
    std::size_t reassembled = 0;
    while (!rest.empty()) {
      REQUIRE(i < set.frames.size());
      const exp_frame& e = set.frames[i];
      const std::string w = where(set, e);
      INFO(w);
      const spop::decode_result d = spop::decode_frame(rest, 16380);
      REQUIRE(d.what == spop::decode_result::kind::frame);
      const spop::frame& f = d.view;
      CHECK(e.offset == offset);
      CHECK(e.length == d.consumed);
      CHECK(static_cast<int>(f.raw_type) == e.type);
      CHECK(f.flags == e.flags);
      CHECK(f.stream_id == e.sid);
      CHECK(f.frame_id == e.fid);
      const std::size_t payload_off = d.consumed - f.payload.size();
      switch (f.type) {
        case spop::frame_type::haproxy_hello:
        case spop::frame_type::haproxy_disconnect:
        case spop::frame_type::agent_hello:
        case spop::frame_type::agent_disconnect:
          REQUIRE(e.decoded == exp_frame::decoded_kind::kv);
          REQUIRE(!spop::decode_kv_list(f.payload, kvs, payload_off));
          spop_test::check_kvs(kvs, e.kvs, w);
          break;
        case spop::frame_type::ack: {
          REQUIRE(e.decoded == exp_frame::decoded_kind::actions);
          REQUIRE(!spop::decode_actions(f.payload, actions, payload_off));
          REQUIRE(actions.size() == e.actions.size());
          for (std::size_t k = 0; k < actions.size(); ++k) {
            const auto& ea = e.actions[k];
            CHECK(ea.action ==
                  (actions[k].type == spop::action_type::set_var ? "set-var" : "unset-var"));
            CHECK(ea.nb_args == (actions[k].type == spop::action_type::set_var ? 3 : 2));
            CHECK(ea.scope == scope_name(actions[k].scope));
            CHECK(ea.name == actions[k].name);
            CHECK(ea.has_value == (actions[k].type == spop::action_type::set_var));
            if (ea.has_value) spop_test::check_value(actions[k].value, ea.value, w);
          }
          break;
        }
        case spop::frame_type::notify:
          if (f.fin()) {
            REQUIRE(e.decoded == exp_frame::decoded_kind::messages);
            REQUIRE(!spop::decode_messages(f.payload, msgs, args, payload_off));
            spop_test::check_messages(msgs, e.messages, w);
          } else {
            // The first fragment alone does not decode (it ends inside a value); the recorder
            // says so too.
            CHECK(e.decoded == exp_frame::decoded_kind::error);
            CHECK(spop::decode_messages(f.payload, msgs, args).has_value());
            REQUIRE(pending.count(e.conn) == 0);
            pending[e.conn].assign(f.payload.begin(), f.payload.end());
          }
          break;
        case spop::frame_type::unset: {
          REQUIRE(pending.count(e.conn) == 1);
          auto& buf = pending[e.conn];
          buf.insert(buf.end(), f.payload.begin(), f.payload.end());
          if (f.fin()) {
            // The recorder attaches the reassembled decode to the final fragment, except for
            // the frame it aborted itself (then it has no decode).
            if (e.decoded == exp_frame::decoded_kind::messages) {
              CHECK(e.reassembled_payload_len == buf.size());
              REQUIRE(!spop::decode_messages(buf, msgs, args));
              spop_test::check_messages(msgs, e.messages, w);
              ++reassembled;
            } else {
              CHECK(e.decoded == exp_frame::decoded_kind::none);
            }
            pending.erase(e.conn);
          } else {
            CHECK(e.decoded == exp_frame::decoded_kind::none);
          }
          break;
        }
      }
      rest = rest.subspan(d.consumed);
      offset += d.consumed;
      ++i;
    }
    CHECK(i == set.frames.size());
    CHECK(pending.empty());
    if (std::string(name) == "haproxy-2.6-fragmented") CHECK(reassembled == 11);
  }
}

TEST_CASE("fixtures: every frame re-encodes to the same bytes", "[spop][fixtures][encoder]") {
  std::size_t agent_frames = 0;
  for (const char* name : spop_test::set_names) {
    const auto& set = spop_test::load_set(name);
    std::vector<spop::kv> kvs, args;
    std::vector<spop::message> msgs;
    std::vector<spop::action> actions;
    for (const exp_frame& e : set.frames) {
      INFO(where(set, e));
      const auto rec = set.record(e);
      const spop::decode_result d = spop::decode_frame(rec, 16380);
      REQUIRE(d.what == spop::decode_result::kind::frame);
      REQUIRE(d.consumed == rec.size());
      const spop::frame& f = d.view;
      std::vector<std::byte> out;
      auto find = [&](std::string_view key) -> const spop::value& {
        for (const spop::kv& item : kvs) {
          if (item.name == key) return item.value;
        }
        FAIL("missing key " << key);
        return kvs.front().value;
      };
      switch (f.type) {
        case spop::frame_type::agent_hello:
          REQUIRE(!spop::decode_kv_list(f.payload, kvs));
          REQUIRE(kvs.size() == 3);
          spop::encode_agent_hello(
              out, {find("version").bytes, static_cast<std::uint32_t>(find("max-frame-size").u64),
                    find("capabilities").bytes});
          ++agent_frames;
          break;
        case spop::frame_type::agent_disconnect:
          REQUIRE(!spop::decode_kv_list(f.payload, kvs));
          spop::encode_agent_disconnect(out, static_cast<spop::status>(find("status-code").u64),
                                        find("message").bytes);
          ++agent_frames;
          break;
        case spop::frame_type::ack:
          REQUIRE(!spop::decode_actions(f.payload, actions));
          spop::encode_ack(out, f.stream_id, f.frame_id, actions, f.flags);
          ++agent_frames;
          break;
        case spop::frame_type::haproxy_hello: {
          REQUIRE(!spop::decode_kv_list(f.payload, kvs));
          spop::haproxy_hello_params p;
          p.supported_versions = find("supported-versions").bytes;
          p.max_frame_size = static_cast<std::uint32_t>(find("max-frame-size").u64);
          p.capabilities = find("capabilities").bytes;
          for (const spop::kv& item : kvs) {
            if (item.name == "engine-id") p.engine_id = item.value.bytes;
            if (item.name == "healthcheck") p.healthcheck = item.value.boolean;
          }
          spop::encode_haproxy_hello(out, p);
          break;
        }
        case spop::frame_type::haproxy_disconnect:
          REQUIRE(!spop::decode_kv_list(f.payload, kvs));
          spop::encode_haproxy_disconnect(out, static_cast<spop::status>(find("status-code").u64),
                                          find("message").bytes);
          break;
        case spop::frame_type::notify:
          if (f.fin()) {
            REQUIRE(!spop::decode_messages(f.payload, msgs, args));
            spop::encode_notify(out, f.stream_id, f.frame_id, msgs, f.flags);
            break;
          }
          [[fallthrough]];
        case spop::frame_type::unset:
          spop::encode_frame(out, f.raw_type, f.flags, f.stream_id, f.frame_id, f.payload);
          break;
      }
      CHECK(spop_test::to_hex(out) == spop_test::to_hex(rec));
    }
  }
  CHECK(agent_frames > 100);
}
