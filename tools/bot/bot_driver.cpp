// bot_driver.cpp — the players' script and checks on a libuv loop (Driver) and the blocking
// connection setup on a thread pool (Setup); see bot_driver.h and bot_checker.h for the rules.
#include "bot_driver.h"

#include <behavior/client_frame.h>
#include <behavior/message.h>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <random>
#include <unordered_set>

#include "game.pb.h"
#include <behavior/system.pb.h>

namespace behavior::bot {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------
// Setup: login → connect → AUTH, blocking, on pool threads.

Setup::Setup(const Config& config, int threads) : config_(config) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

Setup::~Setup() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Setup::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void Setup::work() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closing, nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job.done(run(job));
  }
}

SetupResult Setup::run(const Job& job) const {
  SetupResult r;
  r.player = job.player;
  const Millis timeout(config_.setup_timeout_ms);
  const int64_t t0 = now_us();
  // Players spread over the name servers; one that does not answer (down, or a 5xx) sends
  // the login to the next. An answer (401, 429...) is final.
  const size_t n = std::max<size_t>(1, config_.name_servers.size());
  Result<LoginResult> login = Status::unavailable("no name server");
  for (size_t i = 0; i < n; ++i) {
    const auto& [host, port] = config_.name_servers.empty()
                                   ? std::pair<std::string, int>(config_.name_server_host, config_.name_server_port)
                                   : config_.name_servers[(job.player + i) % n];
    login = behavior::login(host, port, job.user, config_.password, timeout,
                            config_.https_login ? config_.tls.get() : nullptr);
    if (login.ok() || login.status().message().starts_with("4")) break;
  }
  r.login_us = now_us() - t0;
  if (!login.ok()) {
    r.stage = "login";
    r.status = login.status();
    return r;
  }
  r.logged_in = true;
  r.login = std::move(*login);
  // WebSocket and TCP: over TLS when the gateway offers it (wss, tcps), and only then with --tls.
  std::string address;
  bool secure = false;
  switch (job.transport) {
    case Transport::kTcp:
      secure = !r.login.gateway_tcps.empty();
      address = secure ? r.login.gateway_tcps : config_.require_tls ? std::string() : r.login.gateway_tcp;
      break;
    case Transport::kUdp: address = r.login.gateway_udp; break;
    case Transport::kWebSocket:
      secure = !r.login.gateway_wss.empty();
      address = secure ? r.login.gateway_wss : config_.require_tls ? std::string() : r.login.gateway_ws;
      break;
  }
  if (address.empty()) {
    r.stage = "connect";
    r.status = Status::unavailable(std::string("the name server offered no ") +
                                   (job.transport == Transport::kWebSocket && config_.require_tls ? "wss"
                                    : job.transport == Transport::kTcp && config_.require_tls     ? "tcps"
                                                                                                  : transport_name(job.transport)) +
                                   " address for the gateway");
    return r;
  }
  Result<std::unique_ptr<GameClient>> client =
      GameClient::connect(job.transport, address, timeout, secure ? config_.tls.get() : nullptr);
  if (!client.ok()) {
    r.stage = "connect";
    r.status = client.status();
    return r;
  }
  Result<std::string> pid = (*client)->auth(r.login.ticket, timeout);
  if (!pid.ok()) {
    r.stage = "auth";
    r.status = pid.status();
    return r;
  }
  r.pid = std::move(*pid);
  r.client = std::move(*client);
  return r;
}

// ---------------------------------------------------------------------------------------
// Player: one simulated client, owned by its driver's loop thread.

enum class State {
  kWaiting,     // until wake_us, then log in (again)
  kConnecting,  // a Setup job is running
  kJoining,     // JOIN_ROOM sent, waiting for JOINED
  kPlaying,     // running the script
  kDraining,    // play is over; waiting for its own echoes still in flight
  kDone,
};

struct Player {
  PlayerSpec spec;
  std::string user;  // the name the server uses for us (from login)
  State state = State::kWaiting;
  std::mt19937_64 rng;
  int64_t wake_us = 0;
  int64_t join_deadline_us = 0;
  int64_t next_action_us = std::numeric_limits<int64_t>::max();
  int64_t last_send_us = 0;
  std::vector<int64_t> reconnect_at;  // ascending
  size_t reconnects_done = 0;
  int failures = 0;  // consecutive failed attempts to get (back) into the room

