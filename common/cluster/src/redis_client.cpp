// redis_client.cpp — see redis_client.h. hiredis frees a context itself after a failed
// connect or a disconnect; we only forget our pointer in those callbacks. Commands issued
// while disconnected fail at once (callback with nullptr): callers retry on their own
// schedule (heartbeats, directory republish) rather than piling up in a queue.
#include "behavior/redis_client.h"

#include <hiredis/async.h>
#include <spdlog/spdlog.h>

namespace behavior {
namespace {

// Our own libuv glue for hiredis' async API, instead of <hiredis/adapters/libuv.h>: that
// adapter (hiredis 0.14, Debian bookworm) returns from its poll callback on any error
// status, and libuv reports a socket error (POLLERR, e.g. a reset from a Redis that was
// killed) exactly that way after stopping the poll, so the connection hung forever with no
// disconnect callback and the node never reconnected (found by a Redis-restart test under
// load). Here an error makes hiredis read, which fails and disconnects it properly.
struct UvEvents {
  redisAsyncContext* context = nullptr;
  uv_poll_t handle{};
  int events = 0;
};

void uv_events_poll(uv_poll_t* handle, int status, int events) {
  auto* p = static_cast<UvEvents*>(handle->data);
  if (status < 0) {
    if (p->context) redisAsyncHandleRead(p->context);  // read() reports the error: disconnect
    return;
  }
  if (p->context && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
  if (p->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

void uv_events_update(UvEvents* p) {
  if (p->events) {
    uv_poll_start(&p->handle, p->events, uv_events_poll);
  } else {
    uv_poll_stop(&p->handle);
  }
}

// hiredis' addRead/delRead/addWrite/delWrite hooks: one event flag on or off.
template <int Event, bool On>
void uv_events_set(void* d) {
  auto* p = static_cast<UvEvents*>(d);
  p->events = On ? (p->events | Event) : (p->events & ~Event);
  uv_events_update(p);
}
void uv_events_cleanup(void* d) {
  auto* p = static_cast<UvEvents*>(d);
  p->context = nullptr;  // the context is being freed
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
           [](uv_handle_t* h) { delete static_cast<UvEvents*>(h->data); });
}

bool attach_to_loop(redisAsyncContext* ac, uv_loop_t* loop) {
  auto* p = new UvEvents;
  if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
    delete p;
    return false;
  }
  p->handle.data = p;
  p->context = ac;
  ac->ev.data = p;
  ac->ev.addRead = uv_events_set<UV_READABLE, true>;
  ac->ev.delRead = uv_events_set<UV_READABLE, false>;
  ac->ev.addWrite = uv_events_set<UV_WRITABLE, true>;
  ac->ev.delWrite = uv_events_set<UV_WRITABLE, false>;
  ac->ev.cleanup = uv_events_cleanup;
  return true;
}

}  // namespace

std::string reply_string(const redisReply* r) {
  if (!r) return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) {
    return std::string(r->str, r->len);
  }
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return {};
}

bool reply_ok(const redisReply* r) { return r && r->type != REDIS_REPLY_ERROR; }

bool parse_host_port(std::string_view text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return false;
  int p = 0;
  for (char ch : text.substr(colon + 1)) {
    if (ch < '0' || ch > '9' || p > 65535) return false;
    p = p * 10 + (ch - '0');
  }
  if (p <= 0 || p > 65535) return false;
  *host = std::string(text.substr(0, colon));
  *port = p;
  return true;
}

bool parse_sentinel_list(std::string_view text, std::vector<std::string>* out, std::string* error) {
  out->clear();
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    std::string host;
    int port = 0;
    if (!parse_host_port(item, &host, &port)) {
      *error = "a sentinel must be host:port, got '" + std::string(item) + "'";
      return false;
    }
    out->push_back(host + ":" + std::to_string(port));
  }
  return true;
}

bool parse_master_addr_reply(const redisReply* r, std::string* host, int* port) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return false;
  for (size_t i = 0; i < 2; ++i) {
    if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i]->len == 0) return false;
  }
  std::string h(r->element[0]->str, r->element[0]->len);
  return parse_host_port(h + ":" + std::string(r->element[1]->str, r->element[1]->len), host, port);
}

