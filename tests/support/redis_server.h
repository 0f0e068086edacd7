// redis_server.h — a real redis-server on a free loopback port for one test, started and
// stopped by the test (restartable on the same port), plus a small synchronous client to
// inspect keys.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "child_process.h"

namespace behavior::testing {

// One command to the Redis on 127.0.0.1:`port` (a new connection each time); the reply
// rendered as RedisServer::command describes, "(no connection)" if it cannot connect.
std::string redis_command(int port, const std::string& password, const std::vector<std::string>& args);
// The same to a Redis at another address (a host of a NetnsLab).
std::string redis_command_at(const std::string& host, int port, const std::string& password,
                             const std::vector<std::string>& args);

class RedisServer {
 public:
  explicit RedisServer(std::string password = "");
  ~RedisServer();
  // Persistence for the next start(): an append-only file in `dir` (fsync every second, as
  // the launcher and deploy/ configure it). Without it Redis keeps nothing across a restart.
  void use_aof(std::string dir) { aof_dir_ = std::move(dir); }
  bool start();  // on port() (chosen once); waits until it answers PING
  void stop();   // SIGTERM and wait
  void kill();   // SIGKILL
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // One command; the reply as text ("" for nil, "(error) ..." for errors, elements joined
  // by '\n' for arrays).
  std::string command(const std::vector<std::string>& args);
  bool exists(const std::string& key) { return command({"EXISTS", key}) == "1"; }

 private:
  std::string password_;
  std::string aof_dir_;
  int port_;
  std::unique_ptr<ChildProcess> proc_;
};

}  // namespace behavior::testing
