// accounts.h — what the name server knows about players' credentials: which user names are
// acceptable, and salted, slow password hashes (PBKDF2-HMAC-SHA256 from OpenSSL) in a
// self-describing text form, so the iteration count can grow without breaking old hashes:
//   pbkdf2-sha256$<iterations>$<salt, base64url>$<hash, base64url>
// The accounts themselves live in Redis (<prefix>account:<user>), written and read by
// name_server.cpp; this file has no I/O and is safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

namespace behavior::name_server {

inline constexpr int kDefaultPbkdf2Iterations = 100000;
inline constexpr size_t kMaxUserBytes = 64;
inline constexpr size_t kMinPasswordBytes = 8;
inline constexpr size_t kMaxPasswordBytes = 256;

// 1-64 characters of [A-Za-z0-9_.-].
bool valid_user_name(std::string_view user);

struct Credentials {
  std::string user;
  std::string password;
};

// The JSON body of /v1/login and /v1/register: {"user": "...", "password": "..."}. Returns
// what is wrong (for a 400 answer), or "" when *out is valid. Fuzzed (tests/fuzz).
std::string parse_credentials(std::string_view body, bool need_password, Credentials* out);

// A new hash with a fresh 16-byte random salt.
std::string hash_password(std::string_view password, int iterations = kDefaultPbkdf2Iterations);

// Recomputes with the stored salt and iteration count; constant-time compare. A stored value
// that does not parse never verifies.
bool verify_password(std::string_view password, std::string_view stored);

}  // namespace behavior::name_server
