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

RedisClient::RedisClient(uv_loop_t* loop, RedisOptions options, std::string name)
    : loop_(loop), options_(std::move(options)), name_(std::move(name)) {}

RedisClient::~RedisClient() { stop(); }

void RedisClient::start() {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  timer_open_ = true;
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
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  }
}

void RedisClient::connect() {
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
  if (self->options_.password.empty()) {
    self->ready();
    return;
  }
  const char* argv[] = {"AUTH", self->options_.password.c_str()};
  size_t lens[] = {4, self->options_.password.size()};
  redisAsyncCommandArgv(self->ac_, &RedisClient::on_reply,
                        new Callback([self](redisReply* r) {
                          if (reply_ok(r)) {
                            self->ready();
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
  };
  auto* p = new Pending();
  p->cb = std::move(cb);
  p->timer.data = p;
  uv_timer_init(loop_, &p->timer);
  uv_timer_start(&p->timer, [](uv_timer_t* t) {
    auto* pending = static_cast<Pending*>(t->data);
    pending->answered = true;
    if (pending->cb) pending->cb(nullptr);
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

void RedisClient::on_reply(redisAsyncContext*, void* reply, void* privdata) {
  auto* cb = static_cast<Callback*>(privdata);
  if (*cb) (*cb)(static_cast<redisReply*>(reply));
  delete cb;
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