bool parse_switch_master(std::string_view payload, std::string* name, std::string* host, int* port) {
  std::vector<std::string_view> words;
  while (!payload.empty()) {
    const size_t space = payload.find(' ');
    if (space != 0) words.push_back(payload.substr(0, space));
    if (space == std::string_view::npos) break;
    payload.remove_prefix(space + 1);
  }
  if (words.size() != 5) return false;
  std::string h;
  int p = 0;
  if (!parse_host_port(std::string(words[3]) + ":" + std::string(words[4]), &h, &p)) return false;
  *name = std::string(words[0]);
  *host = std::move(h);
  *port = p;
  return true;
}

bool role_is_master(const redisReply* r) {
  return r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && reply_string(r->element[0]) == "master";
}

bool error_means_not_primary(std::string_view error) {
  for (std::string_view code : {"READONLY", "LOADING", "MASTERDOWN"}) {
    if (error.substr(0, code.size()) == code) return true;
  }
  return false;
}

std::vector<std::string> sentinel_order(const std::vector<std::string>& sentinels, size_t attempt) {
  std::vector<std::string> order;
  order.reserve(sentinels.size());
  for (size_t i = 0; i < sentinels.size(); ++i) order.push_back(sentinels[(attempt + i) % sentinels.size()]);
  return order;
}

bool resolve_primary_blocking(const RedisOptions& o, int timeout_ms, std::string* host, int* port,
                              std::string* error) {
  const timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  error->clear();
  for (const std::string& s : o.sentinels) {
    std::string shost;
    int sport = 0;
    if (!parse_host_port(s, &shost, &sport)) continue;
    redisContext* c = redisConnectWithTimeout(shost.c_str(), sport, tv);
    std::string why;
    if (c && !c->err) {
      redisSetTimeout(c, tv);
      if (!o.sentinel_password.empty()) {
        auto* a = static_cast<redisReply*>(redisCommand(c, "AUTH %s", o.sentinel_password.c_str()));
        if (a) freeReplyObject(a);
      }
      auto* r = static_cast<redisReply*>(
          redisCommand(c, "SENTINEL get-master-addr-by-name %s", o.master_name.c_str()));
      if (r && parse_master_addr_reply(r, host, port)) {
        freeReplyObject(r);
        redisFree(c);
        return true;
      }
      why = !r ? std::string(c->errstr) : r->type == REDIS_REPLY_ERROR ? reply_string(r) : "does not know the master";
      if (r) freeReplyObject(r);
    } else {
      why = c ? c->errstr : "out of memory";
    }
    if (c) redisFree(c);
    *error += (error->empty() ? "" : "; ") + s + ": " + why;
  }
  if (error->empty()) *error = "no sentinels";
  return false;
}

RedisClient::RedisClient(uv_loop_t* loop, RedisOptions options, std::string name)
    : loop_(loop), options_(std::move(options)), name_(std::move(name)) {}

RedisClient::~RedisClient() { stop(); }

void RedisClient::start() {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  timer_open_ = true;
  uv_timer_init(loop_, &sentinel_timer_);
  sentinel_timer_.data = this;
  sentinel_timer_open_ = true;
  if (options_.use_sentinel()) {
    uv_timer_init(loop_, &watch_timer_);
    watch_timer_.data = this;
    watch_timer_open_ = true;
    watch_connect();
  }
  connect();
}

void RedisClient::stop() {
  if (stopped_) return;
  stopped_ = true;
  connected_ = false;
  if (ac_) {
    redisAsyncContext* ac = ac_;
    ac_ = nullptr;
    ac->data = nullptr;
    redisAsyncFree(ac);  // pending callbacks run with a null reply
  }
  drop_sentinel();
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  }
  if (sentinel_timer_open_) {
    sentinel_timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&sentinel_timer_), nullptr);
  }
  if (watch_ac_) {
    redisAsyncContext* ac = watch_ac_;
    watch_ac_ = nullptr;
    ac->data = nullptr;
    redisAsyncFree(ac);
  }
  if (watch_timer_open_) {
    watch_timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&watch_timer_), nullptr);
  }
}

