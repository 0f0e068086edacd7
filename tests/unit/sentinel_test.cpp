// sentinel_test.cpp — the pure parts of the Redis client's Sentinel support: sentinel lists,
// the get-master-addr-by-name and ROLE replies, which errors send a client back to the
// sentinels, the order sentinels are asked in, and the shared flags.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "behavior/node_flags.h"
#include "behavior/redis_client.h"

namespace behavior {
namespace {

// Replies built by hand, as hiredis' parser would build them.
struct Reply {
  redisReply r{};
  std::vector<redisReply> items;
  std::vector<redisReply*> ptrs;
  std::vector<std::string> texts;
  explicit Reply(std::vector<std::string> elements, int type = REDIS_REPLY_STRING) : texts(std::move(elements)) {
    r.type = REDIS_REPLY_ARRAY;
    items.resize(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      items[i].type = type;
      items[i].str = texts[i].data();
      items[i].len = texts[i].size();
      ptrs.push_back(&items[i]);
    }
    r.elements = texts.size();
    r.element = ptrs.data();
  }
};

TEST(SentinelTest, HostPort) {
  std::string host;
  int port = 0;
  EXPECT_TRUE(parse_host_port("127.0.0.1:26379", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 26379);
  EXPECT_TRUE(parse_host_port("sentinel-1.local:1", &host, &port));
  EXPECT_EQ(host, "sentinel-1.local");
  for (const char* bad : {"", "host", ":1", "host:", "host:0", "host:65536", "host:12x", "host:-1", "host:99999999999"}) {
    EXPECT_FALSE(parse_host_port(bad, &host, &port)) << bad;
  }
}

TEST(SentinelTest, SentinelList) {
  std::vector<std::string> list;
  std::string error;
  ASSERT_TRUE(parse_sentinel_list("127.0.0.1:26379, 127.0.0.1:26380,,h:3 ", &list, &error)) << error;
  EXPECT_EQ(list, (std::vector<std::string>{"127.0.0.1:26379", "127.0.0.1:26380", "h:3"}));
  ASSERT_TRUE(parse_sentinel_list("", &list, &error));
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(parse_sentinel_list("127.0.0.1:26379,nope", &list, &error));
  EXPECT_NE(error.find("'nope'"), std::string::npos) << error;
}

TEST(SentinelTest, MasterAddrReply) {
  std::string host;
  int port = 0;
  Reply ok({"127.0.0.1", "6380"});
  ASSERT_TRUE(parse_master_addr_reply(&ok.r, &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 6380);
  redisReply nil{};
  nil.type = REDIS_REPLY_NIL;  // the sentinel does not monitor that name
  EXPECT_FALSE(parse_master_addr_reply(&nil, &host, &port));
  EXPECT_FALSE(parse_master_addr_reply(nullptr, &host, &port));
  Reply one({"127.0.0.1"});
  EXPECT_FALSE(parse_master_addr_reply(&one.r, &host, &port));
  Reply bad_port({"127.0.0.1", "0"});
  EXPECT_FALSE(parse_master_addr_reply(&bad_port.r, &host, &port));
  Reply empty_host({"", "6379"});
  EXPECT_FALSE(parse_master_addr_reply(&empty_host.r, &host, &port));
  Reply not_strings({"127.0.0.1", "6379"}, REDIS_REPLY_ERROR);
  EXPECT_FALSE(parse_master_addr_reply(&not_strings.r, &host, &port));
}

TEST(SentinelTest, SwitchMasterMessage) {
  std::string name, host;
  int port = 0;
  ASSERT_TRUE(parse_switch_master("behavior 127.0.0.1 6379 127.0.0.1 6380", &name, &host, &port));
  EXPECT_EQ(name, "behavior");
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 6380);
  EXPECT_FALSE(parse_switch_master("behavior 127.0.0.1 6379 127.0.0.1", &name, &host, &port));
  EXPECT_FALSE(parse_switch_master("behavior 127.0.0.1 6379 127.0.0.1 x", &name, &host, &port));
  EXPECT_FALSE(parse_switch_master("", &name, &host, &port));
}

TEST(SentinelTest, Role) {
  Reply master({"master"});
  EXPECT_TRUE(role_is_master(&master.r));
  Reply slave({"slave", "127.0.0.1"});
  EXPECT_FALSE(role_is_master(&slave.r));
  Reply sentinel({"sentinel"});
  EXPECT_FALSE(role_is_master(&sentinel.r));
  EXPECT_FALSE(role_is_master(nullptr));
}

TEST(SentinelTest, ErrorsThatMeanNotPrimary) {
  EXPECT_TRUE(error_means_not_primary("READONLY You can't write against a read only replica."));
  EXPECT_TRUE(error_means_not_primary("LOADING Redis is loading the dataset in memory"));
  EXPECT_TRUE(error_means_not_primary("MASTERDOWN Link with MASTER is down"));
  EXPECT_FALSE(error_means_not_primary("NOSCRIPT No matching script"));
  EXPECT_FALSE(error_means_not_primary("ERR wrong number of arguments"));
  EXPECT_FALSE(error_means_not_primary(""));
}

TEST(SentinelTest, OrderRotates) {
  const std::vector<std::string> s{"a:1", "b:2", "c:3"};
  EXPECT_EQ(sentinel_order(s, 0), s);
  EXPECT_EQ(sentinel_order(s, 1), (std::vector<std::string>{"b:2", "c:3", "a:1"}));
  EXPECT_EQ(sentinel_order(s, 5), (std::vector<std::string>{"c:3", "a:1", "b:2"}));
  EXPECT_TRUE(sentinel_order({}, 3).empty());
}

// The shared server flags: sentinels replace --redis, need a master name, reach RedisOptions.
TEST(SentinelTest, ServerFlags) {
  ::setenv("BEHAVIOR_CLUSTER_SECRET", "s", 1);
  auto parse = [](std::vector<std::string> args, ServerFlags* f, std::string* error) {
    CLI::App app;
    add_server_flags(app, *f);
    std::vector<const char*> argv{"test"};
    for (auto& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return f->finish(error);
  };
  {
    ServerFlags f = ServerFlags::for_service("gateway");
    f.node.node_id = 7;
    std::string error;
    ASSERT_TRUE(parse({"--redis-sentinels", "127.0.0.1:1,127.0.0.1:2", "--redis-master-name", "mymaster",
                       "--redis-sentinel-password", "sp", "--redis-password", "rp"},
                      &f, &error))
        << error;
    EXPECT_TRUE(f.clustered());
    const RedisOptions o = f.cluster.redis();
    EXPECT_TRUE(o.use_sentinel());
    EXPECT_EQ(o.sentinels, (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
    EXPECT_EQ(o.master_name, "mymaster");
    EXPECT_EQ(o.sentinel_password, "sp");
    EXPECT_EQ(o.password, "rp");
  }
  {
    ServerFlags f;
    f.node.node_id = 7;
    std::string error;
    EXPECT_FALSE(parse({"--redis-sentinels", "127.0.0.1:1"}, &f, &error));
    EXPECT_NE(error.find("--redis-master-name"), std::string::npos) << error;
  }
  {
    ServerFlags f;
    f.node.node_id = 7;
    std::string error;
    EXPECT_FALSE(parse({"--redis", "127.0.0.1:6379", "--redis-master-name", "m"}, &f, &error));
    EXPECT_NE(error.find("--redis-sentinels"), std::string::npos) << error;
  }
  {
    ServerFlags f;
    f.node.node_id = 7;
    std::string error;
    EXPECT_FALSE(parse({"--redis-sentinels", "127.0.0.1", "--redis-master-name", "m"}, &f, &error));
  }
  ::unsetenv("BEHAVIOR_CLUSTER_SECRET");
}

}  // namespace
}  // namespace behavior
