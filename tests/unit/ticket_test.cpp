// ticket_test.cpp — tickets: a signed ticket verifies and round-trips; expired, tampered,
// wrong-secret and malformed tickets are refused with the right code; base64url matches
// RFC 4648's test vectors.
#include <gtest/gtest.h>

#include <behavior/crypto.h>
#include <behavior/ticket.h>

#include <vector>

namespace behavior {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

Ticket sample() {
  Ticket t;
  t.user = "user/42";
  t.node = 3;
  t.gateway = 101;
  t.expires_ms = kNow + 30'000;
  t.nonce = random_bytes(16);
  return t;
}

TEST(Ticket, SignedTicketVerifiesAndRoundTrips) {
  Ticket t = sample();
  std::string token = sign_ticket(t, "secret");
  Result<Ticket> back = verify_ticket(token, "secret", kNow);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->user, t.user);
  EXPECT_EQ(back->node, 3);
  EXPECT_EQ(back->gateway, 101);
  EXPECT_EQ(back->expires_ms, t.expires_ms);
  EXPECT_EQ(back->nonce, t.nonce);
}

// The payload's keys and types (docs/protocol.md#tickets): g is a number like n.
TEST(Ticket, ThePayloadHasTheDocumentedKeys) {
  Ticket t = sample();
  t.nonce = "n0";
  std::string token = sign_ticket(t, "secret");
  std::string payload;
  ASSERT_TRUE(base64url_decode(token.substr(0, token.find('.')), &payload));
  EXPECT_EQ(payload, R"({"e":1800000030000,"g":101,"n":3,"r":"bjA","u":"user/42","v":1})");
}

// Name servers before issue 19 wrote g as a decimal string: still accepted, nothing else is.
TEST(Ticket, AnOlderNameServersGatewayStringIsAccepted) {
  auto signed_payload = [](const std::string& g) {
    std::string payload = R"({"e":1800000030000,"g":)" + g + R"(,"n":3,"r":"bjA","u":"u","v":1})";
    return base64url_encode(payload) + "." + base64url_encode(hmac_sha256("secret", payload));
  };
  Result<Ticket> old = verify_ticket(signed_payload(R"("101")"), "secret", kNow);
  ASSERT_TRUE(old.ok()) << old.status().to_string();
  EXPECT_EQ(old->gateway, 101);
  for (const char* bad : {R"("")", R"("gw-1")", R"("-1")", R"("65536")", R"("123456")", "0", "70000", "1.5", "null"}) {
    EXPECT_EQ(verify_ticket(signed_payload(bad), "secret", kNow).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(Ticket, ExpiredTicketIsRefused) {
  std::string token = sign_ticket(sample(), "secret");
  EXPECT_EQ(verify_ticket(token, "secret", kNow + 30'000).status().code(), Code::kTimeout);
}

TEST(Ticket, WrongSecretIsRefused) {
  std::string token = sign_ticket(sample(), "secret");
  EXPECT_EQ(verify_ticket(token, "other", kNow).status().code(), Code::kInvalidArgument);
}

TEST(Ticket, AnyFlippedCharacterIsRefused) {
  std::string token = sign_ticket(sample(), "secret");
  for (size_t i = 0; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    if (bad == token) continue;
    EXPECT_FALSE(verify_ticket(bad, "secret", kNow).ok()) << "position " << i;
  }
}

TEST(Ticket, ForgedPayloadWithAnOldSignatureIsRefused) {
  Ticket t = sample();
  std::string token = sign_ticket(t, "secret");
  t.user = "user/admin";
  std::string other = sign_ticket(t, "attacker-guess");
  std::string forged = other.substr(0, other.find('.')) + token.substr(token.find('.'));
  EXPECT_EQ(verify_ticket(forged, "secret", kNow).status().code(), Code::kInvalidArgument);
}

TEST(Ticket, MalformedTokensAreRefused) {
  for (const std::string& bad : std::vector<std::string>{"", ".", "abc", "abc.", ".abc", "!!!.???", std::string(5000, 'A') + ".A"}) {
    EXPECT_EQ(verify_ticket(bad, "secret", kNow).status().code(), Code::kInvalidArgument) << bad;
  }
  // Valid signature over a payload that is not a ticket.
  std::string payload = R"({"v":1,"u":"","n":70000})";
  std::string token = base64url_encode(payload) + "." + base64url_encode(hmac_sha256("secret", payload));
  EXPECT_EQ(verify_ticket(token, "secret", kNow).status().code(), Code::kInvalidArgument);
}

TEST(Base64url, MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, coded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), coded);
    std::string back;
    ASSERT_TRUE(base64url_decode(coded, &back));
    EXPECT_EQ(back, plain);
  }
  std::string out;
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("Zm9=", &out));  // padding is not part of base64url here
  EXPECT_FALSE(base64url_decode("Z", &out));     // impossible length
  EXPECT_FALSE(base64url_decode("Zh", &out));    // non-zero leftover bits
}

}  // namespace
}  // namespace behavior