void RedisClient::watch_connect() {
  if (stopped_ || watch_ac_) return;
  const std::string& sentinel = options_.sentinels[watch_index_++ % options_.sentinels.size()];
  std::string host;
  int port = 0;
  if (!parse_host_port(sentinel, &host, &port)) return;
  watch_ac_ = redisAsyncConnect(host.c_str(), port);
  if (!watch_ac_ || watch_ac_->err || !attach_to_loop(watch_ac_, loop_)) {
    if (watch_ac_) redisAsyncFree(watch_ac_);
    watch_ac_ = nullptr;
    watch_lost();
    return;
  }
  watch_ac_->data = this;
  redisAsyncSetConnectCallback(watch_ac_, &RedisClient::on_watch_connect);
  redisAsyncSetDisconnectCallback(watch_ac_, &RedisClient::on_watch_disconnect);
  if (!options_.sentinel_password.empty()) {
    const char* argv[] = {"AUTH", options_.sentinel_password.c_str()};
    size_t lens[] = {4, options_.sentinel_password.size()};
    redisAsyncCommandArgv(watch_ac_, nullptr, nullptr, 2, argv, lens);
  }
  const char* argv[] = {"SUBSCRIBE", "+switch-master"};
  size_t lens[] = {9, 14};
  redisAsyncCommandArgv(watch_ac_, &RedisClient::on_watch_message, nullptr, 2, argv, lens);
}

// The subscription's sentinel is gone: the next one in a second.
void RedisClient::watch_lost() {
  if (stopped_ || !watch_timer_open_) return;
  uv_timer_start(
      &watch_timer_, [](uv_timer_t* t) { static_cast<RedisClient*>(t->data)->watch_connect(); }, 1000, 0);
}

void RedisClient::on_watch_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self || status == REDIS_OK || self->watch_ac_ != ac) return;
  self->watch_ac_ = nullptr;  // hiredis frees it
  self->watch_lost();
}

void RedisClient::on_watch_disconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self || self->watch_ac_ != ac) return;
  self->watch_ac_ = nullptr;
  self->watch_lost();
}

void RedisClient::on_watch_message(redisAsyncContext* ac, void* reply, void*) {
  auto* self = static_cast<RedisClient*>(ac->data);
  auto* r = static_cast<redisReply*>(reply);
  if (!self || self->stopped_ || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
  if (reply_string(r->element[0]) != "message") return;
  std::string name, host;
  int port = 0;
  if (!parse_switch_master(reply_string(r->element[2]), &name, &host, &port) || name != self->options_.master_name) {
    return;
  }
  if (host == self->options_.host && port == self->options_.port && (self->connected_ || self->ac_)) return;
  spdlog::info("redis {}: +switch-master: the primary of '{}' is now {}:{}", self->name_, name, host, port);
  self->backoff_ms_ = 50;
  if (self->ac_) {
    self->lost_primary("+switch-master");  // reconnects through the sentinels
  } else if (!self->sentinel_ac_ && self->timer_open_) {
    uv_timer_stop(&self->timer_);  // waiting out a backoff: ask the sentinels now
    self->connect();
  }
}

void RedisClient::connect() {
  if (stopped_) return;
  if (options_.use_sentinel()) {
    drop_sentinel();  // a check still under way is superseded
    checking_ = false;
    order_ = sentinel_order(options_.sentinels, round_++);
    resolve(0);
    return;
  }
  connect_primary();
}

void RedisClient::connect_primary() {
  if (stopped_) return;
  ac_ = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (!ac_ || ac_->err) {
    spdlog::warn("redis {}: cannot connect to {}:{}: {}", name_, options_.host, options_.port,
                 ac_ ? ac_->errstr : "out of memory");
    if (ac_) redisAsyncFree(ac_);
    ac_ = nullptr;
    schedule_reconnect();
    return;
  }
  if (!attach_to_loop(ac_, loop_)) {
    spdlog::warn("redis {}: cannot watch the socket to {}:{}", name_, options_.host, options_.port);
    redisAsyncFree(ac_);
    ac_ = nullptr;
    schedule_reconnect();
    return;
  }
  ac_->data = this;
  redisAsyncSetConnectCallback(ac_, &RedisClient::on_connect);
  redisAsyncSetDisconnectCallback(ac_, &RedisClient::on_disconnect);
  // A connect that neither succeeds nor fails in time is cut.
  uv_timer_start(
      &timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<RedisClient*>(t->data);
        if (self->connected_ || !self->ac_) return;
        spdlog::warn("redis {}: connect timed out", self->name_);
        redisAsyncContext* ac = self->ac_;
        self->ac_ = nullptr;
        ac->data = nullptr;
        redisAsyncFree(ac);
        self->schedule_reconnect();
      },
      static_cast<uint64_t>(options_.connect_timeout_ms), 0);
}

