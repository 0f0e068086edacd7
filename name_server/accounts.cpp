// accounts.cpp — see accounts.h.
#include "accounts.h"

#include <openssl/evp.h>
#include <rapidjson/document.h>

#include <cstdlib>

#include "behavior/crypto.h"
#include "behavior/ticket.h"

namespace behavior::name_server {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr int kMaxIterations = 10'000'000;  // a stored value cannot make us spin forever

std::string pbkdf2(std::string_view password, std::string_view salt, int iterations) {
  std::string out(kHashBytes, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                    EVP_sha256(), static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

}  // namespace

bool valid_user_name(std::string_view user) {
  if (user.empty() || user.size() > kMaxUserBytes) return false;
  for (char c : user) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string parse_credentials(std::string_view body, bool need_password, Credentials* out) {
  rapidjson::Document d;
  d.Parse(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) return "the body must be a JSON object";
  // HasMember + operator[] rather than FindMember: clang -Werror rejects comparing
  // RapidJSON's member iterators in C++20 (ambiguous reversed operator==).
  if (!d.HasMember("user") || !d["user"].IsString()) return "user (a string) is required";
  const rapidjson::Value& user = d["user"];
  out->user.assign(user.GetString(), user.GetStringLength());
  if (!valid_user_name(out->user)) return "user must be 1-64 characters of A-Z a-z 0-9 _ . -";
  if (d.HasMember("password")) {
    const rapidjson::Value& password = d["password"];
    if (!password.IsString()) return "password must be a string";
    out->password.assign(password.GetString(), password.GetStringLength());
  }
  if (need_password && out->password.empty()) return "password is required";
  if (out->password.size() > kMaxPasswordBytes) return "password is too long";
  return "";
}

std::string hash_password(std::string_view password, int iterations) {
  std::string salt = random_bytes(kSaltBytes);
  return "pbkdf2-sha256$" + std::to_string(iterations) + "$" + base64url_encode(salt) + "$" +
         base64url_encode(pbkdf2(password, salt, iterations));
}

bool verify_password(std::string_view password, std::string_view stored) {
  constexpr std::string_view kScheme = "pbkdf2-sha256$";
  if (stored.substr(0, kScheme.size()) != kScheme) return false;
  stored.remove_prefix(kScheme.size());
  size_t d1 = stored.find('$');
  if (d1 == std::string_view::npos) return false;
  size_t d2 = stored.find('$', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  std::string iter_text(stored.substr(0, d1));
  char* end = nullptr;
  long iterations = std::strtol(iter_text.c_str(), &end, 10);
  if (iter_text.empty() || *end != '\0' || iterations < 1 || iterations > kMaxIterations) return false;
  std::string salt, hash;
  if (!base64url_decode(stored.substr(d1 + 1, d2 - d1 - 1), &salt) || !base64url_decode(stored.substr(d2 + 1), &hash) ||
      salt.empty() || hash.size() != kHashBytes) {
    return false;
  }
  return constant_time_equal(pbkdf2(password, salt, static_cast<int>(iterations)), hash);
}

}  // namespace behavior::name_server
