// SPDX-License-Identifier: Apache-2.0
#include "storage/instance_id.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>

namespace storage {

namespace {

constexpr std::size_t id_size = 16;

std::string random_id() {
  std::random_device rd;
  const std::uint64_t v = (std::uint64_t{rd()} << 32) | rd();
  return fmt::format("{:016x}", v);
}

[[noreturn]] void fail(const std::filesystem::path& file, std::string_view why) {
  throw std::runtime_error(fmt::format("instance id {}: {}", file.native(), why));
}

// The file's id, or "" when it does not exist.
std::string read_id(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    fail(file, std::strerror(errno));
  }
  // One byte more than an id and its newline tells a longer file from a valid one.
  char buf[id_size + 2];
  std::size_t got = 0;
  while (got < sizeof buf) {
    const auto n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      fail(file, std::strerror(e));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::string_view id(buf, got);
  if (id.ends_with('\n')) id.remove_suffix(1);
  if (!valid_instance_id(id)) {
    fail(file,
         "not an instance id (16 lower-case hex digits); delete the file to start as a new "
         "instance");
  }
  return std::string(id);
}

void write_all(int fd, std::string_view s, const std::filesystem::path& file) {
  while (!s.empty()) {
    const auto n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(file, std::strerror(errno));
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

bool valid_instance_id(std::string_view id) {
  if (id.size() != id_size) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string load_instance_id(const std::filesystem::path& data_dir) {
  const auto file = data_dir / instance_id_file;
  if (auto id = read_id(file); !id.empty()) return id;

  // A reader never sees a half-written file: the name appears only once the id is on disk.
  const std::string id = random_id();
  const auto tmp = data_dir / fmt::format(".{}.{}.tmp", instance_id_file, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(tmp, std::strerror(errno));
  try {
    write_all(fd, id + "\n", tmp);
    if (::fsync(fd) != 0) fail(tmp, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  const int rc = ::link(tmp.c_str(), file.c_str());
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (rc != 0 && link_errno != EEXIST) fail(file, std::strerror(link_errno));
  if (const int dfd = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  if (rc == 0) return id;
  // EEXIST: another process sharing the directory created it first; both use its id.
  auto theirs = read_id(file);
  if (theirs.empty()) fail(file, "removed while it was being created");
  return theirs;
}

}  // namespace storage
