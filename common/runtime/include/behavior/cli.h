// cli.h — what every binary's command line shares: --version (prints "<binary> (behavior
// <kVersion>)" and exits 0) and one exit code for usage errors (2, as in bot and ctl; CLI11's
// own codes were 105, 109, ... depending on the error). Header-only over CLI11 (a
// header-only library), so tools that link only the runtime or the client have it too.
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <string>

#include "behavior/version.h"

namespace behavior {

// `binary` "" = argv[0]'s file name (CLI11 sets the app's name when it parses).
inline void add_version_flag(CLI::App& app, std::string binary) {
  app.set_version_flag("--version", [&app, binary = std::move(binary)] {
    std::string n = binary.empty() ? app.get_name() : binary;
    if (auto slash = n.rfind('/'); slash != std::string::npos) n.erase(0, slash + 1);
    return n + " (behavior " + kVersion + ")";
  });
}

// The check of an integer flag: "--tcp-port: 'abc' is not a whole number", or "70000 is not
// in -1..65535" (CLI::Range says "not in range" for both).
inline CLI::Validator integer_in(long long min, long long max) {
  return CLI::Validator(
      [min, max](std::string& value) -> std::string {
        long long n = 0;
        const char* end = value.data() + value.size();
        auto [p, ec] = std::from_chars(value.data(), end, n);
        if (ec == std::errc::result_out_of_range) return value + " is out of range " + std::to_string(min) + ".." + std::to_string(max);
        if (ec != std::errc() || p != end) return "'" + value + "' is not a whole number";
        if (n < min || n > max) return value + " is out of range " + std::to_string(min) + ".." + std::to_string(max);
        return {};
      },
      "INT in [" + std::to_string(min) + " - " + std::to_string(max) + "]");
}

// The exit code of every binary for a usage error (a bad flag, a bad value).
inline constexpr int kUsageExit = 2;

// Parses the command line. Returns -1 to go on; else the code main should return: 0 after
// --help or --version (printed), kUsageExit after a usage error (printed, with the flag).
inline int parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kUsageExit;
  }
  return -1;
}

}  // namespace behavior