void RedisClient::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self) return;
  if (status != REDIS_OK) {
    spdlog::warn("redis {}: connect to {}:{} failed: {}", self->name_, self->options_.host,
                 self->options_.port, ac->errstr);
    self->ac_ = nullptr;  // hiredis frees it
    self->schedule_reconnect();
    return;
  }
  uv_timer_stop(&self->timer_);
  // Sentinel: the address may be stale (a failover under way); a primary says so in ROLE.
  auto check_role = [self] {
    if (!self->options_.use_sentinel()) {
      self->ready();
      return;
    }
    const char* role[] = {"ROLE"};
    size_t role_len[] = {4};
    redisAsyncCommandArgv(self->ac_, &RedisClient::on_reply, new Callback([self](redisReply* r) {
                            if (!r || self->stopped_) return;
                            if (role_is_master(r)) {
                              self->ready();
                            } else {
                              spdlog::warn("redis {}: {}:{} is not the primary (ROLE {}); asking the sentinels again",
                                           self->name_, self->options_.host, self->options_.port,
                                           r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? reply_string(r->element[0])
                                                                                            : reply_string(r));
                              if (self->ac_) redisAsyncDisconnect(self->ac_);
                            }
                          }),
                          1, role, role_len);
  };
  if (self->options_.password.empty()) {
    check_role();
    return;
  }
  const char* argv[] = {"AUTH", self->options_.password.c_str()};
  size_t lens[] = {4, self->options_.password.size()};
  redisAsyncCommandArgv(self->ac_, &RedisClient::on_reply,
                        new Callback([self, check_role](redisReply* r) {
                          if (reply_ok(r)) {
                            check_role();
                          } else {
                            spdlog::error("redis {}: AUTH refused: {}", self->name_, reply_string(r));
                            if (self->ac_) redisAsyncDisconnect(self->ac_);
                          }
                        }),
                        2, argv, lens);
}

void RedisClient::ready() {
  connected_ = true;
  if (reconnects_ > 0) spdlog::info("redis {}: reconnected to {}:{}", name_, options_.host, options_.port);
  backoff_ms_ = 50;
  if (!channel_.empty()) send_subscribe();
  if (on_connected_) on_connected_();
}

void RedisClient::on_disconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self) return;
  self->connected_ = false;
  self->ac_ = nullptr;  // hiredis frees it after this callback
  if (self->stopped_) return;
  spdlog::warn("redis {}: connection lost{}{}", self->name_, status == REDIS_OK ? "" : ": ",
               status == REDIS_OK ? "" : ac->errstr);
  self->schedule_reconnect();
}

void RedisClient::schedule_reconnect() {
  if (stopped_ || !timer_open_) return;
  ++reconnects_;
  int delay = backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.max_backoff_ms);
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<RedisClient*>(t->data)->connect(); },
      static_cast<uint64_t>(delay), 0);
}

