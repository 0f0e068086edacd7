// bot_stats.h — what the bot was told to do (Config) and what it counted: live counters for
// the progress line (atomics) and each driver thread's Tally, merged for the final report.
#pragma once

#include <behavior/game_client.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bot_checker.h"

namespace behavior::bot {

using Transport = GameClient::Transport;

struct Config {
  std::string name_server_host = "127.0.0.1";
  int name_server_port = 8080;
  // Every name server given (--name-server a,b,...; the first is the one above): a login
  // that gets no answer from one (down, or 5xx) is tried at the next. Name servers are
  // stateless: any of them gives a valid ticket.
  std::vector<std::pair<std::string, int>> name_servers;
  int players = 10;
  double duration_s = 20;
  std::vector<Transport> transports{Transport::kTcp};
  int rooms = 1;
  std::string room_prefix = "bots";  // rooms "bots-0" .. "bots-<rooms-1>"
  double rate = 5;                   // actions per player per second
  int reconnects = 0;                // deliberate reconnects per player during the run
  std::string user_prefix = "bot";   // users "<prefix>-0" .. "<prefix>-<players-1>"
  std::string password = "x";
  uint64_t max_errors = 0;
  bool json = false;
  int threads = 1;        // driver threads (one libuv loop each)
  int setup_threads = 4;  // threads doing the blocking login + connect + AUTH
  bool progress = true;
  uint64_t seed = 0;
  double drain_s = 5;           // after play: how long to wait for echoes still in flight
  double warmup_s = 0;          // round trips in the first seconds of play (the logins' ramp) are not sampled
  int64_t setup_timeout_ms = 5000;  // each of login, connect, AUTH
  int64_t join_timeout_ms = 5000;   // JOIN_ROOM → JOINED
  // State continuity (docs/durable.md): back in its room after a failure (connection, room or
  // process lost), a player may stand where it stood up to this long before its last move the
  // server confirmed (the demo saves positions every second); its score must be the last it
  // was told (saved before it is told), or one the server had in flight.
  int64_t state_window_ms = 2000;
  // TLS: login over HTTPS (an https:// --name-server, or --tls), WebSocket and TCP players
  // on the gateway's wss and tcps addresses when it offers them (--tls: only those). `tls` is the client
  // context (its trust: --tls-ca, the system's store, or --tls-insecure).
  bool https_login = false;
  bool require_tls = false;
  std::shared_ptr<TlsContext> tls;
};

const char* transport_name(Transport t);

// Updated by the drivers, read by the progress line.
struct LiveCounters {
  std::atomic<int64_t> connected{0};  // players in a room right now
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> logins{0};
  std::atomic<uint64_t> joins{0};  // JOINED received (a player back in its room counts again)
};

// Everything one driver counted; merged over drivers for the report.
struct Tally {
  uint64_t players = 0;
  std::map<std::string, uint64_t> players_by_transport;
  uint64_t logins = 0;        // successful POST /v1/login
  uint64_t login_throttled = 0;  // 429 from the name server (per-address limit), retried
  uint64_t login_overloaded = 0;  // 503 "at capacity" (every node overloaded), retried
  uint64_t joins = 0;         // JOINED received
  uint64_t reconnects = 0;    // deliberate drops followed by a new login
  uint64_t gateway_reconnects = 0;  // RECONNECT frames obeyed (a draining gateway): a new login
  uint64_t same_process = 0;  // a reconnect's AUTH named the same user process as before
  uint64_t process_changes = 0;  // ... named another (a new activation, or a move)
  uint64_t msgs_sent = 0;
  uint64_t msgs_received = 0;
  EchoCounts chat, ping, position;  // own streams; position: reliable transports only
  uint64_t others_chat = 0;          // other players' chat lines checked for order
  uint64_t others_reordered = 0;
  uint64_t others_duplicated = 0;
  uint64_t others_old_session = 0;   // from a connection their sender had already dropped
  uint64_t positions_unreliable_expected = 0;  // own moves over UDP (POSITION unreliable)
  uint64_t positions_unreliable_received = 0;
  uint64_t positions_others = 0;
  uint64_t scores = 0;
  uint64_t player_joined_events = 0;
  uint64_t player_left_events = 0;
  // ... of those, heard while every player still plays (before the drain, before a stop):
  // none where nobody leaves (an evacuation, a rolling upgrade, a hot update)
  uint64_t player_left_in_play = 0;
  uint64_t drain_timeouts = 0;  // players still waiting for echoes at the drain deadline
  uint64_t stale_refusals = 0;  // 409 for frames a dropped connection left in flight
  uint64_t state_checks = 0;      // rejoins whose position and score were checked
  uint64_t state_violations = 0;  // ... and were not what the player had (docs/durable.md)
  // Hot update (docs/hot_update.md): players by the game version of their last PONG, and
  // PONGs from an older version than one the player had already seen.
  std::map<uint32_t, uint64_t> players_by_code_version;
  uint64_t code_version_regressions = 0;
  std::map<std::string, uint64_t> errors;  // by kind
  LatencySamples chat_rtt_us, ping_rtt_us, login_us;
  int64_t first_join_done_us = 0;  // latest first JOINED over this driver's players (ramp)
  uint64_t players_joined = 0;     // players that joined at least once

  uint64_t error_total() const {
    uint64_t n = 0;
    for (const auto& [kind, count] : errors) n += count;
    return n;
  }
  uint64_t lost() const { return chat.lost + ping.lost + position.lost; }
  uint64_t reordered() const { return chat.reordered + ping.reordered + position.reordered + others_reordered; }
  uint64_t duplicated() const { return chat.duplicated + ping.duplicated + position.duplicated + others_duplicated; }
  uint64_t abandoned() const { return chat.abandoned + ping.abandoned + position.abandoned; }
  uint64_t abandoned_by_failure() const {
    return chat.abandoned_by_failure + ping.abandoned_by_failure + position.abandoned_by_failure;
  }
  uint64_t late_abandoned() const { return chat.late_abandoned + ping.late_abandoned + position.late_abandoned; }

  void merge(Tally& o);
};

// One line to stderr, clearing a live progress line first; safe from any thread.
void console_line(const std::string& line);
// The live progress line: redrawn in place on a terminal, one line each call otherwise.
// final ends a redrawn line so what follows starts on its own line.
void console_progress(const std::string& line, bool final);

}  // namespace behavior::bot
