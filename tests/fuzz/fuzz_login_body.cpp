// fuzz_login_body.cpp — libFuzzer target for the name server's login/register bodies: any
// bytes are either refused with a message or give a user name that passes the name rules
// and a password within bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "accounts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace behavior::name_server;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (bool need_password : {false, true}) {
    Credentials c;
    std::string why = parse_credentials(body, need_password, &c);
    if (!why.empty()) continue;
    if (!valid_user_name(c.user)) __builtin_trap();
    if (c.password.size() > kMaxPasswordBytes || (need_password && c.password.empty())) __builtin_trap();
  }
  return 0;
}
