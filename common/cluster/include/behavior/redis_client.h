// redis_client.h — one Redis connection on a libuv loop through hiredis' async API: AUTH on
// connect, reconnect with backoff forever (a Redis restart is an outage, not a crash),
// commands with callbacks, and a subscriber mode for pub/sub. Loop thread only.
//
// With Sentinel (options.sentinels not empty) the address of the primary is asked of the
// sentinels (SENTINEL get-master-addr-by-name, each sentinel in turn) before every connect,
// and checked with ROLE once connected. The client asks again and reconnects when the link
// to the primary drops, when a reply says the server is no longer a writable primary
// (READONLY, LOADING, MASTERDOWN), and when a request waited past its deadline and the
// sentinels name another primary. Each client also keeps a subscription to +switch-master
// on one sentinel (the next one when that link fails): a failover announced there moves the
// client to the new primary at once instead of after its next reconnect backoff.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace behavior {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int connect_timeout_ms = 1000;
  int max_backoff_ms = 2000;
  int request_timeout_ms = 2000;  // command_with_deadline()
  // Sentinel: the sentinels ("host:port" each) and the master name they monitor; when
  // `sentinels` is empty, host and port above are the server. AUTH to the sentinels with
  // sentinel_password when set; `password` stays the primary's.
  std::vector<std::string> sentinels;
  std::string master_name;
  std::string sentinel_password;
  bool use_sentinel() const { return !sentinels.empty(); }
};

// "host:port" split; false when malformed (no colon, empty host, port not in 1-65535).
bool parse_host_port(std::string_view text, std::string* host, int* port);
// "host:port,host:port,..." (spaces around items ignored, empty items skipped) into the
// list; false with a message naming the bad item.
bool parse_sentinel_list(std::string_view text, std::vector<std::string>* out, std::string* error);
// The reply of SENTINEL get-master-addr-by-name: an array of [ip, port]. False for a nil
// reply (the sentinel does not know the name), an error or anything malformed.
bool parse_master_addr_reply(const redisReply* r, std::string* host, int* port);
// A +switch-master message: "<master name> <old ip> <old port> <new ip> <new port>"; false
// when malformed.
bool parse_switch_master(std::string_view payload, std::string* name, std::string* host, int* port);
// The reply of ROLE: true when its first element is "master".
bool role_is_master(const redisReply* r);
// An error reply after which a Sentinel client must ask for the primary again.
bool error_means_not_primary(std::string_view error);
// Sentinels to ask, in order, on the attempt-th round: the list rotated so that a
// sentinel that failed is not asked first every time.
std::vector<std::string> sentinel_order(const std::vector<std::string>& sentinels, size_t attempt);

// Blocking: asks each sentinel in turn (each with `timeout_ms` to connect and answer) for
// the primary's address. For tools and start-up code off the event loop.
bool resolve_primary_blocking(const RedisOptions& options, int timeout_ms, std::string* host, int* port,
                              std::string* error);

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
  // Sentinel: ask sentinels from index `i` of this round's order, then connect_primary().
  void resolve(size_t i);
  void connect_primary();
  static void on_sentinel_connect(const redisAsyncContext* ac, int status);
  static void on_sentinel_disconnect(const redisAsyncContext* ac, int status);
  static void on_sentinel_timer(uv_timer_t* t);
  void drop_sentinel();
  void sentinel_failed(size_t i, const std::string& why);
  // Drop the link to the primary: on_disconnect asks the sentinels again.
  void lost_primary(const std::string& why);
  void check_primary();
  // The +switch-master subscription on one sentinel.
  void watch_connect();
  void watch_lost();
  static void on_watch_connect(const redisAsyncContext* ac, int status);
  static void on_watch_disconnect(const redisAsyncContext* ac, int status);
  static void on_watch_message(redisAsyncContext* ac, void* reply, void* privdata);

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
  redisAsyncContext* sentinel_ac_ = nullptr;
  std::vector<std::string> order_;  // this round's sentinels
  size_t round_ = 0;
  bool checking_ = false;  // a check of the primary (after a request timed out) is under way
  size_t sentinel_index_ = 0;
  std::string sentinel_error_;
  uv_timer_t sentinel_timer_{};  // bounds one sentinel's exchange
  bool sentinel_timer_open_ = false;
  redisAsyncContext* watch_ac_ = nullptr;
  size_t watch_index_ = 0;
  uv_timer_t watch_timer_{};  // redials the subscription
  bool watch_timer_open_ = false;
  std::function<void()> on_connected_;
  std::string channel_;
  std::function<void(std::string_view)> on_message_;
};

// Reply helpers.
std::string reply_string(const redisReply* r);
bool reply_ok(const redisReply* r);

}  // namespace behavior
