// crypto.h — the few primitives the cluster needs, on OpenSSL: HMAC-SHA256 for proofs of
// the cluster secret (s2s handshake, tickets), random bytes, constant-time comparison; and
// base64, the one encoder both alphabets use (tickets: base64url; WebSocket keys: standard).
#pragma once

#include <string>
#include <string_view>

namespace behavior {

// 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);
// n bytes from OpenSSL's CSPRNG.
std::string random_bytes(size_t n);
// Equal without leaking where they differ through timing.
bool constant_time_equal(std::string_view a, std::string_view b);

// RFC 4648 §4 (standard alphabet, padded with '=') or §5 (base64url, without padding).
enum class Base64 { kStandard, kUrl };
std::string base64_encode(std::string_view bytes, Base64 alphabet);
inline std::string base64url_encode(std::string_view bytes) { return base64_encode(bytes, Base64::kUrl); }
// base64url without padding; false on a character outside the alphabet, an impossible length
// or non-zero leftover bits (one text, one encoding).
bool base64url_decode(std::string_view text, std::string* out);

}  // namespace behavior
