// SPDX-License-Identifier: Apache-2.0
//
// The instance id file of the data directory: made once, read back on every start, refused
// when it holds anything else, and left alone by the store's recovery and retention.
#include "storage/instance_id.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "test/storage/test_util.h"

namespace fs = std::filesystem;
using storage_test::temp_dir;

namespace {

std::string file_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("instance id: made on the first start, the same on every later one", "[storage]") {
  temp_dir dir;
  const auto id = storage::load_instance_id(dir.path());
  CHECK(storage::valid_instance_id(id));
  CHECK(file_text(dir.path() / "instance-id") == id + "\n");
  CHECK(names_in(dir.path()) == std::set<std::string>{"instance-id"});  // no temporary left
  CHECK(storage::load_instance_id(dir.path()) == id);

  temp_dir other;
  CHECK(storage::load_instance_id(other.path()) != id);

  // Written by hand without the newline: still that id.
  std::ofstream(other.path() / "instance-id", std::ios::trunc) << "00000000deadbeef";
  CHECK(storage::load_instance_id(other.path()) == "00000000deadbeef");
}

TEST_CASE("instance id: garbage or an unreadable file stops the start, naming the file",
          "[storage]") {
  for (const char* bad : {"", "\n", "14960360C4A81EA2\n", "14960360c4a81ea\n",
                          "14960360c4a81ea22\n", "14960360c4a81ea2\n\n", "local\n"}) {
    INFO('"' << bad << '"');
    temp_dir dir;
    std::ofstream(dir.path() / "instance-id", std::ios::binary) << bad;
    try {
      storage::load_instance_id(dir.path());
      FAIL("accepted");
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      CHECK(what.find((dir.path() / "instance-id").string()) != std::string::npos);
      CHECK(what.find("delete the file") != std::string::npos);
    }
    CHECK(file_text(dir.path() / "instance-id") == bad);  // left for the operator to see
  }
  // Not a file at all (permissions would not stop root): read(2) fails with EISDIR.
  temp_dir dir;
  fs::create_directory(dir.path() / "instance-id");
  CHECK_THROWS_WITH(storage::load_instance_id(dir.path()),
                    Catch::Contains("instance-id") && Catch::Contains("directory"));
  // A data directory that does not exist cannot hold it.
  CHECK_THROWS_AS(storage::load_instance_id(dir.path() / "missing"), std::runtime_error);
}

TEST_CASE("instance id: the store's recovery and retention leave the file alone", "[storage]") {
  temp_dir dir;
  auto cfg = storage_test::config_for(dir);
  cfg.segment_bytes = 600;
  cfg.retention_bytes = 1500;
  {
    storage::store s(cfg);
    for (int i = 0; i < 30; ++i) {
      REQUIRE(s.submit(storage_test::make_exchange("x-" + std::to_string(i))));
      s.flush();
    }
  }
  const auto id = storage::load_instance_id(cfg.data_dir);
  storage::store again(cfg);  // recovery reads segments/, retention deletes in it only
  for (int i = 30; i < 60; ++i) {
    REQUIRE(again.submit(storage_test::make_exchange("x-" + std::to_string(i))));
    again.flush();
  }
  CHECK(again.stats().write_errors == 0);
  auto page = again.query({});
  REQUIRE_FALSE(page.records.empty());
  CHECK(page.records.front().find("\"x-59\"") != std::string::npos);
  CHECK(names_in(cfg.data_dir) == std::set<std::string>{"instance-id", "segments"});
  CHECK(storage::load_instance_id(cfg.data_dir) == id);
}