  std::unique_ptr<GameClient> client;
  uv_poll_t* poll = nullptr;
  bool backlog = false;  // frames may be buffered in the client beyond what poll sees
  bool kicked = false;
  bool joined_once = false;
  uint32_t code_version = 0;  // of the last PONG: the game code that answered (hot update)
  uint64_t session = 0;  // connections that authenticated
  uint16_t gateway_id = 0;     // the gateway of the current connection (from its login)
  uint16_t left_gateway = 0;   // the gateway whose RECONNECT we obey (until logged in elsewhere)
  std::string pid;       // the user's process from the first AUTH

  int width = 1, height = 1, x = 0, y = 0;
  uint64_t chat_seq = 0, ping_seq = 0, move_seq = 0;
  // Continuity of the player's durable state: its score as last told, and where it asked to
  // stand (oldest first) since the newest position the server confirmed.
  int score = 0;
  struct Step {
    uint64_t seq;  // the MOVE's seq (the JOINED's position: the move_seq then)
    int64_t us;
    int x, y;
  };
  std::deque<Step> steps;
  uint64_t confirmed_seq = 0;  // newest own POSITION received (reliable or not)
  bool after_failure = false;  // connection, room or process lost since the last JOINED
  EchoTracker chats, pings, positions;
  std::unordered_set<uint64_t> unreliable_pending;  // own moves over UDP, this session
  SenderOrder others;
};

namespace {

constexpr int64_t kTickMs = 10;  // the KCP interval the gateway uses, too
constexpr int64_t kHeartbeatAfterUs = 10'000'000;
constexpr int kMaxActionsPerTick = 16;
constexpr int kMaxFramesPerDrain = 4096;
constexpr int kMaxNotes = 25;      // error and anomaly lines printed; all are counted
constexpr size_t kMaxSteps = 256;  // own moves kept for the state check (unconfirmed ones stay)
std::atomic<int> notes_printed{0};

void note(const std::string& line) {
  const int n = notes_printed.fetch_add(1);
  if (n < kMaxNotes) {
    console_line("bot: " + line);
  } else if (n == kMaxNotes) {
    console_line("bot: (further errors and anomalies are counted, not printed)");
  }
}

template <class T>
bool parse(const std::string& body, T* out) {
  return out->ParseFromString(body);
}

double uniform(std::mt19937_64& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

}  // namespace

// ---------------------------------------------------------------------------------------
// Driver

Driver::Driver(const Config& config, Setup& setup, LiveCounters& live, std::vector<PlayerSpec> specs,
               int64_t start_us, const std::atomic<bool>& stop)
    : config_(config),
      setup_(setup),
      live_(live),
      stop_(stop),
      start_us_(start_us),
      play_end_us_(start_us + static_cast<int64_t>(config.duration_s * 1e6)) {
  uv_loop_init(&loop_);
  uv_timer_init(&loop_, &tick_);
  tick_.data = this;
  uv_async_init(&loop_, &async_, &Driver::on_async);
  async_.data = this;
  loop_.data = this;
  const int64_t duration_us = play_end_us_ - start_us_;
  for (PlayerSpec& spec : specs) {
    auto p = std::make_unique<Player>();
    p->rng.seed(config.seed * 0x9E3779B97F4A7C15ull + spec.index + 1);
    p->user = spec.user;
    // Deliberate reconnects spread over the run: the k-th near k/(K+1) of it, jittered.
    const int k_total = config.reconnects;
    for (int k = 1; k <= k_total; ++k) {
      const double slot = static_cast<double>(duration_us) / (k_total + 1);
      const double at = slot * k + uniform(p->rng, -0.25, 0.25) * slot;
      p->reconnect_at.push_back(start_us_ + static_cast<int64_t>(at));
    }
    std::sort(p->reconnect_at.begin(), p->reconnect_at.end());
    ++tally_.players;
    ++tally_.players_by_transport[transport_name(spec.transport)];
    p->spec = std::move(spec);
    players_.push_back(std::move(p));
  }
}

Driver::~Driver() { uv_loop_close(&loop_); }

void Driver::run() {
  for (auto& p : players_) start_setup(*p);
  uv_timer_start(&tick_, &Driver::on_tick, kTickMs, kTickMs);
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& p : players_) ++tally_.players_by_code_version[p->code_version];
}