void RedisClient::command(const std::vector<std::string>& args, Callback cb) {
  if (!connected_ || !ac_) {
    if (cb) cb(nullptr);
    return;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* privdata = new Callback(std::move(cb));
  if (redisAsyncCommandArgv(ac_, &RedisClient::on_reply, privdata, static_cast<int>(argv.size()),
                            argv.data(), lens.data()) != REDIS_OK) {
    Callback failed = std::move(*privdata);
    delete privdata;
    if (failed) failed(nullptr);
  }
}

void RedisClient::command_with_deadline(const std::vector<std::string>& args, Callback cb) {
  // One timer per request: these are a client's logins and AUTHs, not the hot path. The
  // timer's handle is closed (and the state freed) once hiredis has called back, which it
  // always does: with the reply, or with nullptr when the connection drops or is freed.
  struct Pending {
    uv_timer_t timer{};
    Callback cb;
    bool answered = false;
    RedisClient* client = nullptr;
  };
  auto* p = new Pending();
  p->client = this;
  p->cb = std::move(cb);
  p->timer.data = p;
  uv_timer_init(loop_, &p->timer);
  uv_timer_start(&p->timer, [](uv_timer_t* t) {
    auto* pending = static_cast<Pending*>(t->data);
    pending->answered = true;
    if (pending->cb) pending->cb(nullptr);
    pending->client->check_primary();
  }, static_cast<uint64_t>(options_.request_timeout_ms), 0);
  command(args, [p](redisReply* r) {
    if (!p->answered) {
      p->answered = true;
      uv_timer_stop(&p->timer);
      if (p->cb) p->cb(r);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&p->timer), [](uv_handle_t* h) { delete static_cast<Pending*>(h->data); });
  });
}

void RedisClient::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* cb = static_cast<Callback*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  if (*cb) (*cb)(r);
  delete cb;
  auto* self = static_cast<RedisClient*>(ac->data);
  if (self && r && r->type == REDIS_REPLY_ERROR && self->options_.use_sentinel() && self->ac_ == ac &&
      error_means_not_primary(std::string_view(r->str, r->len))) {
    self->lost_primary(std::string(r->str, r->len));
  }
}

void RedisClient::lost_primary(const std::string& why) {
  if (!ac_ || stopped_) return;
  spdlog::warn("redis {}: {}:{} is no longer a usable primary ({}); asking the sentinels again", name_,
               options_.host, options_.port, why);
  // Cut at once (a hung primary would never let a graceful disconnect finish): pending
  // callbacks run with nullptr, as when the link drops.
  redisAsyncContext* ac = ac_;
  ac_ = nullptr;
  connected_ = false;
  ac->data = nullptr;
  redisAsyncFree(ac);
  schedule_reconnect();
}

// A request waited past its deadline: if the sentinels name another primary, leave this one.
void RedisClient::check_primary() {
  if (!options_.use_sentinel() || stopped_ || !connected_ || sentinel_ac_ || checking_) return;
  checking_ = true;
  order_ = sentinel_order(options_.sentinels, round_++);
  resolve(0);
}

void RedisClient::drop_sentinel() {
  if (sentinel_timer_open_) uv_timer_stop(&sentinel_timer_);
  sentinel_error_.clear();
  if (!sentinel_ac_) return;
  redisAsyncContext* ac = sentinel_ac_;
  sentinel_ac_ = nullptr;
  ac->data = nullptr;
  redisAsyncFree(ac);
}

void RedisClient::sentinel_failed(size_t i, const std::string& why) {
  spdlog::warn("redis {}: sentinel {}: {}", name_, order_[i], why);
  drop_sentinel();
  if (i + 1 < order_.size()) {
    resolve(i + 1);
    return;
  }
  if (checking_) {  // only a check: the current link stays
    checking_ = false;
    return;
  }
  spdlog::warn("redis {}: no sentinel named the primary of '{}'", name_, options_.master_name);
  schedule_reconnect();
}

