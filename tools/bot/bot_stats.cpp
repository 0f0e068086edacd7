// bot_stats.cpp — merging the drivers' tallies, transport names, and the stderr line writer
// shared by the drivers' error notes and the progress line (see bot_stats.h).
#include "bot_stats.h"

#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace behavior::bot {

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::kTcp:
      return "tcp";
    case Transport::kWebSocket:
      return "ws";
    case Transport::kUdp:
      return "udp";
  }
  return "?";
}

void Tally::merge(Tally& o) {
  players += o.players;
  for (const auto& [k, v] : o.players_by_transport) players_by_transport[k] += v;
  logins += o.logins;
  login_throttled += o.login_throttled;
  login_overloaded += o.login_overloaded;
  joins += o.joins;
  reconnects += o.reconnects;
  gateway_reconnects += o.gateway_reconnects;
  same_process += o.same_process;
  msgs_sent += o.msgs_sent;
  msgs_received += o.msgs_received;
  chat.add(o.chat);
  ping.add(o.ping);
  position.add(o.position);
  others_chat += o.others_chat;
  others_reordered += o.others_reordered;
  others_duplicated += o.others_duplicated;
  others_old_session += o.others_old_session;
  positions_unreliable_expected += o.positions_unreliable_expected;
  positions_unreliable_received += o.positions_unreliable_received;
  positions_others += o.positions_others;
  scores += o.scores;
  player_joined_events += o.player_joined_events;
  player_left_events += o.player_left_events;
  player_left_in_play += o.player_left_in_play;
  drain_timeouts += o.drain_timeouts;
  stale_refusals += o.stale_refusals;
  state_checks += o.state_checks;
  process_changes += o.process_changes;
  state_violations += o.state_violations;
  for (const auto& [v, n] : o.players_by_code_version) players_by_code_version[v] += n;
  code_version_regressions += o.code_version_regressions;
  for (const auto& [k, v] : o.errors) errors[k] += v;
  chat_rtt_us.merge(o.chat_rtt_us);
  ping_rtt_us.merge(o.ping_rtt_us);
  login_us.merge(o.login_us);
  first_join_done_us = std::max(first_join_done_us, o.first_join_done_us);
  players_joined += o.players_joined;
}

namespace {
std::mutex console_mutex;
const bool stderr_is_tty = ::isatty(STDERR_FILENO) == 1;
}  // namespace

void console_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(console_mutex);
  // "\r\033[K" wipes a progress line the next one redraws anyway.
  std::fprintf(stderr, "%s%s\n", stderr_is_tty ? "\r\033[K" : "", line.c_str());
}

void console_progress(const std::string& line, bool final) {
  std::lock_guard<std::mutex> lock(console_mutex);
  if (stderr_is_tty) {
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace behavior::bot