void Driver::on_tick(uv_timer_t* t) { static_cast<Driver*>(t->data)->tick(); }

void Driver::on_async(uv_async_t* a) { static_cast<Driver*>(a->data)->take_setups(); }

void Driver::on_readable(uv_poll_t* h, int status, int) {
  Player* p = static_cast<Player*>(h->data);
  Driver* d = static_cast<Driver*>(h->loop->data);
  if (status < 0) {
    d->connection_failed(*p, "disconnected", std::string("poll: ") + uv_strerror(status));
    return;
  }
  d->drain(*p);
}

bool Driver::all_done() const {
  return std::all_of(players_.begin(), players_.end(), [](const auto& p) { return p->state == State::kDone; });
}

void Driver::tick() {
  if (closing_) return;
  const int64_t now = now_us();
  if (phase_ == Phase::kPlay && (now >= play_end_us_ || stop_.load(std::memory_order_relaxed))) {
    // Play is over: nobody starts anything new; echoes in flight get until the deadline.
    phase_ = Phase::kDrain;
    drain_deadline_us_ = now + static_cast<int64_t>(config_.drain_s * 1e6);
    for (auto& p : players_) {
      if (p->state == State::kWaiting) {
        p->state = State::kDone;
      } else if (p->state == State::kJoining) {
        end_connection(*p, End::kFinished);
        p->state = State::kDone;
      } else if (p->state == State::kPlaying) {
        p->state = State::kDraining;
      }
    }
  }
  const bool drain_over = phase_ == Phase::kDrain && now >= drain_deadline_us_;
  for (auto& owned : players_) {
    Player& p = *owned;
    if (p.state == State::kWaiting && now >= p.wake_us) {
      start_setup(p);
      continue;
    }
    if (p.state != State::kJoining && p.state != State::kPlaying && p.state != State::kDraining) continue;
    // KCP needs its timers run (retransmits, window probes) even when nothing arrives.
    if (p.backlog || p.spec.transport == Transport::kUdp) drain(p);
    switch (p.state) {
      case State::kJoining:
        if (now >= p.join_deadline_us) {
          connection_failed(p, "join_timeout",
                            "no JOINED within " + std::to_string(config_.join_timeout_ms) + " ms of JOIN_ROOM");
        }
        break;
      case State::kPlaying:
        if (p.reconnects_done < p.reconnect_at.size() && now >= p.reconnect_at[p.reconnects_done]) {
          ++p.reconnects_done;
          ++tally_.reconnects;
          // One more action first, so the drop leaves a message in flight as a real client's
          // would: the abandoned-by-reconnect rule gets exercised, not just documented.
          if (config_.rate > 0) act(p);
          if (p.state != State::kPlaying) break;  // the send failed: already handled
          end_connection(p, End::kDeliberate);
          p.state = State::kWaiting;
          p.wake_us = now;
          break;
        }
        for (int n = 0; p.state == State::kPlaying && p.next_action_us <= now; ++n) {
          if (n == kMaxActionsPerTick) {  // far behind (a stall): skip ahead, do not burst
            schedule_next_action(p, now);
            break;
          }
          act(p);
          p.next_action_us += static_cast<int64_t>(1e6 / config_.rate * uniform(p.rng, 0.5, 1.5));
        }
        if (p.state == State::kPlaying && now - p.last_send_us > kHeartbeatAfterUs) {
          send(p, proto::kHeartbeat, "bot");  // keeps a slow script under the idle timeout
        }
        break;
      case State::kDraining:
        if (p.chats.pending() == 0 && p.pings.pending() == 0 && p.positions.pending() == 0) {
          finish(p);
        } else if (drain_over) {
          ++tally_.drain_timeouts;
          note("drain deadline: " + p.spec.user + " still waits for " +
               std::to_string(p.chats.pending() + p.pings.pending() + p.positions.pending()) +
               " echoes; they count as lost");
          p.chats.finish();
          p.pings.finish();
          p.positions.finish();
          finish(p);
        }
        break;
      default:
        break;
    }
  }
  if (phase_ != Phase::kPlay && setups_in_flight_ == 0 && all_done()) {
    closing_ = true;
    for (auto& p : players_) {
      if (!p->joined_once) error(*p, "never_joined", "never got into its room during the run");
      collect(*p);
    }
    uv_timer_stop(&tick_);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }
}

