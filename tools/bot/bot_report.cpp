// bot_report.cpp — formats the merged Tally: text sections and the "bot summary:" line, or
// one JSON object written with RapidJSON (see bot_report.h).
#include "bot_report.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

namespace behavior::bot {
namespace {

double per_s(uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; }
double ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

std::string transports_text(const Tally& t) {
  std::string s;
  for (Transport tr : {Transport::kTcp, Transport::kWebSocket, Transport::kUdp}) {
    auto it = t.players_by_transport.find(transport_name(tr));
    if (it == t.players_by_transport.end()) continue;
    if (!s.empty()) s += ", ";
    s += std::string(transport_name(tr)) + " " + std::to_string(it->second);
  }
  return s;
}

void latency_line(std::FILE* out, const char* name, LatencySamples& l) {
  if (l.size() == 0) {
    std::fprintf(out, "%-12s no samples\n", name);
    return;
  }
  std::fprintf(out, "%-12s p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  (%zu samples)\n", name,
               ms(l.percentile(50)), ms(l.percentile(90)), ms(l.percentile(99)), ms(l.max()), l.size());
}

void echo_line(std::FILE* out, const char* name, const EchoCounts& c) {
  using ull = unsigned long long;
  std::fprintf(out, "%-12s sent %llu, came back %llu, lost %llu, reordered %llu, duplicated %llu, abandoned by reconnect %llu",
               name, static_cast<ull>(c.sent), static_cast<ull>(c.delivered), static_cast<ull>(c.lost),
               static_cast<ull>(c.reordered), static_cast<ull>(c.duplicated), static_cast<ull>(c.abandoned));
  if (c.abandoned_by_failure) std::fprintf(out, ", by a failed connection %llu", static_cast<ull>(c.abandoned_by_failure));
  std::fprintf(out, " (came back later %llu)\n", static_cast<ull>(c.late_abandoned));
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void json_latency(Writer& w, const char* key, LatencySamples& l) {
  w.Key(key);
  w.StartObject();
  w.Key("samples");
  w.Uint64(l.size());
  w.Key("p50");
  w.Double(ms(l.percentile(50)));
  w.Key("p90");
  w.Double(ms(l.percentile(90)));
  w.Key("p99");
  w.Double(ms(l.percentile(99)));
  w.Key("max");
  w.Double(ms(l.max()));
  w.EndObject();
}

void json_echo(Writer& w, const char* key, const EchoCounts& c) {
  w.Key(key);
  w.StartObject();
  w.Key("sent");
  w.Uint64(c.sent);
  w.Key("delivered");
  w.Uint64(c.delivered);
  w.Key("lost");
  w.Uint64(c.lost);
  w.Key("reordered");
  w.Uint64(c.reordered);
  w.Key("duplicated");
  w.Uint64(c.duplicated);
  w.Key("abandoned_by_reconnect");
  w.Uint64(c.abandoned);
  w.Key("abandoned_by_failure");
  w.Uint64(c.abandoned_by_failure);
  w.Key("late_abandoned");
  w.Uint64(c.late_abandoned);
  w.EndObject();
}

void json_u64(Writer& w, const char* key, uint64_t v) {
  w.Key(key);
  w.Uint64(v);
}

void json_double(Writer& w, const char* key, double v) {
  w.Key(key);
  w.Double(v);
}

void print_json(std::FILE* out, const Config& config, Tally& t, double elapsed_s, bool pass) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  const double ramp_s = static_cast<double>(t.first_join_done_us) / 1e6;
  w.StartObject();
  w.Key("result");
  w.String(pass ? "PASS" : "FAIL");
  json_u64(w, "players", t.players);
  w.Key("transports");
  w.StartObject();
  for (const auto& [name, n] : t.players_by_transport) json_u64(w, name.c_str(), n);
  w.EndObject();
  json_u64(w, "rooms", static_cast<uint64_t>(config.rooms));
  json_double(w, "duration_s", config.duration_s);
  json_double(w, "rate", config.rate);
  json_u64(w, "reconnects_per_player", static_cast<uint64_t>(config.reconnects));
  json_u64(w, "seed", config.seed);
  json_double(w, "elapsed_s", elapsed_s);
  json_u64(w, "logins", t.logins);
  json_u64(w, "login_throttled", t.login_throttled);
  json_u64(w, "login_overloaded", t.login_overloaded);
  json_u64(w, "players_joined", t.players_joined);
  json_double(w, "ramp_s", ramp_s);
  json_double(w, "logins_per_s", per_s(t.players_joined, ramp_s));
  json_latency(w, "login_ms", t.login_us);
  json_u64(w, "joins", t.joins);
  json_u64(w, "reconnects", t.reconnects);
  json_u64(w, "gateway_reconnects", t.gateway_reconnects);
  json_u64(w, "same_process", t.same_process);
  json_u64(w, "process_changes", t.process_changes);
  json_u64(w, "msgs_sent", t.msgs_sent);
  json_u64(w, "msgs_received", t.msgs_received);
  json_double(w, "sent_per_s", per_s(t.msgs_sent, elapsed_s));
  json_double(w, "received_per_s", per_s(t.msgs_received, elapsed_s));
  json_latency(w, "chat_rtt_ms", t.chat_rtt_us);
  json_latency(w, "ping_rtt_ms", t.ping_rtt_us);
  json_echo(w, "chat", t.chat);
  json_echo(w, "pong", t.ping);
  json_echo(w, "position_reliable", t.position);
  w.Key("others_chat");
  w.StartObject();
  json_u64(w, "checked", t.others_chat);
  json_u64(w, "reordered", t.others_reordered);
  json_u64(w, "duplicated", t.others_duplicated);
  json_u64(w, "from_dropped_sessions", t.others_old_session);
  w.EndObject();
  w.Key("positions_unreliable");
  w.StartObject();
  json_u64(w, "received", t.positions_unreliable_received);
  json_u64(w, "expected", t.positions_unreliable_expected);
  w.EndObject();
  json_u64(w, "positions_of_others", t.positions_others);
  json_u64(w, "scores", t.scores);
  json_u64(w, "player_left_events", t.player_left_events);
  json_u64(w, "player_left_in_play", t.player_left_in_play);
  json_u64(w, "stale_refusals", t.stale_refusals);
  json_u64(w, "state_checks", t.state_checks);
  json_u64(w, "state_violations", t.state_violations);
  w.Key("players_by_code_version");
  w.StartObject();
  for (const auto& [v, n] : t.players_by_code_version) json_u64(w, std::to_string(v).c_str(), n);
  w.EndObject();
  json_u64(w, "code_version_regressions", t.code_version_regressions);
  json_u64(w, "players_cut_off_by_drain_deadline", t.drain_timeouts);
  json_u64(w, "lost", t.lost());
  json_u64(w, "reordered", t.reordered());
  json_u64(w, "duplicated", t.duplicated());
  json_u64(w, "abandoned_by_reconnect", t.abandoned());
  json_u64(w, "abandoned_by_failure", t.abandoned_by_failure());
  json_u64(w, "errors", t.error_total());
  json_u64(w, "max_errors", config.max_errors);
  w.Key("errors_by_kind");
  w.StartObject();
  for (const auto& [kind, n] : t.errors) json_u64(w, kind.c_str(), n);
  w.EndObject();
  w.EndObject();
  std::fprintf(out, "%s\n", buf.GetString());
}

}  // namespace

bool passed(const Config& config, const Tally& t) {
  return t.lost() == 0 && t.reordered() == 0 && t.duplicated() == 0 && t.state_violations == 0 &&
         t.error_total() <= config.max_errors;
}

void print_report(std::FILE* out, const Config& config, Tally& t, double elapsed_s) {
  const bool pass = passed(config, t);
  if (config.json) {
    print_json(out, config, t, elapsed_s, pass);
    std::fflush(out);
    return;
  }
  using ull = unsigned long long;
  const double ramp_s = static_cast<double>(t.first_join_done_us) / 1e6;
  std::fprintf(out, "players      %llu (%s) in %d rooms, %.1f s at %.1f actions/s each, %d reconnects each, seed %llu\n",
               static_cast<ull>(t.players), transports_text(t).c_str(), config.rooms, config.duration_s,
               config.rate, config.reconnects, static_cast<ull>(config.seed));
  std::fprintf(out,
               "logins       %llu (%llu throttled with 429, %llu refused at capacity with 503, all retried); %llu players "
               "in their room within %.2f s (%.0f logins/s); login p50 %.2f ms p99 %.2f ms\n",
               static_cast<ull>(t.logins), static_cast<ull>(t.login_throttled), static_cast<ull>(t.login_overloaded),
               static_cast<ull>(t.players_joined),
               ramp_s, per_s(t.players_joined, ramp_s), ms(t.login_us.percentile(50)), ms(t.login_us.percentile(99)));
  std::fprintf(out,
               "reconnects   %llu deliberate, %llu found the same user process again (AUTH pid), %llu another one "
               "(a new activation or a move); %llu of them asked by a draining gateway (RECONNECT)\n",
               static_cast<ull>(t.reconnects + t.gateway_reconnects), static_cast<ull>(t.same_process),
               static_cast<ull>(t.process_changes), static_cast<ull>(t.gateway_reconnects));
  std::fprintf(out, "messages     sent %llu (%.0f msg/s), received %llu (%.0f msg/s) over %.1f s\n",
               static_cast<ull>(t.msgs_sent), per_s(t.msgs_sent, elapsed_s), static_cast<ull>(t.msgs_received),
               per_s(t.msgs_received, elapsed_s), elapsed_s);
  latency_line(out, "chat rtt", t.chat_rtt_us);
  latency_line(out, "ping rtt", t.ping_rtt_us);
  echo_line(out, "chat echo", t.chat);
  echo_line(out, "pong", t.ping);
  echo_line(out, "position", t.position);
  if (t.drain_timeouts) {
    std::fprintf(out, "drain        %llu players still waited for echoes after --drain %.1f s: those count as lost\n",
                 static_cast<ull>(t.drain_timeouts), config.drain_s);
  }
  std::fprintf(out, "others' chat %llu checked for order: reordered %llu, duplicated %llu, from dropped connections %llu\n",
               static_cast<ull>(t.others_chat), static_cast<ull>(t.others_reordered),
               static_cast<ull>(t.others_duplicated), static_cast<ull>(t.others_old_session));
  const double share = t.positions_unreliable_expected
                           ? 100.0 * static_cast<double>(t.positions_unreliable_received) /
                                 static_cast<double>(t.positions_unreliable_expected)
                           : 100.0;
  std::fprintf(out, "unreliable   own positions over UDP %llu/%llu received (%.1f%%; loss allowed)\n",
               static_cast<ull>(t.positions_unreliable_received), static_cast<ull>(t.positions_unreliable_expected),
               share);
  std::fprintf(out, "game         positions of others %llu, scores %llu, players joined %llu / left %llu (%llu during the play)\n",
               static_cast<ull>(t.positions_others), static_cast<ull>(t.scores),
               static_cast<ull>(t.player_joined_events), static_cast<ull>(t.player_left_events),
               static_cast<ull>(t.player_left_in_play));
  std::fprintf(out, "state        %llu rejoins checked for position and score: %llu violations\n",
               static_cast<ull>(t.state_checks), static_cast<ull>(t.state_violations));
  std::fprintf(out, "code         players by the game version of their last PONG:");
  for (const auto& [v, n] : t.players_by_code_version) std::fprintf(out, " v%u=%llu", v, static_cast<ull>(n));
  std::fprintf(out, "; %llu PONGs from an older version than one seen before\n",
               static_cast<ull>(t.code_version_regressions));
  std::fprintf(out, "errors       %llu (max %llu)", static_cast<ull>(t.error_total()), static_cast<ull>(config.max_errors));
  for (const auto& [kind, n] : t.errors) std::fprintf(out, " %s=%llu", kind.c_str(), static_cast<ull>(n));
  std::fprintf(out, "\n");
  std::fprintf(out,
               "bot summary: players=%llu logins=%llu gateway_reconnects=%llu msgs_sent=%llu msgs_received=%llu "
               "lost=%llu reordered=%llu duplicated=%llu state_violations=%llu errors=%llu result=%s\n",
               static_cast<ull>(t.players), static_cast<ull>(t.logins), static_cast<ull>(t.gateway_reconnects),
               static_cast<ull>(t.msgs_sent),
               static_cast<ull>(t.msgs_received), static_cast<ull>(t.lost()), static_cast<ull>(t.reordered()),
               static_cast<ull>(t.duplicated()), static_cast<ull>(t.state_violations), static_cast<ull>(t.error_total()),
               pass ? "PASS" : "FAIL");
  std::fflush(out);
}

}  // namespace behavior::bot
