// accounts_test.cpp — password hashes and user names: a hash verifies its own password and
// nothing else, two hashes of one password differ (salt), stored values that are malformed
// or tampered never verify, and user names outside [A-Za-z0-9_.-]{1,64} are refused.
#include <gtest/gtest.h>

#include "accounts.h"

namespace behavior::name_server {
namespace {

TEST(Accounts, AHashVerifiesItsPasswordAndNoOther) {
  std::string h = hash_password("correct horse", 1000);
  EXPECT_EQ(h.rfind("pbkdf2-sha256$1000$", 0), 0u) << h;
  EXPECT_TRUE(verify_password("correct horse", h));
  EXPECT_FALSE(verify_password("correct horsE", h));
  EXPECT_FALSE(verify_password("", h));
}

TEST(Accounts, SaltMakesTwoHashesOfOnePasswordDiffer) {
  std::string a = hash_password("same", 1000), b = hash_password("same", 1000);
  EXPECT_NE(a, b);
  EXPECT_TRUE(verify_password("same", a));
  EXPECT_TRUE(verify_password("same", b));
}

TEST(Accounts, MalformedOrTamperedStoredValuesNeverVerify) {
  std::string h = hash_password("pw", 1000);
  for (const std::string& bad :
       {std::string(), std::string("pw"), std::string("plain$pw"), std::string("pbkdf2-sha256$"),
        std::string("pbkdf2-sha256$1000$$"), std::string("pbkdf2-sha256$abc$c2FsdA$aGFzaA"),
        std::string("pbkdf2-sha256$0$c2FsdA$aGFzaA"), std::string("pbkdf2-sha256$999999999999$c2FsdA$aGFzaA"),
        std::string("scrypt$1000$c2FsdA$aGFzaA"), h.substr(0, h.size() - 1), h + "A"}) {
    EXPECT_FALSE(verify_password("pw", bad)) << bad;
  }
  // Flip one character of the hash part: no longer the same 32 bytes.
  std::string flipped = h;
  flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_password("pw", flipped));
  // A lower iteration count with the same salt and hash is a different hash.
  std::string cheaper = h;
  cheaper.replace(cheaper.find("$1000$"), 6, "$999$");
  EXPECT_FALSE(verify_password("pw", cheaper));
}

TEST(Accounts, UserNamesAreShortAndPlain) {
  EXPECT_TRUE(valid_user_name("alice"));
  EXPECT_TRUE(valid_user_name("Bob_2.x-y"));
  EXPECT_TRUE(valid_user_name(std::string(64, 'a')));
  EXPECT_FALSE(valid_user_name(""));
  EXPECT_FALSE(valid_user_name(std::string(65, 'a')));
  for (const char* bad : {"a b", "a/b", "a:b", "ä", "a\nb", "a\"b", "a*"}) EXPECT_FALSE(valid_user_name(bad)) << bad;
}

}  // namespace
}  // namespace behavior::name_server
