// crypto.h — the few primitives the cluster needs, on OpenSSL: HMAC-SHA256 for proofs of
// the cluster secret (s2s handshake, tickets), random bytes, constant-time comparison.
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

}  // namespace behavior
