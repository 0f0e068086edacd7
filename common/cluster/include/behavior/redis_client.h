// redis_client.h — one Redis connection on a libuv loop through hiredis' async API: AUTH on
// connect, reconnect with backoff forever (a Redis restart is an outage, not a crash),
// commands with callbacks, and a subscriber mode for pub/sub. Loop thread only.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace behavior {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int connect_timeout_ms = 1000;
  int max_backoff_ms = 2000;
  int request_timeout_ms = 2000;  // command_with_deadline()
};

class RedisClient {
 public:
  // reply is valid only during the call; nullptr when not connected or the link dropped.
  using Callback = std::function<void(redisReply* reply)>;

  RedisClient(uv_loop_t* loop, RedisOptions options, std::string name);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  void start();
  void stop();
  bool connected() const { return connected_; }
  uint64_t reconnects() const { return reconnects_; }

  // Runs after every successful (re)connect and AUTH.
  void on_connected(std::function<void()> fn) { on_connected_ = std::move(fn); }
  void command(const std::vector<std::string>& args, Callback cb);
  // The same, for a request a client waits on: when Redis has not answered within
  // request_timeout_ms (stalled), cb(nullptr) runs then and the late reply is dropped. The
  // command may still run when Redis wakes up: a caller undoes what it must (it is sent on
  // the same connection, so a command sent after this one runs after it).
  void command_with_deadline(const std::vector<std::string>& args, Callback cb);
  // Subscriber mode: (re)subscribes after each connect; `on_message` gets each payload.
  void subscribe(std::string channel, std::function<void(std::string_view)> on_message);

 private:
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_subscribed(redisAsyncContext* ac, void* reply, void* privdata);
  void connect();
  void ready();
  void schedule_reconnect();
  void send_subscribe();

  uv_loop_t* loop_;
  RedisOptions options_;
  std::string name_;
  redisAsyncContext* ac_ = nullptr;
  uv_timer_t timer_{};  // reconnect backoff and connect timeout
  bool timer_open_ = false;
  bool connected_ = false;
  bool stopped_ = false;
  int backoff_ms_ = 50;
  uint64_t reconnects_ = 0;
  std::function<void()> on_connected_;
  std::string channel_;
  std::function<void(std::string_view)> on_message_;
};

// Reply helpers.
std::string reply_string(const redisReply* r);
bool reply_ok(const redisReply* r);

}  // namespace behavior
