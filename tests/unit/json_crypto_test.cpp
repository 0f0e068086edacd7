// json_crypto_test.cpp — JsonMap's wire form (round trip, refusals) and the crypto helpers
// (HMAC-SHA256 against RFC 4231's test vector, constant-time comparison).
#include <gtest/gtest.h>

#include <behavior/body.h>
#include <behavior/crypto.h>
#include <behavior/json_map.h>

namespace behavior {
namespace {

TEST(JsonMap, RoundTripsThroughJson) {
  JsonMap m;
  m.set("name", std::string("user/42")).set("score", int64_t{-7}).set("ratio", 0.5).set("vip", true).set("none", nullptr);
  std::string wire;
  ASSERT_TRUE(m.SerializeToString(&wire));
  JsonMap back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back, m);
  EXPECT_EQ(back.get_string("name"), "user/42");
  EXPECT_EQ(back.get_int("score"), -7);
}

TEST(JsonMap, TravelsAsABodyLikeProtobuf) {
  JsonMap m;
  m.set("k", std::string("v"));
  Body local(m);
  std::string wire;
  ASSERT_TRUE(local.serialize(&wire).ok());
  Body remote = Body::bytes(wire);
  EXPECT_EQ(remote.as<JsonMap>().get_string("k"), "v");
}

TEST(JsonMap, RefusesNestedValuesGarbageAndTrailingBytes) {
  JsonMap m;
  EXPECT_FALSE(m.ParseFromString(R"({"a":{"b":1}})"));
  EXPECT_FALSE(m.ParseFromString(R"({"a":[1,2]})"));
  EXPECT_FALSE(m.ParseFromString(R"([1,2])"));
  EXPECT_FALSE(m.ParseFromString(R"({"a":1} trailing)"));
  EXPECT_FALSE(m.ParseFromString("{\"a\":"));
  EXPECT_FALSE(m.ParseFromString(std::string(JsonMap::kMaxWireBytes + 1, ' ')));
  Body b = Body::bytes("not json");
  EXPECT_THROW(b.as<JsonMap>(), BadBody);
}

TEST(Crypto, HmacSha256MatchesRfc4231) {
  // RFC 4231, test case 2.
  std::string mac = hmac_sha256("Jefe", "what do ya want for nothing?");
  static const char kHex[] = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  std::string hex;
  for (unsigned char c : mac) {
    static const char d[] = "0123456789abcdef";
    hex += d[c >> 4];
    hex += d[c & 15];
  }
  EXPECT_EQ(hex, kHex);
}

TEST(Crypto, RandomBytesDifferAndCompareInConstantTime) {
  std::string a = random_bytes(32), b = random_bytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(constant_time_equal(a, a));
  EXPECT_FALSE(constant_time_equal(a, b));
  EXPECT_FALSE(constant_time_equal(a, a.substr(1)));
}

// One encoder, two alphabets: RFC 4648's test vectors padded (standard, WebSocket keys) and
// unpadded (base64url, tickets), and the bytes where the alphabets differ.
TEST(Crypto, Base64MatchesRfc4648InBothAlphabets) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, coded] : vectors) {
    EXPECT_EQ(base64_encode(plain, Base64::kStandard), coded);
    std::string unpadded(coded);
    unpadded.erase(unpadded.find_last_not_of('=') + 1);
    EXPECT_EQ(base64_encode(plain, Base64::kUrl), unpadded);
  }
  EXPECT_EQ(base64_encode("\xfb\xff", Base64::kStandard), "+/8=");
  EXPECT_EQ(base64_encode("\xfb\xff", Base64::kUrl), "-_8");
}

}  // namespace
}  // namespace behavior
