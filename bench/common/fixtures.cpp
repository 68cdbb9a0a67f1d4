// SPDX-License-Identifier: Apache-2.0
#include "common/fixtures.h"

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "spop/decoder.h"
#include "spop/encoder.h"

namespace bench {

namespace {

const std::string capture_base = std::string(HEP_FIXTURE_DIR) + "/haproxy-2.6-capture";

}  // namespace

bytes read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  bytes out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

bytes capture_record(std::string_view type, const std::vector<std::string_view>& needles) {
  static const bytes bin = read_file(capture_base + ".bin");
  std::ifstream idx(capture_base + ".idx");
  if (!idx) throw std::runtime_error("cannot open " + capture_base + ".idx");
  std::string line;
  while (std::getline(idx, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::size_t off = 0;
    std::size_t len = 0;
    std::string dir;
    std::string t;
    in >> off >> len >> dir >> t;
    if (dir != "H2A" || t.rfind(type, 0) != 0) continue;
    bool all = true;
    for (auto n : needles) all = all && line.find(n) != std::string::npos;
    if (!all) continue;
    if (off + len > bin.size()) throw std::runtime_error("capture .idx points past the .bin");
    return bytes(bin.begin() + static_cast<std::ptrdiff_t>(off),
                 bin.begin() + static_cast<std::ptrdiff_t>(off + len));
  }
  throw std::runtime_error("no such record in the capture");
}

bytes rebuild_notify(const bytes& notify, std::string_view body, std::uint64_t stream_id,
                     std::uint64_t frame_id, std::string_view unique_id) {
  auto d = spop::decode_frame(notify, 1u << 24);
  if (d.what != spop::decode_result::kind::frame) throw std::runtime_error("not a frame");
  std::vector<spop::message> msgs;
  std::vector<spop::kv> args;
  if (spop::decode_messages(d.view.payload, msgs, args)) throw std::runtime_error("bad NOTIFY");
  const auto n = static_cast<std::int64_t>(body.size());
  for (auto& a : args) {
    auto name = a.name;
    if (name.starts_with("req_") || name.starts_with("res_")) name.remove_prefix(4);
    if (name == "body") a.value = spop::make_binary(body);
    if (name == "body_len" || name == "body_size") a.value = spop::make_int64(n);
    if (name == "unique_id" && !unique_id.empty()) a.value = spop::make_string(unique_id);
  }
  bytes out;
  spop::encode_notify(out, stream_id, frame_id, msgs);
  return out;
}

std::string body_500() {
  std::string b = "{\"order\":{\"id\":\"A-1029384756\",\"items\":[";
  for (int i = 0; b.size() < 470; ++i) {
    b += "{\"sku\":\"SKU-" + std::to_string(1000 + i) + "\",\"qty\":" + std::to_string(i % 5 + 1) +
         "},";
  }
  b.pop_back();
  b += "]}}";
  b.resize(499, ' ');
  b += '}';
  return b;
}

bytes request_500() {
  return rebuild_notify(capture_record("NOTIFY", {"http-req", "[03-post-json]"}), body_500(), 4,
                        1);
}

bytes response_500() {
  return rebuild_notify(capture_record("NOTIFY", {"http-res", "[03-post-json]"}), body_500(), 4,
                        2);
}

}  // namespace bench
