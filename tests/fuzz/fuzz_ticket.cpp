// fuzz_ticket.cpp — libFuzzer target for ticket parsing: any token is refused cleanly or,
// if it verifies, re-signs to a ticket that verifies to the same fields; and base64url
// decodes only what it encodes back.
#include <cstddef>
#include <cstdint>
#include <string>

#include <behavior/crypto.h>
#include <behavior/ticket.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string token(reinterpret_cast<const char*>(data), size);
  // A fixed secret: inputs that happen to carry a valid MAC exercise the payload checks.
  behavior::Result<behavior::Ticket> t = behavior::verify_ticket(token, "fuzz-secret", 0);
  if (t.ok()) {
    behavior::Result<behavior::Ticket> again =
        behavior::verify_ticket(behavior::sign_ticket(*t, "fuzz-secret"), "fuzz-secret", 0);
    if (!again.ok() || again->user != t->user || again->nonce != t->nonce) __builtin_trap();
  }
  // base64url: whatever decodes encodes back to the same text (one text, one encoding).
  std::string decoded;
  if (behavior::base64url_decode(token, &decoded) && behavior::base64url_encode(decoded) != token) __builtin_trap();
  return 0;
}
