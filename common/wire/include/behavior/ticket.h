// ticket.h — the login ticket the name server issues and the gateway checks: who (user),
// where (node, gateway), until when, and a random nonce, signed with HMAC-SHA256 under the
// cluster secret. Wire form: base64url(JSON payload) "." base64url(MAC), the payload
// {"e":expiry ms,"g":gateway node id,"n":node id,"r":nonce,"u":user,"v":1} (docs/protocol.md).
// Single use is the gateway's job (it remembers nonces in Redis until expiry); this file only
// signs/verifies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "behavior/status.h"

namespace behavior {

struct Ticket {
  std::string user;
  uint16_t node = 0;     // where the user's process lives or will be activated
  uint16_t gateway = 0;  // the node id of the gateway the client was sent to
  int64_t expires_ms = 0;  // wall clock, ms since the epoch
  std::string nonce;       // random, makes every ticket unique (single use)
};

inline constexpr size_t kMaxTicketBytes = 2048;

// The cluster-wide name of a player's own process: the name server looks it up for the
// sticky half of 7+4, the gateway activates it (kind "user") on the ticket's node.
inline std::string user_process_name(std::string_view user) { return "user/" + std::string(user); }

// The signed token.
std::string sign_ticket(const Ticket& t, std::string_view secret);
// Checks the signature (constant time), the format and the expiry against now_ms.
// Errors: kInvalidArgument (malformed or bad signature), kTimeout (expired).
Result<Ticket> verify_ticket(std::string_view token, std::string_view secret, int64_t now_ms);

}  // namespace behavior
