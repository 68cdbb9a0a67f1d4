// SPDX-License-Identifier: Apache-2.0
//
// The agent's instance id: 16 lower-case hex digits (64 random bits) that tell one replica from
// the others in a fleet read (api/fleet.h keys its cursor by it, and it is the X-HEP-Instance
// header of every /events answer). It is kept in `<data-dir>/instance-id`, so that an agent
// restarted on the same data directory is the same instance, and its fleet cursors stay valid.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace storage {

// The file's name inside the data directory. Nothing else of the store looks at it: the
// segments, their recovery and retention live under `segments/`.
inline constexpr std::string_view instance_id_file = "instance-id";

// True for 16 lower-case hex digits, the only form load_instance_id() accepts and makes.
bool valid_instance_id(std::string_view id);

// Reads `<data_dir>/instance-id` (16 lower-case hex digits, a final newline allowed). When the
// file does not exist, makes a random id and creates the file atomically: written to a
// temporary file in `data_dir`, fsynced, then hard-linked to its name (when another process
// won that race, its id is read and used), and the directory fsynced. `data_dir` must exist.
// Throws std::runtime_error, at start-up, when the file cannot be read or created, or when it
// holds anything else than an id: the message names the file and says to delete it for a
// new id (the agent then starts as another instance; paging clients start again).
std::string load_instance_id(const std::filesystem::path& data_dir);

}  // namespace storage
