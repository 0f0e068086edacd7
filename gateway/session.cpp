// session.cpp — see session.h: one client's life, transport-neutral.
#include "session.h"

#include <behavior/clock.h>
#include <behavior/client_frame.h>
#include <behavior/ticket.h>
#include <behavior/websocket.h>
#include <behavior/logging.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <behavior/system.pb.h>

namespace behavior::gateway {
namespace {

// Deletes a ticket's single-use mark if this session set it (KEYS[1] the mark, ARGV[1] the
// session's pid): an AUTH answered "retry" must not use the ticket up.
constexpr const char* kReleaseTicketMark =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

constexpr size_t kMaxEarlyFrames = 32;  // frames a client may send while its process is being ensured
constexpr size_t kMaxMovingFrames = 1024;  // frames held while the user's process moves

constexpr size_t kMaxHeartbeatBytes = 64;  // a longer heartbeat is refused (400), not echoed

// Error codes of kError frames (body: pb::ErrorFrame), for clients to act on. The table
// with each code's meaning and whether the connection closes is in docs/protocol.md.
enum ErrorCode : uint32_t {
  kErrUnauthenticated = 401,  // no, bad, expired, foreign or reused ticket; AUTH not first or not in time
  kErrBadFrame = 400,         // malformed, reserved protoID, heartbeat over 64 bytes
  kErrIdle = 408,             // nothing from the client within --idle-timeout-ms
  kErrRateLimited = 429,
  kErrProcessGone = 410,      // the user's process ended: log in again
  kErrUnavailable = 503,      // Redis or the user's node unreachable, or draining: retry
};

}  // namespace

const char* transport_name(TransportKind kind) {
  switch (kind) {
    case TransportKind::kTcp: return "tcp";
    case TransportKind::kWebSocket: return "ws";
    case TransportKind::kUdp: return "udp";
  }
  return "?";
}

const char* describe(CloseReason why) {
  switch (why) {
    case CloseReason::kClientLeft: return "closed by the client";
    case CloseReason::kNetworkError: return "the connection failed";
    case CloseReason::kNoAcks: return "the client stopped acknowledging";
    case CloseReason::kSlowReader: return "slow reader: output queue full";
    case CloseReason::kBadFrame: return "bad frame";
    case CloseReason::kAuthFailed: return "authentication failed";
    case CloseReason::kAuthTimeout: return "auth timeout";
    case CloseReason::kIdle: return "idle";
    case CloseReason::kKicked: return "kicked";
    case CloseReason::kProcessEnded: return "the user's process ended";
    case CloseReason::kUnavailable: return "unavailable, retry";
    case CloseReason::kStopping: return "the gateway is stopping";
  }
  return "?";
}

Session::Session(SessionContext& ctx, Transport* transport, Pid pid)
    : ctx_(ctx), transport_(transport), kind_(transport->kind()), pid_(pid) {
  const int64_t now = ctx_.now();
  ctx_.auth_deadlines->add(this, now);
  tokens_ = ctx_.options->frame_burst;
  tokens_at_ = now;
}

// -----------------------------------------------------------------------------------------
// From the client.

void Session::on_frame(uint32_t proto, std::string_view body) {
  ++ctx_.stats->frames_in;
  take_frame(proto, body);
}

// A frame as it arrived, or held while the login finished and taken now (counted once).
void Session::take_frame(uint32_t proto, std::string_view body) {
  const int64_t now = ctx_.now();
  switch (state_) {
    case State::kAuth:
      if (proto != proto::kAuth) {
        auth_failed(GatewayStats::kNotFirst, "AUTH must be the first frame");
        return;
      }
      authenticate(body);
      return;
    case State::kEnsuring:
      if (early_.size() >= kMaxEarlyFrames) {
        bad_frame("too many frames before the login finished");
        return;
      }
      early_.emplace_back(proto, std::string(body));
      return;
    case State::kReady:
      break;
    case State::kClosing:
      return;
  }
  touch(now);
  // Every frame counts toward the rate limit, heartbeats too (3,000 heartbeats got 3,000
  // answers before).
  if (!rate_allows(now)) return;
  if (proto == proto::kHeartbeat) {
    if (body.size() > kMaxHeartbeatBytes) {  // refused, not cut short: the client hears why
      ++ctx_.stats->refused_heartbeat;
      send_error(kErrBadFrame, "a heartbeat's body is at most " + std::to_string(kMaxHeartbeatBytes) + " bytes, not " +
                                   std::to_string(body.size()));
      return;
    }
    send_frame(proto::kHeartbeat, body);
    return;
  }
  if (proto::is_system(proto)) {  // kAttach, kStop, kExit, a second kAuth...: never relayed
    ++ctx_.stats->refused_reserved;
    send_error(kErrBadFrame, "protoID " + std::to_string(proto) + " is reserved");
    return;
  }
  if (barrier_ref_ != 0) {  // the process is moving: held until the old path is flushed
    if (moving_frames_.size() >= kMaxMovingFrames) {
      ++ctx_.stats->dropped_rate;
      send_error(kErrRateLimited, "too many frames while your process moves; some were dropped");
      return;
    }
    moving_frames_.emplace_back(proto, std::string(body));
    return;
  }
  ctx_.send(pid_, user_, Kind::kInfo, proto, Body::copy_of(body));
}

bool Session::take_token(int64_t now) {
  const GatewayOptions& o = *ctx_.options;
  if (o.frame_rate <= 0) return true;
  tokens_ = std::min(o.frame_burst, tokens_ + double(now - tokens_at_) * o.frame_rate / 1000.0);
  tokens_at_ = now;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

// A frame within the rate limit; otherwise it is dropped and counted, and the client hears
// about it at most once a second.
bool Session::rate_allows(int64_t now) {
  if (take_token(now)) return true;
  ++ctx_.stats->dropped_rate;
  if (now - last_error_at_ >= 1000) {
    last_error_at_ = now;
    send_error(kErrRateLimited, "too many frames; some were dropped");
  }
  return false;
}

bool Session::allow_control() { return state_ != State::kClosing && rate_allows(ctx_.now()); }

void Session::on_bad_input(const std::string& why) { bad_frame(why); }

void Session::on_alive() {
  if (state_ == State::kReady) touch(ctx_.now());
}

// A WebSocket protocol error gets the same error frame as a bad TCP frame, before the close
// frame with the code that names it (1002, 1003, 1008 or 1009); the client's own close frame
// is only answered.
void Session::on_end(CloseReason why, uint16_t ws_code, const std::string& reason) {
  if (why == CloseReason::kBadFrame && state_ != State::kClosing) {
    bad_frame(reason, ws_code);
    return;
  }
  close_after_write(why, ws_code);
}

void Session::on_closed(CloseReason why) {
  transport_ = nullptr;  // it ended itself
  if (state_ != State::kClosing) ending(why);
  release();
}

// -----------------------------------------------------------------------------------------
// AUTH: verify, single use, ensure the user's process, attach.

void Session::authenticate(std::string_view token) {
  const int64_t now = wall_ms();
  Result<Ticket> t = verify_ticket(token, ctx_.cluster->secret, now);
  if (!t.ok()) {
    const bool expired = t.status().code() == Code::kTimeout;
    auth_failed(expired ? GatewayStats::kExpired : GatewayStats::kInvalid,
                expired ? "the ticket has expired" : "the ticket is not valid");
    return;
  }
  if (t->gateway != pid_.node()) {
    auth_failed(GatewayStats::kOtherGateway, "the ticket is for another gateway");
    return;
  }
  if (ctx_.draining) {  // the name server gives out no more tickets for this gateway
    ++ctx_.stats->auth_failures[GatewayStats::kDraining];
    send_error(kErrUnavailable, "this gateway is draining: log in again at the name server");
    close_after_write(CloseReason::kUnavailable, ws::kCloseTryAgainLater);
    return;
  }
  if (!ctx_.redis->connected()) {
    send_error(kErrUnavailable, "tickets cannot be checked now (Redis is down); retry");
    close_after_write(CloseReason::kUnavailable, ws::kCloseTryAgainLater);
    return;
  }
  state_ = State::kEnsuring;
  left_auth();
  auth_at_ = ctx_.now();
  user_name_ = t->user;
  const uint16_t node = t->node;
  const int64_t ttl = std::max<int64_t>(1000, t->expires_ms - now + 1000);
  // Single use: the first SET NX of the nonce wins; the key outlives the ticket. The answer
  // finds the session by its address: it may have ended meanwhile.
  // A stalled Redis gets a deadline: the client is told to retry, and the mark is taken back
  // (a compare-and-delete sent after the SET on the same connection, so it runs right after
  // it when Redis wakes up): the ticket is not used up by an AUTH that was never answered.
  SessionContext& ctx = ctx_;
  std::string mark = ctx_.cluster->prefix + "ticket:" + t->nonce;
  std::string owner = std::to_string(pid_.raw());
  ctx_.redis->command_with_deadline({"SET", mark, owner, "NX", "PX", std::to_string(ttl)},
                      [&ctx, serial = pid_.serial(), node, mark, owner](redisReply* r) {
                        if (!r) {
                          ctx.redis->command({"EVAL", kReleaseTicketMark, "1", mark, owner}, nullptr);
                        }
                        Session* s = ctx.find(serial);
                        if (!s) return;
                        if (!r || r->type == REDIS_REPLY_ERROR) {
                          s->send_error(kErrUnavailable, "tickets cannot be checked now; retry");
                          s->close_after_write(CloseReason::kUnavailable, ws::kCloseTryAgainLater);
                        } else if (r->type == REDIS_REPLY_NIL) {
                          s->auth_failed(GatewayStats::kReplayed, "the ticket was already used");
                        } else {
                          s->ensure_user(node);
                        }
                      });
}

void Session::ensure_user(uint16_t node) {
  // "here": on the node the name server placed the player on (it already preferred the
  // newest version of the user's kind), never passed on by that node.
  auto* m = new Message(
      Cluster::service_pid(node), pid_, Kind::kCall, proto::kEnsure,
      Body(Cluster::ensure_request(user_process_name(user_name_), ctx_.options->user_kind, pid_, true)));
  ensure_ref_ = ++ctx_.refs;
  m->set_request_id(ensure_ref_);
  ctx_.node->route(m);
}

void Session::on_ensured(MessagePtr m) {
  Reply r(std::move(m));
  if (!r.ok()) {
    send_error(kErrUnavailable, "your process could not be reached: " + r.status().message());
    close_after_write(CloseReason::kUnavailable, ws::kCloseTryAgainLater);
    return;
  }
  user_ = r.as<Pid>();
  state_ = State::kReady;
  ++ctx_.stats->authenticated;
  ctx_.auth_seconds->observe(double(ctx_.now() - auth_at_) / 1000.0);
  touch(ctx_.now());
  // Watch the process (if it ends, the client must log in again) and become its writer.
  monitor_ref_ = ++ctx_.refs;
  ctx_.send(pid_, user_, Kind::kMonitor, 0, Body(), monitor_ref_);
  ctx_.send(pid_, user_, Kind::kInfo, proto::kAttach, Body());
  transport_->write_auth_ok(user_.to_string());
  auto early = std::move(early_);
  for (auto& [proto, body] : early) {
    if (state_ != State::kReady) break;
    take_frame(proto, body);
  }
}

// -----------------------------------------------------------------------------------------
// Messages to this session's address.

void Session::deliver(MessagePtr m) {
  if (state_ == State::kClosing) return;
  switch (m->kind()) {
    case Kind::kClient:  // from the user's process, or any process the cluster trusts (a room)
      if (state_ != State::kReady) return;
      if ((m->request_id() & kClientAfterMove) && m->from() != user_ && m->from() != moving_to_) {
        // From where our process is moving, before the old pid's kMoved: the old one's last
        // frames may still be on their way (another node, another path). Held until then.
        if (after_move_frames_.size() < kMaxMovingFrames) {
          after_move_frames_.push_back(std::move(m));
          return;
        }
        // More than we hold: dropping some would lose them without a word. The client logs
        // in again and finds its process (and its durable state) where it moved.
        after_move_frames_.clear();
        send_error(kErrUnavailable, "too many messages for you while your process moved; log in again");
        close_after_write(CloseReason::kUnavailable, ws::kCloseTryAgainLater);
        return;
      }
      send_frame(m->proto_id(), m->body().raw(), (m->request_id() & kClientUnreliable) != 0);
      return;
    case Kind::kReply:
      if (state_ == State::kEnsuring && m->request_id() == ensure_ref_) on_ensured(std::move(m));
      if (barrier_ref_ != 0 && m->request_id() == barrier_ref_) moved_path_flushed();
      return;
    case Kind::kInfo:
      if (m->proto_id() == proto::kKick && m->from() == user_) {
        ++ctx_.stats->kicks;
        send_frame(proto::kKick, m->body().raw());
        user_ = Pid();  // the process has a new writer already: no detach
        close_after_write(CloseReason::kKicked, ws::kCloseNormal);
      } else if (m->proto_id() == proto::kMoved && m->from() == user_) {
        follow_move(std::move(m));
      }
      return;
    case Kind::kDown:
      if (m->request_id() == monitor_ref_ && user_.valid()) {
        user_ = Pid();
        send_error(kErrProcessGone, "your process ended; log in again");
        close_after_write(CloseReason::kProcessEnded, ws::kCloseNormal);
      }
      return;
    default:
      return;
  }
}

// The user's process moved to another node (live migration). Its notice comes from the old pid
// before that pid's DOWN (one sender, in order): the session writes to the new pid from now
// on and watches it instead, so the DOWN that follows is no longer ours and the client sees
// nothing. The new process has this connection as its writer already (it moved with it).
void Session::follow_move(MessagePtr m) {
  pb::Moved moved;
  try {
    moved = m->as<pb::Moved>();
  } catch (const std::exception&) {
    return;
  }
  const Pid to = Pid::from_raw(moved.new_pid());
  if (!to.valid() || barrier_ref_ != 0) return;
  ++ctx_.stats->moves;
  // Frames sent to the old pid may still be on their way there, to be relayed: a call on the
  // same path (the old pid relays it behind them, and the runtime answers it on arrival) says
  // when they are all at the new process. Until then the client's frames wait here, so that
  // none overtakes an earlier one. Any answer will do, an error too (the old node died).
  moving_to_ = to;
  // The old pid's frames all came before this notice (one sender, one path): the new one's
  // that waited go out now, in order.
  auto early = std::move(after_move_frames_);
  after_move_frames_.clear();
  for (MessagePtr& f : early) {
    if (f->from() == to) send_frame(f->proto_id(), f->body().raw(), (f->request_id() & kClientUnreliable) != 0);
  }
  monitor_ref_ = ++ctx_.refs;  // the old pid's DOWN is no longer ours
  barrier_ref_ = ++ctx_.refs;
  auto* barrier = new Message(user_, pid_, Kind::kCall, proto::kMoved, Body());
  barrier->set_request_id(barrier_ref_);
  ctx_.node->route(barrier);
}

void Session::moved_path_flushed() {
  barrier_ref_ = 0;
  user_ = moving_to_;
  moving_to_ = Pid();
  ctx_.send(pid_, user_, Kind::kMonitor, 0, Body(), monitor_ref_);
  auto held = std::move(moving_frames_);
  moving_frames_.clear();
  for (auto& [proto, body] : held) ctx_.send(pid_, user_, Kind::kInfo, proto, Body::copy_of(body));
}

void Session::kick(const std::string& why) {
  ++ctx_.stats->kicks;
  spdlog::info("gateway: kicking user {} ({}): {}", user_name_, pid_.to_string(), why);
  send_frame(proto::kKick, why);
  close_after_write(CloseReason::kKicked, ws::kCloseNormal);  // the process is told (kDetach) and lives on
}

bool Session::reconnect(const std::string& why) {
  if (state_ != State::kReady || told_to_reconnect_) return false;
  told_to_reconnect_ = true;
  ++ctx_.stats->reconnects;
  send_frame(proto::kReconnect, why);
  return true;
}

// -----------------------------------------------------------------------------------------
// Output and endings.

void Session::send_frame(uint32_t proto, std::string_view body, bool unreliable) {
  ++ctx_.stats->frames_out;
  if (transport_) transport_->write_frame(proto, body, unreliable);
}

void Session::send_error(uint32_t code, const std::string& message) {
  pb::ErrorFrame e;
  e.set_code(code);
  e.set_message(message);
  send_frame(proto::kError, e.SerializeAsString());
}

void Session::auth_failed(GatewayStats::AuthFailure reason, const std::string& message) {
  ++ctx_.stats->auth_failures[reason];
  static LogThrottle throttle;
  if (uint64_t left_out; throttle.allow(&left_out)) {
    spdlog::info("gateway: refused a client ({}): {}{}", GatewayStats::kAuthFailureReasons[reason], message,
                 left_out_note(left_out));
  }
  send_error(kErrUnauthenticated, message);
  close_after_write(CloseReason::kAuthFailed, ws::kClosePolicy);
}

void Session::bad_frame(const std::string& why, uint16_t ws_code) {
  static LogThrottle throttle;
  if (uint64_t left_out; throttle.allow(&left_out)) spdlog::info("gateway: closing a client: {}{}", why, left_out_note(left_out));
  send_error(kErrBadFrame, why);
  close_after_write(CloseReason::kBadFrame, ws_code);
}

void Session::auth_timed_out() {
  if (state_ == State::kEnsuring) {  // the client did its part: the cluster was slow
    send_error(kErrUnavailable, "logging in took too long; retry");
    close_after_write(CloseReason::kUnavailable, ws::kCloseTryAgainLater);
    return;
  }
  ++ctx_.stats->auth_failures[GatewayStats::kTimeout];
  send_error(kErrUnauthenticated, "no AUTH in time");
  close_after_write(CloseReason::kAuthTimeout, ws::kClosePolicy);
}

void Session::idle_timed_out() {
  send_error(kErrIdle, "idle for too long (send heartbeats)");
  close_after_write(CloseReason::kIdle, ws::kClosePolicy);
}

// Lets what is queued reach the client, then closes; a client that never drains it is cut
// by the closing deadline.
void Session::close_after_write(CloseReason why, uint16_t ws_code) {
  if (state_ == State::kClosing) return;
  ending(why);
  ctx_.closing_deadlines->add(this, ctx_.now());
  if (transport_) transport_->close_after_write(why, ws_code);  // may end in on_closed at once
}

void Session::close(CloseReason why) {
  if (state_ != State::kClosing) ending(why);
  release();
}

void Session::ending(CloseReason why) {
  state_ = State::kClosing;
  left_auth();
  why_ = why;
  switch (why) {
    case CloseReason::kSlowReader: ++ctx_.stats->cut_slow; break;
    case CloseReason::kIdle: ++ctx_.stats->cut_idle; break;
    case CloseReason::kBadFrame: ++ctx_.stats->cut_bad; break;
    default: break;
  }
  spdlog::debug("gateway: closing {}: {}", pid_.to_string(), describe(why));
  detach();
}

// Tells the user's process its client is gone, and stops watching it.
void Session::detach() {
  if (!user_.valid()) return;
  ctx_.send(pid_, user_, Kind::kInfo, proto::kDetach, Body());
  ctx_.send(pid_, user_, Kind::kDemonitor, 0, Body(), monitor_ref_);
  user_ = Pid();
}

void Session::release() {
  if (released_) return;
  released_ = true;
  state_ = State::kClosing;
  left_auth();
  DeadlineList<Session>::remove(this);
  if (Transport* t = std::exchange(transport_, nullptr)) t->close(why_);
  ctx_.forget(this);
}

}  // namespace behavior::gateway
