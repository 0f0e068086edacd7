// actor.cpp — what a process can do from its own handlers. Every send builds one Message
// and hands it to Runtime::route; calls register a pending entry and a timeout on the
// process's worker first.
#include "behavior/actor.h"

#include "actor_ext.h"
#include "behavior/ids.h"
#include "durability.h"
#include "behavior/node.h"
#include "runtime.h"
#include "shard.h"
#include <behavior/system.pb.h>

namespace behavior {
namespace {
const std::string kNoString;
}

Actor::~Actor() {
  delete router_;
  delete ext_;
}

detail::ActorExt& Actor::ext() {
  if (!ext_) ext_ = new detail::ActorExt();
  return *ext_;
}

const std::string& Actor::name() const { return ext_ ? ext_->name : kNoString; }
const std::string& Actor::kind() const { return ext_ ? ext_->kind : kNoString; }
Node& Actor::node() const { return shard_->runtime().node(); }
uint64_t Actor::dropped() const { return ext_ ? ext_->dropped : 0; }

Status Actor::send_kind(Pid to, Kind kind, uint32_t proto_id, Body body, uint64_t request_id) {
  return shard_->runtime().send(pid_, to, kind, proto_id, std::move(body), request_id);
}

Status Actor::send(Pid to, uint32_t proto_id, Body body) {
  return send_kind(to, Kind::kInfo, proto_id, std::move(body));
}

Status Actor::send(std::string_view name, uint32_t proto_id, Body body) {
  return shard_->runtime().route_named(name, new Message(Pid(), pid_, Kind::kInfo, proto_id, std::move(body)));
}

CallAwaiter Actor::call(Pid to, uint32_t proto_id, Body body, Millis timeout) {
  return CallAwaiter(this, to, {}, proto_id, std::move(body), timeout);
}

CallAwaiter Actor::call(std::string_view name, uint32_t proto_id, Body body, Millis timeout) {
  return CallAwaiter(this, Pid(), std::string(name), proto_id, std::move(body), timeout);
}

SaveAwaiter Actor::save(Millis timeout) { return SaveAwaiter(this, timeout); }
void Actor::mark_dirty() {
  if (ext_) ext_->dirty = true;
}
bool Actor::durable() const { return detail::Durability::is_durable(this); }
uint64_t Actor::epoch() const { return ext_ ? ext_->epoch : 0; }
bool Actor::moved_here() const { return ext_ && ext_->moved_here; }
Pid Actor::moved_from() const { return ext_ ? ext_->moved_from : Pid(); }

bool SaveAwaiter::await_ready() {
  Result<Body> body = detail::Durability::snapshot(self_);
  if (!body.ok()) {
    early_ = body.status();
    return true;
  }
  body_ = std::move(*body);
  return false;
}

void SaveAwaiter::await_suspend(std::coroutine_handle<> h) {
  self_->shard_->calls().begin(self_, service::cluster_pid(self_->pid_.node()), {}, proto::kSaveState,
                               std::move(body_), timeout_, h, &result_, {});
}

Status SaveAwaiter::await_resume() {
  if (!early_.ok()) return early_;
  detail::Durability::saved(self_, result_.status());
  return result_.status();
}

bool CallAwaiter::await_ready() {
  if (to_.valid()) return false;
  detail::Runtime& rt = self_->shard_->runtime();
  Result<Pid> to = rt.resolve(name_);
  if (to.ok()) {
    to_ = *to;
    return false;
  }
  if (rt.clustered()) return false;  // the directory may know it: ask, then deliver
  result_ = Reply(to.status());
  return true;
}

void CallAwaiter::await_suspend(std::coroutine_handle<> h) {
  self_->shard_->calls().begin(self_, to_, std::move(name_), proto_id_, std::move(body_), timeout_, h,
                            &result_, {});
}

void Actor::call(Pid to, uint32_t proto_id, Body body, Millis timeout, CallCallback done) {
  shard_->calls().begin(this, to, {}, proto_id, std::move(body), timeout, {}, nullptr, std::move(done));
}

void Actor::call(std::string_view name, uint32_t proto_id, Body body, Millis timeout,
                 CallCallback done) {
  shard_->calls().begin(this, Pid(), std::string(name), proto_id, std::move(body), timeout, {},
                     nullptr, std::move(done));
}

Status Actor::reply(const Message& call, uint32_t proto_id, Body body) {
  return reply(call.reply_to(), proto_id, std::move(body));
}

Status Actor::reply(ReplyTo to, uint32_t proto_id, Body body) {
  if (!to.valid()) return Status::invalid_argument("not a call: nobody to reply to");
  return send_kind(to.caller, Kind::kReply, proto_id, std::move(body), to.request_id);
}

Status Actor::reply_error(ReplyTo to, const Status& error) {
  if (!to.valid()) return Status::invalid_argument("not a call: nobody to reply to");
  return shard_->runtime().route(Message::error_reply(
      to.caller, pid_, to.request_id, error.ok() ? Status(Code::kInternal, error.message()) : error));
}

Status Actor::send_to_client(uint32_t proto_id, const google::protobuf::MessageLite& msg) {
  std::string bytes;
  if (!msg.SerializeToString(&bytes)) return Status::invalid_argument("message does not serialize");
  return send_to_client_bytes(proto_id, std::move(bytes));
}

// A frame to the writer: flagged kClientAfterMove while this activation moved here and its
// writer has not caught up with the old pid's frames.
uint64_t Actor::client_flags(uint64_t flags) const {
  return ext_ && ext_->moved_here && !ext_->writer_caught_up ? flags | kClientAfterMove : flags;
}

Status Actor::send_to_client_bytes(uint32_t proto_id, std::string bytes) {
  if (!writer_.valid()) return Status::invalid_argument("process " + pid_.to_string() + " has no writer");
  return send_kind(writer_, Kind::kClient, proto_id, Body::bytes(std::move(bytes)), client_flags(0));
}

Status Actor::forward_to_client(uint32_t proto_id, Body body) {
  if (!writer_.valid()) return Status::invalid_argument("process " + pid_.to_string() + " has no writer");
  return send_kind(writer_, Kind::kClient, proto_id, std::move(body), client_flags(0));
}

Status Actor::send_to_client_unreliable(uint32_t proto_id, std::string bytes) {
  if (!writer_.valid()) return Status::invalid_argument("process " + pid_.to_string() + " has no writer");
  return send_kind(writer_, Kind::kClient, proto_id, Body::bytes(std::move(bytes)), client_flags(kClientUnreliable));
}

Status Actor::send_error_to_client(uint32_t code, std::string_view text) {
  pb::ErrorFrame frame;
  frame.set_code(code);
  frame.set_message(std::string(text));
  return send_to_client(proto::kError, frame);
}

Result<Pid> Actor::spawn(std::unique_ptr<Router> router, SpawnOptions options) {
  return shard_->runtime().spawn(std::move(router), std::move(options), this);
}

Result<Pid> Actor::spawn_link(std::unique_ptr<Router> router, SpawnOptions options) {
  options.link = pid_;
  return spawn(std::move(router), std::move(options));
}

void Actor::link(Pid other) {
  if (other == pid_) return;
  auto& links = ext().links;
  if (std::find(links.begin(), links.end(), other) != links.end()) return;
  links.push_back(other);
  send_kind(other, Kind::kLink, 0, Body());
}

void Actor::unlink(Pid other) {
  auto& links = ext().links;
  links.erase(std::remove(links.begin(), links.end(), other), links.end());
  send_kind(other, Kind::kUnlink, 0, Body());
}

uint64_t Actor::monitor(Pid target) {
  uint64_t ref = shard_->next_request_id();
  ext().monitoring.emplace_back(ref, target);
  send_kind(target, Kind::kMonitor, 0, Body(), ref);
  return ref;
}

void Actor::demonitor(uint64_t ref) {
  auto& mon = ext().monitoring;
  for (size_t i = 0; i < mon.size(); ++i) {
    if (mon[i].first == ref) {
      Pid target = mon[i].second;
      mon.erase(mon.begin() + static_cast<long>(i));
      send_kind(target, Kind::kDemonitor, 0, Body(), ref);
      return;
    }
  }
}

void Actor::exit(Pid target, std::string_view reason) {
  send_kind(target, Kind::kExit, 0, Body::bytes(std::string(reason)));
}

void Actor::stop(std::string_view reason) {
  if (exit_pending_) return;
  exit_pending_ = true;
  ext().exit_reason = std::string(reason);
}

TimerId Actor::send_after(Millis delay, uint32_t proto_id, Body body) {
  detail::Timer t;
  t.target = pid_;
  t.proto_id = proto_id;
  t.body = std::move(body);
  TimerId id = shard_->add_timer(delay, std::move(t));
  ext().timers.push_back(id);
  return id;
}

TimerId Actor::tick(Millis period, uint32_t proto_id) {
  detail::Timer t;
  t.target = pid_;
  t.proto_id = proto_id;
  t.period_ns = std::max<int64_t>(period.count(), 1) * 1'000'000;
  TimerId id = shard_->add_timer(period, std::move(t));
  ext().timers.push_back(id);
  return id;
}

bool Actor::cancel_timer(TimerId id) {
  auto& ts = ext().timers;
  ts.erase(std::remove(ts.begin(), ts.end(), id), ts.end());
  return shard_->cancel_timer(id);
}

void Actor::set_idle_timeout(Millis timeout) {
  shard_->set_idle_timeout(this, timeout.count() * 1'000'000);
}

}  // namespace behavior
