// SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by the api tests: reading fixtures and printing bytes readably.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

#include "test/common/temp_dir.h"
#include <vector>

namespace api_test {

inline std::string fixtures_dir(std::string_view sub) {
  return std::string(HEP_FIXTURES_DIR) + "/http/" + std::string(sub);
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Every `<stem>.http` under `dir`, sorted, as stems (paths without the extension).
inline std::vector<std::filesystem::path> fixture_stems(const std::string& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".http") {
      auto stem = e.path();
      stem.replace_extension();
      out.push_back(stem);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Printable ASCII stays as it is except '"' and '\'; everything else is \r, \n, \t or \xHH.
inline std::string escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

// Drops '#' comment lines and blank lines.
inline std::string strip_comments(std::string_view text) {
  std::string out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    out += line;
    out += '\n';
  }
  return out;
}

using hep_test::temp_dir;

}  // namespace api_test
