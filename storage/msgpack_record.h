// SPDX-License-Identifier: Apache-2.0
//
// exchange -> the stored record as MessagePack: the object append_json_line() writes, with the
// same keys in the same order and the same nesting, as a msgpack map (the Kafka sink's
// `msgpack` format).
#pragma once

#include <string>

#include "correlate/types.h"

namespace storage {

// Appends the msgpack encoding of the record for `x` to `out`.
//
// Every value is the one a JSON reader gets from append_json_line(x): JSON objects become maps
// (str keys, same order), arrays become arrays, strings become str (valid UTF-8: each byte that
// does not start a well-formed sequence is U+FFFD, as in JSON), numbers become the smallest
// msgpack int that holds them, true/false/null become bool/nil. In particular a body that is not
// valid UTF-8 is still a base64 str with "body_encoding":"base64", and "time" is the same
// RFC 3339 str, so one reader handles both formats. Never fails; allocates only in `out`.
void append_msgpack_record(const correlate::exchange& x, std::string& out);

}  // namespace storage
