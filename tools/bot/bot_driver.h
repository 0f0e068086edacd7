// bot_driver.h — runs many simulated players on one libuv loop (Driver), with the blocking
// steps of getting connected (login, connect, AUTH) done on a small pool of threads (Setup).
#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bot_stats.h"

namespace behavior::game {
class PlayerState;
}

namespace behavior::bot {

int64_t now_us();  // steady clock

// The outcome of one login + connect + AUTH, done off the driver's loop.
struct SetupResult {
  size_t player = 0;
  bool logged_in = false;
  std::string stage;  // where it failed: "login", "connect" or "auth" ("" = it worked)
  Status status;
  LoginResult login;
  std::string pid;  // the user's process, as AUTH named it
  std::unique_ptr<GameClient> client;
  int64_t login_us = 0;  // time the login itself took
};

// A small pool of threads for GameClient's blocking calls: the driver loops never block on
// the name server or on a handshake, so one loop can hold hundreds of players.
class Setup {
 public:
  struct Job {
    size_t player;
    std::string user;
    Transport transport;
    std::function<void(SetupResult)> done;  // called on a pool thread
  };

  Setup(const Config& config, int threads);
  ~Setup();  // finishes queued jobs, then joins the threads
  Setup(const Setup&) = delete;
  Setup& operator=(const Setup&) = delete;
  void submit(Job job);

 private:
  void work();
  SetupResult run(const Job& job) const;

  const Config& config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool closing_ = false;
  std::vector<std::thread> threads_;
};

struct PlayerSpec {
  size_t index = 0;
  std::string user;  // as sent to login; the server's spelling (LoginResult.user) is used after
  Transport transport = Transport::kTcp;
  std::string room;
};

struct Player;

// One libuv loop driving a set of players from their first login to the end of the drain
// phase: a 10 ms tick runs the script (actions, reconnects, KCP timers, phase changes), a
// poll handle per connection reads frames as they arrive. All player state is owned by the
// loop's thread; Setup hands finished connections back through an async handle.
class Driver {
 public:
  Driver(const Config& config, Setup& setup, LiveCounters& live, std::vector<PlayerSpec> players, int64_t start_us,
         const std::atomic<bool>& stop);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  void run();  // blocks until every player is done
  Tally& tally() { return tally_; }

 private:
  enum class Phase { kPlay, kDrain, kDone };
  enum class End { kDeliberate, kFailure, kFinished };

  static void on_tick(uv_timer_t* t);
  static void on_async(uv_async_t* a);
  static void on_readable(uv_poll_t* h, int status, int events);

  void tick();
  void take_setups();
  void start_setup(Player& p);
  void setup_done(Player& p, SetupResult r);
  Status watch(Player& p);
  void drain(Player& p);
  void handle_frame(Player& p, ClientFrame& f);
  void on_joined(Player& p, const std::string& body);
  bool send_join(Player& p, int64_t now);
  void room_lost(Player& p, const std::string& detail);
  void gateway_reconnect(Player& p, const std::string& reason);
  void check_state(Player& p, const game::PlayerState& s);
  void act(Player& p);
  bool send(Player& p, uint32_t proto_id, const std::string& body);
  void end_connection(Player& p, End how);
  void connection_failed(Player& p, const std::string& kind, const std::string& detail);
  void finish(Player& p);
  void error(Player& p, const std::string& kind, const std::string& detail);
  void anomaly(Player& p, const std::string& what);
  void collect(Player& p);
  void schedule_next_action(Player& p, int64_t now);
  bool all_done() const;

  const Config& config_;
  Setup& setup_;
  LiveCounters& live_;
  const std::atomic<bool>& stop_;
  uv_loop_t loop_;
  uv_timer_t tick_;
  uv_async_t async_;
  std::mutex inbox_mu_;
  std::vector<SetupResult> inbox_;
  std::vector<std::unique_ptr<Player>> players_;
  Phase phase_ = Phase::kPlay;
  int64_t start_us_;
  int64_t play_end_us_;
  int64_t drain_deadline_us_ = 0;
  size_t setups_in_flight_ = 0;
  bool closing_ = false;
  Tally tally_;
};

}  // namespace behavior::bot