void RedisClient::resolve(size_t i) {
  if (stopped_) return;
  sentinel_index_ = i;
  std::string host;
  int port = 0;
  if (!parse_host_port(order_[i], &host, &port)) {
    sentinel_failed(i, "not host:port");
    return;
  }
  sentinel_ac_ = redisAsyncConnect(host.c_str(), port);
  if (!sentinel_ac_ || sentinel_ac_->err || !attach_to_loop(sentinel_ac_, loop_)) {
    std::string why = sentinel_ac_ && sentinel_ac_->err ? sentinel_ac_->errstr : "cannot connect";
    if (sentinel_ac_) redisAsyncFree(sentinel_ac_);
    sentinel_ac_ = nullptr;
    sentinel_failed(i, why);
    return;
  }
  sentinel_ac_->data = this;
  redisAsyncSetConnectCallback(sentinel_ac_, &RedisClient::on_sentinel_connect);
  redisAsyncSetDisconnectCallback(sentinel_ac_, &RedisClient::on_sentinel_disconnect);
  // Commands are queued until the connection is up; the timer bounds the whole exchange.
  if (!options_.sentinel_password.empty()) {
    const char* argv[] = {"AUTH", options_.sentinel_password.c_str()};
    size_t lens[] = {4, options_.sentinel_password.size()};
    redisAsyncCommandArgv(sentinel_ac_, nullptr, nullptr, 2, argv, lens);
  }
  const char* argv[] = {"SENTINEL", "get-master-addr-by-name", options_.master_name.c_str()};
  size_t lens[] = {8, 23, options_.master_name.size()};
  redisAsyncCommandArgv(sentinel_ac_, &RedisClient::on_reply, new Callback([this, i](redisReply* r) {
                          // nullptr: the link failed or was dropped; the failure is handled there.
                          if (stopped_ || !sentinel_ac_ || !r) return;
                          std::string host;
                          int port = 0;
                          if (!parse_master_addr_reply(r, &host, &port)) {
                            sentinel_failed(i, r->type == REDIS_REPLY_ERROR ? reply_string(r)
                                                                            : "does not know the master");
                            return;
                          }
                          drop_sentinel();
                          if (checking_) {
                            checking_ = false;
                            if (host != options_.host || port != options_.port) {
                              lost_primary("the sentinels name " + host + ":" + std::to_string(port));
                            }
                            return;
                          }
                          if (host != options_.host || port != options_.port) {
                            spdlog::info("redis {}: the sentinels name {}:{} as the primary of '{}'", name_, host, port,
                                         options_.master_name);
                          }
                          options_.host = host;
                          options_.port = port;
                          connect_primary();
                        }),
                        3, argv, lens);
  uv_timer_start(&sentinel_timer_, &RedisClient::on_sentinel_timer, static_cast<uint64_t>(options_.connect_timeout_ms),
                 0);
}

void RedisClient::on_sentinel_timer(uv_timer_t* t) {
  auto* self = static_cast<RedisClient*>(t->data);
  std::string why = self->sentinel_ac_ ? "timed out" : self->sentinel_error_;
  self->sentinel_failed(self->sentinel_index_, why.empty() ? "connection lost" : why);
}

// hiredis frees a context after a failed connect or a disconnect: forget it here and
// move on from the timer, outside hiredis' callbacks.
void RedisClient::on_sentinel_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self || status == REDIS_OK || self->sentinel_ac_ != ac) return;
  self->sentinel_ac_ = nullptr;
  self->sentinel_error_ = ac->errstr[0] ? ac->errstr : "connect failed";
  uv_timer_start(&self->sentinel_timer_, &RedisClient::on_sentinel_timer, 0, 0);
}

void RedisClient::on_sentinel_disconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self || self->sentinel_ac_ != ac) return;
  self->sentinel_ac_ = nullptr;
  self->sentinel_error_ = ac->errstr[0] ? ac->errstr : "connection lost";
  uv_timer_start(&self->sentinel_timer_, &RedisClient::on_sentinel_timer, 0, 0);
}

void RedisClient::subscribe(std::string channel, std::function<void(std::string_view)> on_message) {
  channel_ = std::move(channel);
  on_message_ = std::move(on_message);
  if (connected_) send_subscribe();
}

void RedisClient::send_subscribe() {
  const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
  size_t lens[] = {9, channel_.size()};
  redisAsyncCommandArgv(ac_, &RedisClient::on_subscribed, this, 2, argv, lens);
}

void RedisClient::on_subscribed(redisAsyncContext* ac, void* reply, void*) {
  auto* self = static_cast<RedisClient*>(ac->data);
  auto* r = static_cast<redisReply*>(reply);
  if (!self || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
  if (reply_string(r->element[0]) == "message" && self->on_message_) {
    self->on_message_(std::string_view(r->element[2]->str, r->element[2]->len));
  }
}

}  // namespace behavior
