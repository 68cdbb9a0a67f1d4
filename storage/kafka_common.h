// SPDX-License-Identifier: Apache-2.0
//
// What the Kafka sink (kafka_sink.cpp) and Kafka pairing (kafka_pairing.cpp) read alike from
// librdkafka's callbacks. Internal to storage/.
#pragma once

#include <librdkafka/rdkafka.h>

#include <optional>
#include <string>

namespace storage::kafka_detail {

// "<ERR_NAME>: <detail>", or librdkafka's own text when `detail` is empty.
std::string error_text(rd_kafka_resp_err_t err, const char* detail);

// For an error callback: the reason to report when the error means nothing gets through for
// now (a fatal error, all brokers down, authentication, TLS, name resolution); nothing for the
// errors librdkafka retries on its own (one broker's connection, a timed-out request), which
// show up in delivery reports if they last.
std::optional<std::string> trouble(rd_kafka_t* rk, int err, const char* reason);

}  // namespace storage::kafka_detail
