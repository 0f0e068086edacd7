// redis_server.cpp — see redis_server.h.
#include "redis_server.h"

#include "net_util.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace behavior::testing {

RedisServer::RedisServer(std::string password) : password_(std::move(password)), port_(free_port()) {}

RedisServer::~RedisServer() { kill(); }

bool RedisServer::start() {
  proc_ = std::make_unique<ChildProcess>();
  std::vector<std::string> args{"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", aof_dir_.empty() ? "no" : "yes", "--daemonize", "no"};
  if (!aof_dir_.empty()) {
    args.insert(args.end(), {"--dir", aof_dir_, "--appendfsync", "everysec"});
  }
  if (!password_.empty()) {
    args.push_back("--requirepass");
    args.push_back(password_);
  }
  if (!proc_->start("/usr/bin/redis-server", args)) return false;
  for (int i = 0; i < 500; ++i) {
    if (command({"PING"}) == "PONG") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void RedisServer::stop() {
  if (!proc_) return;
  proc_->signal(SIGTERM);
  proc_->wait_exit(std::chrono::milliseconds(5000));
  proc_.reset();
}

void RedisServer::kill() {
  if (!proc_) return;
  proc_->signal(SIGKILL);
  proc_->wait_exit(std::chrono::milliseconds(5000));
  proc_.reset();
}

namespace {
std::string render(const redisReply* r) {
  if (!r) return "(no reply)";
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR: return "(error) " + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) {
        if (i) out += '\n';
        out += render(r->element[i]);
      }
      return out;
    }
    default: return "?";
  }
}
}  // namespace

std::string RedisServer::command(const std::vector<std::string>& args) {
  return redis_command(port_, password_, args);
}

std::string redis_command(int port, const std::string& password, const std::vector<std::string>& args) {
  return redis_command_at("127.0.0.1", port, password, args);
}

std::string redis_command_at(const std::string& host, int port, const std::string& password,
                             const std::vector<std::string>& args) {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return "(no connection)";
  }
  if (!password.empty()) {
    auto* a = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password.c_str()));
    if (a) freeReplyObject(a);
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& s : args) {
    argv.push_back(s.data());
    lens.push_back(s.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::string out = render(r);
  if (r) freeReplyObject(r);
  redisFree(c);
  return out;
}

}  // namespace behavior::testing
