// session.h — one client's life at the gateway, whatever its transport (transport.h), as an
// explicit state machine:
//
//   kAuth ──AUTH frame, ticket valid, first use──▶ kEnsuring ──process ensured──▶ kReady
//     │ (deadline: no AUTH in time)                  │ (frames held, at most 32)    │ relay both ways,
//     ▼                                              ▼                              │ heartbeats, rate limit,
//   kClosing ◀──── refused, Redis or node unreachable, kicked, process ended, idle ─┘ idle deadline
//
// In kAuth only an AUTH frame is taken. The ticket is checked (signature, expiry, this
// gateway), used once (SET NX of its nonce in Redis), and the user's process is ensured on
// the ticket's node with this session's address as its writer; then the session watches
// the process and relays: client frames become infos to the process, its kClient messages
// become frames. Reserved protoIDs are refused; heartbeats are answered here. Each session
// has an address of its own (a Pid on this node's external shard), so processes write to it
// like to any process.
#pragma once

#include <behavior/cluster.h>
#include <behavior/message.h>
#include <behavior/metrics.h>
#include <behavior/node.h>
#include <behavior/redis_client.h>
#include <behavior/websocket.h>
#include <uv.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "deadline_list.h"
#include "gateway.h"
#include "gateway_stats.h"
#include "transport.h"

namespace behavior::gateway {

class Session;

// What sessions share: the gateway's services, given to each session by reference.
struct SessionContext {
  Node* node = nullptr;
  RedisClient* redis = nullptr;
  const ClusterOptions* cluster = nullptr;
  const GatewayOptions* options = nullptr;
  GatewayStats* stats = nullptr;
  uv_loop_t* loop = nullptr;
  DeadlineList<Session>* auth_deadlines = nullptr;     // from accept to AUTH done
  DeadlineList<Session>* idle_deadlines = nullptr;     // since the last frame
  DeadlineList<Session>* closing_deadlines = nullptr;  // a client that never drains our close
  std::function<Session*(uint64_t serial)> find;      // a live session by its address's serial
  std::function<void(Session*)> forget;               // released: out of the table, freed later
  std::function<void(uint64_t peer)> authenticated;   // a counted unauthenticated session left kAuth
  uint64_t refs = 0;                                  // request ids of the sessions' calls
  bool draining = false;                              // the gateway drains: AUTH is refused (503)
  Histogram* auth_seconds = nullptr;                  // AUTH to ready
  int64_t now() const { return static_cast<int64_t>(uv_now(loop)); }
  void send(Pid from, Pid to, Kind kind, uint32_t proto, Body body, uint64_t request_id = 0) const {
    auto* m = new Message(to, from, kind, proto, std::move(body));
    m->set_request_id(request_id);
    node->route(m);
  }
};

class Session final : public TransportUser {
 public:
  enum class State : uint8_t { kAuth, kEnsuring, kReady, kClosing };

  Session(SessionContext& ctx, Transport* transport, Pid pid);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Pid pid() const { return pid_; }
  State state() const { return state_; }
  TransportKind transport_kind() const { return kind_; }
  const std::string& user_name() const { return user_name_; }

  // A message to this session's address (from the user's process, the runtime, the cluster).
  void deliver(MessagePtr m);
  // An operator's kick: a KICK frame with the reason, then the connection closes (the user's
  // process is told the client left and lives on).
  void kick(const std::string& why);
  // The gateway drains: a RECONNECT frame with the reason (docs/protocol.md). The session
  // stays open and relays on until the client leaves (it logs in again elsewhere) or the
  // gateway stops; then the user's process is told (kDetach) and lives on. False if the
  // session is not ready or was told already.
  bool reconnect(const std::string& why);
  bool told_to_reconnect() const { return told_to_reconnect_; }
  // Counted among its address's unauthenticated connections until AUTH succeeds or it ends.
  void count_unauthenticated(uint64_t peer) { unauth_peer_ = peer; }
  // Deadlines passed (the gateway's sweep).
  void auth_timed_out();
  void idle_timed_out();
  // Ends the session now (the gateway stops, or a close that never drained).
  void close(CloseReason why);
  void release();

  // TransportUser
  void on_frame(uint32_t proto, std::string_view body) override;
  void on_bad_input(const std::string& why) override;
  bool allow_control() override;
  void on_alive() override;
  void on_end(CloseReason why, uint16_t ws_code, const std::string& reason) override;
  void on_closed(CloseReason why) override;

  DeadlineList<Session>::Entry deadline_entry;  // in at most one of the context's lists

 private:
  void take_frame(uint32_t proto, std::string_view body);
  bool take_token(int64_t now);
  bool rate_allows(int64_t now);
  void authenticate(std::string_view token);
  void ensure_user(uint16_t node);
  void on_ensured(MessagePtr m);
  void follow_move(MessagePtr m);  // kMoved from the user's process: write to its new pid
  void moved_path_flushed();       // the barrier call came back: switch to the new pid
  void send_frame(uint32_t proto, std::string_view body, bool unreliable = false);
  void send_error(uint32_t code, const std::string& message);
  void auth_failed(GatewayStats::AuthFailure reason, const std::string& message);
  void bad_frame(const std::string& why, uint16_t ws_code = ws::kClosePolicy);
  void close_after_write(CloseReason why, uint16_t ws_code);
  void ending(CloseReason why);  // the bookkeeping every way out shares
  void detach();
  void touch(int64_t now) { ctx_.idle_deadlines->add(this, now); }
  void left_auth() {
    if (unauth_peer_) ctx_.authenticated(std::exchange(unauth_peer_, 0));
  }

  SessionContext& ctx_;
  Transport* transport_;  // nullptr once ended (transport.h: lifetimes)
  const TransportKind kind_;
  State state_ = State::kAuth;
  bool released_ = false;
  bool told_to_reconnect_ = false;
  CloseReason why_ = CloseReason::kClientLeft;
  Pid pid_;   // this session's address
  Pid user_;  // the user's process, once ensured (and while watched)
  uint64_t ensure_ref_ = 0;
  uint64_t monitor_ref_ = 0;
  double tokens_ = 0;  // the frame rate limit's bucket
  int64_t tokens_at_ = 0;
  int64_t last_error_at_ = -1000000;
  int64_t auth_at_ = 0;  // loop ms the AUTH arrived
  uint64_t unauth_peer_ = 0;  // see count_unauthenticated(); 0: not counted
  std::vector<std::pair<uint32_t, std::string>> early_;  // frames while ensuring
  // A move of the user's process under way (follow_move): its new pid, the barrier call's
  // ref, and the client's frames held until the barrier's answer.
  Pid moving_to_;
  uint64_t barrier_ref_ = 0;
  std::vector<std::pair<uint32_t, std::string>> moving_frames_;
  // Frames of the process it moved to that came before the old pid's kMoved (kClientAfterMove).
  std::vector<MessagePtr> after_move_frames_;
  std::string user_name_;
};

}  // namespace behavior::gateway
