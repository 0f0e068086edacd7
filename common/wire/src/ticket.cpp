// ticket.cpp — see ticket.h. The payload is a JsonMap {v, u, n, g, e, r} so other languages
// can read a ticket; the MAC covers the payload's exact bytes, so nothing is re-encoded
// before checking. `g` is a JSON number, like `n` and like the login answer's gateway.id;
// name servers before that wrote it as a decimal string ("101"), which is still accepted.
#include "behavior/ticket.h"

#include "behavior/crypto.h"
#include "behavior/json_map.h"

#include <optional>

namespace behavior {

std::string sign_ticket(const Ticket& t, std::string_view secret) {
  JsonMap m;
  m.set("v", int64_t{1})
      .set("u", t.user)
      .set("n", int64_t{t.node})
      .set("g", int64_t{t.gateway})
      .set("e", t.expires_ms)
      .set("r", base64url_encode(t.nonce));
  std::string payload;
  m.SerializeToString(&payload);
  return base64url_encode(payload) + "." + base64url_encode(hmac_sha256(secret, payload));
}

Result<Ticket> verify_ticket(std::string_view token, std::string_view secret, int64_t now_ms) {
  if (token.size() > kMaxTicketBytes) return Status::invalid_argument("ticket too long");
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return Status::invalid_argument("ticket is malformed");
  std::string payload, mac;
  if (!base64url_decode(token.substr(0, dot), &payload) || !base64url_decode(token.substr(dot + 1), &mac)) {
    return Status::invalid_argument("ticket is malformed");
  }
  if (!constant_time_equal(mac, hmac_sha256(secret, payload))) {
    return Status::invalid_argument("ticket signature is invalid");
  }
  JsonMap m;
  if (!m.ParseFromString(payload) || m.get_int("v") != 1) return Status::invalid_argument("ticket payload is malformed");
  auto user = m.get_string("u");
  auto node = m.get_int("n");
  std::optional<int64_t> gateway = m.get_int("g");
  if (!gateway) {  // an older name server's "g": the id as a decimal string
    if (auto text = m.get_string("g"); text && !text->empty() && text->size() <= 5 &&
                                       text->find_first_not_of("0123456789") == std::string::npos) {
      gateway = std::stoll(*text);
    }
  }
  auto expires = m.get_int("e");
  auto nonce = m.get_string("r");
  Ticket t;
  if (!user || user->empty() || !node || *node < 1 || *node > 65535 || !gateway || *gateway < 1 ||
      *gateway > 65535 || !expires || !nonce ||
      !base64url_decode(*nonce, &t.nonce)) {
    return Status::invalid_argument("ticket payload is malformed");
  }
  t.user = *user;
  t.node = static_cast<uint16_t>(*node);
  t.gateway = static_cast<uint16_t>(*gateway);
  t.expires_ms = *expires;
  if (now_ms >= t.expires_ms) return Status::timeout("ticket expired");
  return t;
}

}  // namespace behavior
