// SPDX-License-Identifier: Apache-2.0
#include "storage/kafka_common.h"

namespace storage::kafka_detail {

std::string error_text(rd_kafka_resp_err_t err, const char* detail) {
  std::string s = rd_kafka_err2name(err);
  s += ": ";
  s += detail != nullptr && *detail != '\0' ? detail : rd_kafka_err2str(err);
  return s;
}

std::optional<std::string> trouble(rd_kafka_t* rk, int err, const char* reason) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    const auto fatal = rd_kafka_fatal_error(rk, buf, sizeof buf);
    return "fatal " + error_text(fatal, buf);
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
      code == RD_KAFKA_RESP_ERR__SSL || code == RD_KAFKA_RESP_ERR__RESOLVE) {
    return error_text(code, reason);
  }
  return std::nullopt;
}

}  // namespace storage::kafka_detail
