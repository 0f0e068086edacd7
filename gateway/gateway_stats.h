// gateway_stats.h — the gateway's counters: written on the loop thread by the transports and
// sessions, read from any thread by /metrics (Gateway::metrics_text).
#pragma once

#include <atomic>
#include <cstdint>

namespace behavior::gateway {

struct GatewayStats {
  using Counter = std::atomic<uint64_t>;
  Counter connections{0}, tcp_connections{0}, ws_connections{0}, udp_connections{0};
  Counter accepted{0}, authenticated{0}, kicks{0};
  Counter moves{0};  // the user's process moved (live migration) and the session followed it
  Counter reconnects{0};  // RECONNECT frames sent (a drain: the client logs in elsewhere)
  Counter draining{0};    // 1 once the gateway drains
  Counter frames_in{0}, frames_out{0}, bytes_in{0}, bytes_out{0};
  Counter dropped_rate{0}, refused_reserved{0}, refused_heartbeat{0};
  Counter cut_slow{0}, cut_idle{0}, cut_bad{0};
  Counter refused_full{0}, refused_unauth_per_address{0}, unauthenticated{0};
  Counter udp_malformed{0}, udp_unknown_conv{0}, udp_other_address{0}, udp_unreliable_out{0};
  // AUTH refusals by reason (auth_failure_reasons below, in order).
  static constexpr const char* kAuthFailureReasons[] = {"not_first", "invalid",  "expired",
                                                        "other_gateway", "replayed", "timeout", "draining"};
  enum AuthFailure {
    kNotFirst, kInvalid, kExpired, kOtherGateway, kReplayed, kTimeout,
    kDraining,  // an AUTH while the gateway drains (503: log in again, elsewhere)
    kAuthFailureCount
  };
  Counter auth_failures[kAuthFailureCount]{};

  Counter& connections_of(int transport_kind) {
    return transport_kind == 0 ? tcp_connections : transport_kind == 1 ? ws_connections : udp_connections;
  }
};

}  // namespace behavior::gateway
