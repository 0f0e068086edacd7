// ticket.cpp — see ticket.h. The payload is a JsonMap {v, u, n, g, e, r} so other languages
// can read a ticket; the MAC covers the payload's exact bytes, so nothing is re-encoded
// before checking.
#include "behavior/ticket.h"

#include "behavior/crypto.h"
#include "behavior/json_map.h"

namespace behavior {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16 | uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8 |
                 static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string* out) {
  if (text.size() % 4 == 1) return false;
  out->clear();
  out->reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int d = decode_char(c);
    if (d < 0) return false;
    acc = acc << 6 | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero: one text, one encoding.
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string sign_ticket(const Ticket& t, std::string_view secret) {
  JsonMap m;
  m.set("v", int64_t{1})
      .set("u", t.user)
      .set("n", int64_t{t.node})
      .set("g", t.gateway)
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
  auto gateway = m.get_string("g");
  auto expires = m.get_int("e");
  auto nonce = m.get_string("r");
  Ticket t;
  if (!user || user->empty() || !node || *node < 1 || *node > 65535 || !gateway || !expires || !nonce ||
      !base64url_decode(*nonce, &t.nonce)) {
    return Status::invalid_argument("ticket payload is malformed");
  }
  t.user = *user;
  t.node = static_cast<uint16_t>(*node);
  t.gateway = *gateway;
  t.expires_ms = *expires;
  if (now_ms >= t.expires_ms) return Status::timeout("ticket expired");
  return t;
}

}  // namespace behavior
