// local_cluster_test.h — a fixture for tests that run a whole local cluster (LocalCluster:
// redis-server, name server, gateways, local servers as separate processes): started by
// start(), stopped after the test with a clean exit of every service checked.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <vector>

#include "local_cluster.h"

namespace behavior::testing {

class LocalClusterTest : public ::testing::Test {
 public:
  // A cluster of this test build's binaries, logging at debug level.
  static tools::LocalClusterOptions options(int gateways, int local_servers) {
    tools::LocalClusterOptions o;
    o.bin_dir = BEHAVIOR_BIN_DIR;
    o.gateways = gateways;
    o.local_servers = local_servers;
    o.log_level = "debug";
    return o;
  }

 protected:
  void start(int gateways, int local_servers = 2, std::vector<std::string> name_server_args = {}) {
    tools::LocalClusterOptions o = options(gateways, local_servers);
    o.name_server_args = std::move(name_server_args);
    start(std::move(o));
  }
  void start(tools::LocalClusterOptions o) {
    cluster_ = std::make_unique<tools::LocalCluster>(o);
    Status s = cluster_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  void TearDown() override {
    if (cluster_) {
      EXPECT_TRUE(cluster_->stop()) << "a service did not stop cleanly; logs in " << cluster_->log_dir();
    }
  }
  // A node's metrics address ("127.0.0.1:port") as /v1/cluster shows it ("" if unknown).
  std::string metrics_of(uint16_t node) {
    rapidjson::Document d;
    d.Parse(cluster_->name_server_get("/v1/cluster").c_str());
    if (!d.IsObject() || !d.HasMember("nodes")) return "";
    for (const auto& n : d["nodes"].GetArray()) {
      if (n["id"].GetUint() == node) return n["metrics"].GetString();
    }
    return "";
  }
  // The port of the cluster's redis-server.
  int redis_port() const {
    const std::string& a = cluster_->redis_address();
    return std::stoi(a.substr(a.rfind(':') + 1));
  }

  std::unique_ptr<tools::LocalCluster> cluster_;
};

}  // namespace behavior::testing
