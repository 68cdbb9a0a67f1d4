// SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by the storage tests: a temporary directory removed at scope exit, a base64
// decoder to check what the writer encoded, and exchange builders.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>
#include <system_error>

#include "test/common/temp_dir.h"

#include "correlate/types.h"
#include "storage/store.h"

namespace storage_test {

// The segment files under `segments` (<day>/<file>), oldest first.
inline std::vector<std::filesystem::path> segment_files(const std::filesystem::path& segments) {
  std::vector<std::filesystem::path> files;
  for (const auto& day : std::filesystem::directory_iterator(segments)) {
    for (const auto& f : std::filesystem::directory_iterator(day.path())) {
      files.push_back(f.path());
    }
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return a.filename() < b.filename();
  });
  return files;
}

using hep_test::temp_dir;

// A store under `dir`/data that fsyncs soon after writing (so tests need not wait a second).
inline storage::config config_for(const temp_dir& dir) {
  storage::config c;
  c.data_dir = dir.path() / "data";
  c.flush_interval_ms = 10;
  return c;
}

// RFC 4648 base64 with padding; returns false on any malformed input.
inline bool base64_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 != 0) return false;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int a = val(in[i]), b = val(in[i + 1]);
    if (a < 0 || b < 0) return false;
    out.push_back(static_cast<char>((a << 2) | (b >> 4)));
    if (last && in[i + 2] == '=') {
      if (in[i + 3] != '=') return false;
      break;
    }
    const int c = val(in[i + 2]);
    if (c < 0) return false;
    out.push_back(static_cast<char>(((b & 15) << 4) | (c >> 2)));
    if (last && in[i + 3] == '=') break;
    const int d = val(in[i + 3]);
    if (d < 0) return false;
    out.push_back(static_cast<char>(((c & 3) << 6) | d));
  }
  return true;
}

inline correlate::request_half make_request(std::int64_t time_us = 1795830243123456) {
  correlate::request_half r;
  r.time_us = time_us;
  r.method = "POST";
  r.path = "/api/items";
  r.query = "page=2";
  r.version = "1.1";
  r.headers = {{"host", "shop.local"}, {"content-type", "application/json"}};
  r.body.data = "{\"a\":1}";
  r.body.size = 7;
  r.client_ip = "10.0.0.7";
  r.client_port = 51234;
  r.frontend = "fe_main";
  return r;
}

inline correlate::response_half make_response(std::int64_t time_us = 1795830243125001) {
  correlate::response_half r;
  r.time_us = time_us;
  r.status = 201;
  r.version = "1.1";
  r.headers = {{"content-type", "application/json"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}};
  r.body.data = "{\"id\":42,\"name\":\"caf\xC3\xA9\"}";
  r.body.size = r.body.data.size();
  r.backend = "be_app";
  r.server = "app1";
  r.elapsed_us = 1500;
  return r;
}

inline correlate::exchange make_exchange(std::string id) {
  correlate::exchange x;
  x.id = std::move(id);
  x.complete = true;
  x.request = make_request();
  x.response = make_response();
  x.duration_us = 1545;
  x.redacted = {"authorization"};
  return x;
}

}  // namespace storage_test