void Driver::start_setup(Player& p) {
  p.state = State::kConnecting;
  ++setups_in_flight_;
  setup_.submit(Setup::Job{p.spec.index, p.spec.user, p.spec.transport, [this](SetupResult r) {
                             // The send happens under the lock: once the loop has taken the
                             // result, this thread no longer touches the async handle.
                             std::lock_guard<std::mutex> lock(inbox_mu_);
                             inbox_.push_back(std::move(r));
                             uv_async_send(&async_);
                           }});
}

void Driver::take_setups() {
  std::vector<SetupResult> results;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    results.swap(inbox_);
  }
  for (SetupResult& r : results) {
    // Specs are numbered across drivers; find ours by index.
    for (auto& p : players_) {
      if (p->spec.index == r.player) {
        setup_done(*p, std::move(r));
        break;
      }
    }
  }
}

void Driver::setup_done(Player& p, SetupResult r) {
  --setups_in_flight_;
  if (r.logged_in) {
    ++tally_.logins;
    live_.logins.fetch_add(1, std::memory_order_relaxed);
    tally_.login_us.add(r.login_us);
  }
  const int64_t now = now_us();
  if (r.logged_in && p.left_gateway != 0 && r.login.gateway_id == p.left_gateway) {
    // The name server must not send anyone to a gateway that drains.
    error(p, "sent_to_draining_gateway",
          "the login after a RECONNECT named gateway " + std::to_string(p.left_gateway) + " again");
  }
  if (!r.stage.empty()) {
    if (r.stage == "login" && r.status.message().starts_with("429")) {
      // The name server limits logins per client address, and every bot shares one: that
      // is the server asking us to come back later, not a failure. Retry with jitter; a
      // player that never gets in is reported at the end (never_joined).
      ++tally_.login_throttled;
      if (tally_.login_throttled == 1) {
        note("the name server throttles logins from this address (429); players retry. For load tests run it "
             "with --login-rate 0");
      }
      p.state = phase_ == Phase::kPlay ? State::kWaiting : State::kDone;
      p.wake_us = now + static_cast<int64_t>(uniform(p.rng, 0.1, 1.0) * 1e6);
      return;
    }
    if (r.stage == "login" && r.status.message().starts_with("503") &&
        r.status.message().find("at capacity") != std::string::npos) {
      // The cluster refuses new players while every node is overloaded (503 + Retry-After 2):
      // the overload behaviour, not a failure. Come back after the Retry-After, with jitter.
      ++tally_.login_overloaded;
      if (tally_.login_overloaded == 1) note("the cluster is at capacity (503): new players wait and retry");
      p.state = phase_ == Phase::kPlay ? State::kWaiting : State::kDone;
      p.wake_us = now + static_cast<int64_t>(uniform(p.rng, 2.0, 3.0) * 1e6);
      return;
    }
    error(p, r.stage + "_failed", r.status.to_string());
    ++p.failures;
    if (phase_ == Phase::kPlay) {
      p.state = State::kWaiting;
      p.wake_us = now + std::min<int64_t>(5'000'000, 200'000LL << std::min(p.failures, 5));
    } else {
      p.state = State::kDone;
    }
    return;
  }
  if (phase_ != Phase::kPlay) {  // too late to play
    p.state = State::kDone;
    return;
  }
  if (!r.login.user.empty()) p.user = r.login.user;
  ++p.session;
  if (p.pid.empty()) {
    p.pid = r.pid;
  } else if (r.pid == p.pid) {
    ++tally_.same_process;
  } else {
    // A new activation (its node died, it idled out) or the same process moved (live
    // migration): not an error in itself; what it kept is checked at the next JOINED.
    ++tally_.process_changes;
    p.pid = r.pid;
  }
  p.client = std::move(r.client);
  p.gateway_id = r.login.gateway_id;
  p.left_gateway = 0;
  p.kicked = false;
  p.backlog = true;  // AUTH may have read frames past its answer
  p.state = State::kJoining;
  if (Status s = watch(p); !s.ok()) return connection_failed(p, "connect_failed", s.to_string());
  if (send_join(p, now)) drain(p);
}

bool Driver::send_join(Player& p, int64_t now) {
  p.join_deadline_us = now + config_.join_timeout_ms * 1000;
  game::JoinRoom join;
  join.set_room(p.spec.room);
  return send(p, game::JOIN_ROOM, join.SerializeAsString());
}

// The room's process ended (its node died) while the player's own process lives on: what
// was in flight to the room went with it (abandoned by failure, as on a failed connection;
// pings go to the player's process and are unaffected). Join again on this connection: the
// room is activated anew on a live node.
void Driver::room_lost(Player& p, const std::string& detail) {
  error(p, "room_lost", detail);
  p.after_failure = true;
  live_.connected.fetch_sub(1, std::memory_order_relaxed);
  p.chats.end_session(false);
  p.positions.end_session(false);
  p.unreliable_pending.clear();
  p.state = State::kJoining;
  (void)send_join(p, now_us());  // a failed send was handled (connection_failed)
}

// The gateway drains and asks us to log in again (a RECONNECT frame): like a deliberate
// reconnect, not a failure. What was in flight on this connection is abandoned by reconnect
// (its echo would come back on the connection we leave), a skipped seq is still lost; the
// login that follows must name another gateway and find the same process.
void Driver::gateway_reconnect(Player& p, const std::string& reason) {
  ++tally_.gateway_reconnects;
  if (tally_.gateway_reconnects == 1) note("gateway " + std::to_string(p.gateway_id) + " asks its clients to reconnect: " + reason);
  p.left_gateway = p.gateway_id;
  const bool play_on = p.state == State::kPlaying || p.state == State::kJoining;
  end_connection(p, End::kDeliberate);
  if (play_on && phase_ == Phase::kPlay) {
    p.state = State::kWaiting;
    p.wake_us = now_us();
  } else {
    p.state = State::kDone;  // play is over: what it still waited for was abandoned, not lost
  }
}

// A poll handle on the client's socket: the loop reads only when there is something to read.
Status Driver::watch(Player& p) {
  auto* h = new uv_poll_t;
  const int fd = p.client->fd();
  if (int rc = uv_poll_init(&loop_, h, fd); rc != 0) {
    delete h;  // not initialized: nothing for the loop to close
    return Status::internal(std::string("cannot watch the socket: ") + uv_strerror(rc));
  }
  h->data = &p;
  p.poll = h;
  // uv_poll_init made the socket non-blocking. GameClient's sends expect a blocking socket
  // (TCP's has a send timeout); libuv only waits for readability on it, never reads.
  if (int flags = ::fcntl(fd, F_GETFL); flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (int rc = uv_poll_start(h, UV_READABLE, &Driver::on_readable); rc != 0) {
    return Status::internal(std::string("cannot watch the socket: ") + uv_strerror(rc));
  }
  return {};
}

void Driver::drain(Player& p) {
  for (int n = 0; n < kMaxFramesPerDrain; ++n) {
    if (!p.client) return;
    Result<ClientFrame> f = p.client->receive(Millis(0));
    if (!f.ok()) {
      if (f.status().code() == Code::kTimeout) {
        p.backlog = false;
        return;
      }
      const bool closed = f.status().code() == Code::kUnavailable;
      connection_failed(p, closed ? "disconnected" : "protocol_error", f.status().to_string());
      return;
    }
    ++tally_.msgs_received;
    live_.received.fetch_add(1, std::memory_order_relaxed);
    handle_frame(p, *f);
  }
  p.backlog = true;  // more may be buffered: the next tick goes on
}

void Driver::handle_frame(Player& p, ClientFrame& f) {
  const int64_t now = now_us();
  const bool sampled = now - start_us_ >= static_cast<int64_t>(config_.warmup_s * 1e6);
  auto echo = [&](EchoTracker& tracker, const char* stream, uint64_t seq, LatencySamples* rtt) {
    int64_t rtt_us = 0;
    switch (tracker.received(seq, now, &rtt_us)) {
      case EchoOutcome::kInOrder:
        if (rtt && sampled) rtt->add(rtt_us);
        break;
      case EchoOutcome::kReordered:
        if (rtt && sampled) rtt->add(rtt_us);
        anomaly(p, std::string(stream) + " seq " + std::to_string(seq) + " came back after a later one (reordered)");
        break;
      case EchoOutcome::kDuplicate:
        anomaly(p, std::string(stream) + " seq " + std::to_string(seq) + " came back twice (duplicated)");
        break;
      case EchoOutcome::kLateAbandoned:
        break;
      case EchoOutcome::kUnexpected:
        error(p, "unexpected_seq", std::string(stream) + " seq " + std::to_string(seq) + " was never sent");
        break;
    }
  };
  switch (f.proto_id) {
    case game::JOINED:
      if (p.state == State::kJoining) {
        on_joined(p, f.body);
      } else {
        error(p, "unexpected_frame", "JOINED without a JOIN_ROOM waiting for it");
      }
      return;
    case game::POSITION: {
      game::Position pos;
      if (!parse(f.body, &pos)) return error(p, "bad_frame", "POSITION does not parse");
      if (pos.user() == p.user) p.confirmed_seq = std::max(p.confirmed_seq, pos.seq());
      if (pos.user() != p.user) {
        ++tally_.positions_others;
      } else if (p.spec.transport == Transport::kUdp) {
        if (p.unreliable_pending.erase(pos.seq())) ++tally_.positions_unreliable_received;
      } else {
        echo(p.positions, "POSITION", pos.seq(), nullptr);
      }
      return;
    }
    case game::CHAT_MESSAGE: {
      game::ChatMessage chat;
      if (!parse(f.body, &chat)) return error(p, "bad_frame", "CHAT_MESSAGE does not parse");
      if (chat.from() == p.user) {
        echo(p.chats, "CHAT_MESSAGE", chat.seq(), &tally_.chat_rtt_us);
        return;
      }
      ++tally_.others_chat;
      switch (p.others.received(chat.from(), chat_session(chat.text()), chat.seq())) {
        case OrderOutcome::kInOrder:
          break;
        case OrderOutcome::kReordered:
          ++tally_.others_reordered;
          anomaly(p, "chat seq " + std::to_string(chat.seq()) + " from " + chat.from() + " came after a later one");
          break;
        case OrderOutcome::kDuplicate:
          ++tally_.others_duplicated;
          anomaly(p, "chat seq " + std::to_string(chat.seq()) + " from " + chat.from() + " came twice");
          break;
        case OrderOutcome::kOldSession:
          ++tally_.others_old_session;
          break;
      }
      return;
    }
    case game::PONG: {
      game::Ping pong;
      if (!parse(f.body, &pong)) return error(p, "bad_frame", "PONG does not parse");
      echo(p.pings, "PONG", pong.seq(), &tally_.ping_rtt_us);
      // The version of the code that answered (a hot update shows here): never backwards,
      // unless a reload was rolled back.
      if (pong.version() < p.code_version) ++tally_.code_version_regressions;
      p.code_version = pong.version();
      return;
    }
    case game::SCORE: {
      ++tally_.scores;
      game::Score score;
      if (!parse(f.body, &score)) return error(p, "bad_frame", "SCORE does not parse");
      if (score.user() == p.user) p.score = score.score();
      return;
    }
    case game::PLAYER_JOINED:
      ++tally_.player_joined_events;
      return;
    case game::PLAYER_LEFT:
      ++tally_.player_left_events;
      // The drain's closes (this thread's or another's) come after the play's end or a stop.
      if (!stop_.load(std::memory_order_relaxed) && now_us() < play_end_us_) ++tally_.player_left_in_play;
      return;
    case proto::kHeartbeat:
      return;
    case proto::kReconnect:
      return gateway_reconnect(p, f.body);
    case proto::kKick:
      p.kicked = true;
      return error(p, "kicked", "the gateway kicked us: " + f.body);
    case proto::kError: {
      pb::ErrorFrame e;
      if (!e.ParseFromString(f.body)) return error(p, "bad_frame", "an error frame does not parse");
      if (e.code() == game::ERROR_NOT_IN_ROOM && p.state == State::kJoining) {
        // We send nothing but JOIN_ROOM before JOINED: this answers a MOVE or CHAT the
        // previous connection left in flight, which the server saw after we left the room.
        ++tally_.stale_refusals;
        return;
      }
      if (e.code() == game::ERROR_ROOM_UNAVAILABLE && p.state == State::kPlaying) return room_lost(p, e.message());
      return error(p, "error_" + std::to_string(e.code()), e.message());
    }
    default:
      return error(p, "unexpected_frame", "protoID " + std::to_string(f.proto_id));
  }
}

void Driver::on_joined(Player& p, const std::string& body) {
  game::Joined joined;
  if (!parse(body, &joined)) return connection_failed(p, "bad_frame", "JOINED does not parse");
  if (joined.room() != p.spec.room) {
    error(p, "join_wrong_room", "JOINED names room " + joined.room() + ", we asked for " + p.spec.room);
  }
  int seen = 0;
  for (const game::PlayerState& s : joined.players()) {
    if (s.user() != p.user) continue;
    ++seen;
    if (p.joined_once) check_state(p, s);
    p.x = s.x();
    p.y = s.y();
    p.score = s.score();
  }
  // Where the server put us is confirmed: the baseline of the next check.
  p.steps.clear();
  p.steps.push_back({p.move_seq, now_us(), p.x, p.y});
  p.confirmed_seq = p.move_seq;
  p.after_failure = false;
  if (seen != 1) {
    error(p, "join_self_missing",
          "JOINED lists us " + std::to_string(seen) + " times among " + std::to_string(joined.players_size()) + " players");
  }
  p.width = std::max(1, joined.width());
  p.height = std::max(1, joined.height());
  const int64_t now = now_us();
  p.state = State::kPlaying;
  p.failures = 0;
  ++tally_.joins;
  live_.joins.fetch_add(1, std::memory_order_relaxed);
  live_.connected.fetch_add(1, std::memory_order_relaxed);
  if (!p.joined_once) {
    p.joined_once = true;
    ++tally_.players_joined;
    tally_.first_join_done_us = std::max(tally_.first_join_done_us, now - start_us_);
  }
  schedule_next_action(p, now);
}

// Back in the room after a reconnect: the room (or the player's saved state, when its
// process or the room was activated anew) must put us where we were, with our score.
// Exactly: at the newest confirmed position or one we asked for since. After a failure the
// saved state may be older by up to --state-window-ms (the save interval). The score is
// saved before we are told of it: never less than the last we heard, at most one more in
// flight.
void Driver::check_state(Player& p, const game::PlayerState& s) {
  ++tally_.state_checks;
  std::string why;
  if (s.score() < p.score || s.score() > p.score + 1) {
    why = "score " + std::to_string(s.score()) + ", was " + std::to_string(p.score);
  } else {
    size_t base = 0;  // the newest step the server confirmed
    for (size_t i = 0; i < p.steps.size(); ++i) {
      if (p.steps[i].seq <= p.confirmed_seq) base = i;
    }
    size_t from = base;
    if (p.after_failure && !p.steps.empty()) {
      const int64_t oldest = p.steps[base].us - config_.state_window_ms * 1000;
      while (from > 0 && p.steps[from - 1].us >= oldest) --from;
      if (from > 0) --from;  // what was saved before the window began still stood at its start
    }
    bool found = false;
    for (size_t i = from; i < p.steps.size() && !found; ++i) found = p.steps[i].x == s.x() && p.steps[i].y == s.y();
    if (!found) {
      why = "position (" + std::to_string(s.x()) + "," + std::to_string(s.y()) + "), was (" + std::to_string(p.x) +
            "," + std::to_string(p.y) + ") after " + std::to_string(p.steps.size() - base - 1) + " unconfirmed moves";
    }
  }
  if (why.empty()) return;
  // Printed apart from the other notes (the first ten): a fault's errors must not hide them.
  if (++tally_.state_violations <= 10) {
    console_line("bot: check failed: " + p.spec.user + " (" + transport_name(p.spec.transport) + "): state after a " +
                 (p.after_failure ? "failure" : "reconnect") + ": " + why + "; confirmed seq " +
                 std::to_string(p.confirmed_seq) + ", " + std::to_string(p.steps.size()) + " steps kept");
  }
}

void Driver::schedule_next_action(Player& p, int64_t now) {
  p.next_action_us = config_.rate > 0
                         ? now + static_cast<int64_t>(1e6 / config_.rate * uniform(p.rng, 0.5, 1.5))
                         : std::numeric_limits<int64_t>::max();
}

// One step of the script: a move (60%), a chat line (25%) or a ping (15%).
void Driver::act(Player& p) {
  const int64_t now = now_us();
  const double r = uniform(p.rng, 0, 1);
  if (r < 0.60) {
    // A random walk: one cell in one of four directions, turned back at the map's edge.
    static constexpr int kDx[] = {1, -1, 0, 0};
    static constexpr int kDy[] = {0, 0, 1, -1};
    const size_t d = static_cast<size_t>(p.rng() % 4);
    int nx = p.x + kDx[d], ny = p.y + kDy[d];
    if (nx < 0 || nx >= p.width) nx = p.x - kDx[d];
    if (ny < 0 || ny >= p.height) ny = p.y - kDy[d];
    p.x = std::clamp(nx, 0, p.width - 1);
    p.y = std::clamp(ny, 0, p.height - 1);
    game::Move move;
    move.set_x(p.x);
    move.set_y(p.y);
    move.set_seq(++p.move_seq);
    p.steps.push_back({p.move_seq, now, p.x, p.y});
    while (p.steps.size() > kMaxSteps && p.steps[1].seq <= p.confirmed_seq) p.steps.pop_front();
    if (p.spec.transport == Transport::kUdp) {
      p.unreliable_pending.insert(move.seq());
      ++tally_.positions_unreliable_expected;
    } else {
      p.positions.sent(move.seq(), now);
    }
    send(p, game::MOVE, move.SerializeAsString());
  } else if (r < 0.85) {
    game::Chat chat;
    chat.set_seq(++p.chat_seq);
    // The session tag lets other players tell a dropped connection's stragglers from reordering.
    chat.set_text("s" + std::to_string(p.session) + " #" + std::to_string(chat.seq()) + " from " + p.user);
    p.chats.sent(chat.seq(), now);
    send(p, game::CHAT, chat.SerializeAsString());
  } else {
    game::Ping ping;
    ping.set_seq(++p.ping_seq);
    ping.set_client_time_us(static_cast<uint64_t>(now));
    p.pings.sent(ping.seq(), now);
    send(p, game::PING, ping.SerializeAsString());
  }
}

bool Driver::send(Player& p, uint32_t proto_id, const std::string& body) {
  Status s = p.client->send(proto_id, body);
  if (!s.ok()) {
    connection_failed(p, "send_failed", s.to_string());
    return false;
  }
  p.last_send_us = now_us();
  ++tally_.msgs_sent;
  live_.sent.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Driver::end_connection(Player& p, End how) {
  if (p.poll) {
    uv_poll_stop(p.poll);
    uv_close(reinterpret_cast<uv_handle_t*>(p.poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    p.poll = nullptr;
  }
  if (p.state == State::kPlaying || p.state == State::kDraining) {
    live_.connected.fetch_sub(1, std::memory_order_relaxed);
  }
  const bool deliberate = how != End::kFailure;
  p.chats.end_session(deliberate);
  p.pings.end_session(deliberate);
  p.positions.end_session(deliberate);
  p.unreliable_pending.clear();
  if (p.client && deliberate && p.spec.transport == Transport::kUdp && p.client->conv() != 0) {
    (void)p.client->send_raw(udp_control(kUdpBye, p.client->conv(), ""));  // UDP has no FIN
  }
  p.client.reset();
  p.backlog = false;
}

void Driver::connection_failed(Player& p, const std::string& kind, const std::string& detail) {
  if (!p.client) return;  // already handled
  if (!p.kicked || kind != "disconnected") error(p, kind, detail);  // a kick was counted already
  p.after_failure = true;
  end_connection(p, End::kFailure);
  ++p.failures;
  if (phase_ == Phase::kPlay) {
    p.state = State::kWaiting;
    p.wake_us = now_us() + std::min<int64_t>(5'000'000, 200'000LL << std::min(p.failures, 5));
  } else {
    p.state = State::kDone;
  }
}

void Driver::finish(Player& p) {
  end_connection(p, End::kFinished);
  p.state = State::kDone;
}

void Driver::error(Player& p, const std::string& kind, const std::string& detail) {
  ++tally_.errors[kind];
  live_.errors.fetch_add(1, std::memory_order_relaxed);
  note("error " + kind + ": " + p.spec.user + " (" + transport_name(p.spec.transport) + "): " + detail);
}

void Driver::anomaly(Player& p, const std::string& what) {
  note("check failed: " + p.spec.user + " (" + transport_name(p.spec.transport) + "): " + what);
}

void Driver::collect(Player& p) {
  tally_.chat.add(p.chats.counts());
  tally_.ping.add(p.pings.counts());
  tally_.position.add(p.positions.counts());
}

}  // namespace behavior::bot
