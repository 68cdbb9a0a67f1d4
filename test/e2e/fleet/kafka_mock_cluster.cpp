// SPDX-License-Identifier: Apache-2.0
//
// librdkafka's mock cluster as a process of its own, for the fleet tests: several agent
// processes talk to it over TCP on 127.0.0.1 as they would to a real cluster.
//
//   kafka_mock_cluster [--brokers N] [--topic NAME:PARTITIONS]...
//
// Prints "BOOTSTRAPS host:port,..." once the cluster is up, then reads commands, one per line
// on stdin, answering "ok" or "error: ..." to each:
//   down ID | up ID             take broker ID (1..N) away, or bring it back
//   leader TOPIC PARTITION ID   make broker ID lead the partition
//   quit                        (or end of input, SIGTERM, SIGINT) stop
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

void quiet_log(const rd_kafka_t*, int, const char*, const char*) {}

int usage() {
  std::fputs("usage: kafka_mock_cluster [--brokers N] [--topic NAME:PARTITIONS]...\n", stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    }
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (a == "--brokers") {
      brokers = std::stoi(v);
    } else if (a == "--topic") {
      const auto colon = v.rfind(':');
      if (colon == std::string::npos) return usage();
      topics.emplace_back(v.substr(0, colon), std::stoi(v.substr(colon + 1)));
    } else {
      return usage();
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, &quiet_log);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    std::fprintf(stderr, "kafka_mock_cluster: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (mc == nullptr) {
    std::fputs("kafka_mock_cluster: rd_kafka_mock_cluster_new failed\n", stderr);
    return 1;
  }
  for (const auto& [name, partitions] : topics) {
    const int replicas = brokers < 3 ? brokers : 3;
    if (rd_kafka_mock_topic_create(mc, name.c_str(), partitions, replicas) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "kafka_mock_cluster: cannot create topic %s\n", name.c_str());
      return 1;
    }
    // Leaders spread over the brokers, so that one broker down takes some partitions' leader.
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_mock_partition_set_leader(mc, name.c_str(), p, p % brokers + 1);
    }
  }
  std::printf("BOOTSTRAPS %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  std::fflush(stdout);

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cmd == "quit") break;
    if (cmd == "down" || cmd == "up") {
      int id = 0;
      in >> id;
      rc = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id)
                         : rd_kafka_mock_broker_set_up(mc, id);
    } else if (cmd == "leader") {
      std::string topic;
      int partition = 0, id = 0;
      in >> topic >> partition >> id;
      rc = rd_kafka_mock_partition_set_leader(mc, topic.c_str(), partition, id);
    } else if (!cmd.empty()) {
      std::printf("error: unknown command %s\n", cmd.c_str());
      std::fflush(stdout);
      continue;
    }
    if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::printf("ok\n");
    } else {
      std::printf("error: %s\n", rd_kafka_err2str(rc));
    }
    std::fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
