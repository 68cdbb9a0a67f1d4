// SPDX-License-Identifier: Apache-2.0
//
// STYLE §8 golden fixtures: test/fixtures/spop/<name>.hex (bytes HAProxy would send, `#`
// comments) and <name>.expected (the session's transcript: one event per line with its stream
// offset, the frames it wrote as `out ...` lines, then `end ...`). A `# config:` line in the .hex
// sets the session_config (max_frame_size=N fragmentation=0|1 max_reassembly_bytes=N).
// HEP_UPDATE_GOLDEN=1 rewrites the .expected files (review the diff!).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixture_util.h"

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

spop::session_config parse_config(const std::string& text) {
  spop::session_config cfg;
  const std::string tag = "# config:";
  const auto at = text.find(tag);
  if (at == std::string::npos) return cfg;
  std::istringstream line(text.substr(at + tag.size(), text.find('\n', at) - at - tag.size()));
  std::string item;
  while (line >> item) {
    const auto eq = item.find('=');
    REQUIRE(eq != std::string::npos);
    const std::string key = item.substr(0, eq);
    const unsigned long long v = std::stoull(item.substr(eq + 1));
    if (key == "max_frame_size") {
      cfg.max_frame_size = static_cast<std::uint32_t>(v);
    } else if (key == "fragmentation") {
      cfg.fragmentation = v != 0;
    } else if (key == "max_reassembly_bytes") {
      cfg.max_reassembly_bytes = static_cast<std::size_t>(v);
    } else {
      FAIL("unknown config key " << key);
    }
  }
  return cfg;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

}  // namespace

TEST_CASE("golden: every .hex fixture replays to its .expected transcript", "[spop][golden]") {
  std::vector<std::filesystem::path> hex_files;
  for (const auto& entry : std::filesystem::directory_iterator(spop_test::fixtures_dir())) {
    if (entry.path().extension() == ".hex") hex_files.push_back(entry.path());
  }
  std::sort(hex_files.begin(), hex_files.end());
  REQUIRE(hex_files.size() >= 20);
  const bool update = std::getenv("HEP_UPDATE_GOLDEN") != nullptr;
  std::set<unsigned> statuses;
  for (const auto& hex : hex_files) {
    INFO(hex.filename().string());
    const std::string text = slurp(hex);
    const spop::session_config cfg = parse_config(text);
    const std::vector<std::byte> bytes = spop_test::parse_hex(text);
    std::vector<std::byte> out;
    const std::size_t whole_boundary[] = {bytes.size()};
    const auto got = spop_test::run_session(bytes, whole_boundary, cfg, out, true);

    auto expected_path = hex;
    expected_path.replace_extension(".expected");
    if (update) {
      std::ofstream f(expected_path, std::ios::binary);
      for (const auto& l : got) f << l << '\n';
    }
    CHECK(got == lines_of(slurp(expected_path)));
    for (const auto& l : got) {
      const auto at = l.find(" error status=");
      if (at != std::string::npos)
        statuses.insert(static_cast<unsigned>(std::stoul(l.substr(at + 14))));
    }

    // STYLE §8: one byte at a time and every split give the same transcript and bytes.
    std::vector<std::size_t> bytewise(bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) bytewise[i] = i + 1;
    if (bytes.empty()) bytewise.push_back(0);
    std::vector<std::byte> out_bytewise;
    CHECK(spop_test::run_session(bytes, bytewise, cfg, out_bytewise, true) == got);
    CHECK(out_bytewise == out);
    for (std::size_t split = 0; split <= bytes.size(); ++split) {
      const std::size_t b[] = {split, bytes.size()};
      std::vector<std::byte> out_split;
      if (spop_test::run_session(bytes, b, cfg, out_split, true) != got || out_split != out) {
        FAIL("split at " << split << " changes the result");
      }
    }
  }
  // Every status the session emits has an error fixture.
  for (unsigned s : {3u, 4u, 5u, 6u, 8u, 9u, 10u, 11u}) {
    INFO("status " << s);
    CHECK(statuses.count(s) == 1);
  }
}
