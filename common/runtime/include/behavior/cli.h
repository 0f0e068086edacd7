// cli.h — what every binary's command line shares: --version (prints "<binary> (behavior
// <kVersion>)" and exits 0), one exit code for usage errors (2, as in bot and ctl; CLI11's
// own codes were 105, 109, ... depending on the error), a strict config file (an unknown key
// or a syntax error is refused with its file and line) and --print-config. Header-only over CLI11 (a
// header-only library), so tools that link only the runtime or the client have it too.
#pragma once

#include <CLI/CLI.hpp>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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

// The config file a command line names (--config FILE, --config=FILE, or the option's
// environment variable); "" when none or the app takes no config file.
inline std::string config_file_of(const CLI::App& app, int argc, char** argv) {
  const CLI::Option* opt = app.get_config_ptr();
  if (!opt) return "";
  const std::string flag = "--" + opt->get_single_name();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == flag && i + 1 < argc) return argv[i + 1];
    if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
  }
  const char* env = opt->get_envname().empty() ? nullptr : std::getenv(opt->get_envname().c_str());
  return env ? env : "";
}

// Checks a config file line by line before CLI11 reads it (CLI11 ignores unknown keys and
// names no line): blank lines, comments (# or ;), [default], and `key = value` whose key is
// a long flag of the app, spelled as on the command line (tcp-port). "" when fine, else "FILE:LINE: what".
inline std::string config_file_error(const CLI::App& app, const std::string& path) {
  std::ifstream in(path);
  if (!in) return path + ": cannot be read";
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#' || line[b] == ';') continue;
    size_t e = line.find_last_not_of(" \t\r");
    std::string text = line.substr(b, e - b + 1);
    if (text.front() == '[') {
      if (text == "[default]") continue;
      return where + "unknown section " + text + " (keys go at the top, or under [default])";
    }
    size_t eq = text.find('=');
    if (eq == std::string::npos) return where + "want key = value, got '" + text + "'";
    std::string key = text.substr(0, eq);
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
    std::string value = text.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (key.empty()) return where + "a value without a key";
    if (value.empty()) return where + "'" + key + "' has no value";
    if ((value.front() == '"' || value.front() == '\'') && (value.size() < 2 || value.back() != value.front())) {
      return where + "unterminated string for '" + key + "'";
    }
    const CLI::Option* opt = app.get_option_no_throw("--" + key);
    if (!opt || opt == app.get_config_ptr()) {
      std::string dashed = key;
      for (char& c : dashed) c = c == '_' ? '-' : c;
      const bool near = dashed != key && app.get_option_no_throw("--" + dashed) != nullptr;
      return where + "unknown key '" + key + "'" + (near ? " (did you mean " + dashed + "?)" : " (there is no --" + key + ")");
    }
  }
  return "";
}

// The effective configuration as a config file (every key, its value from the command
// line, the environment, the file or the default), secrets masked.
inline std::string printable_config(const CLI::App& app) {
  std::string out;
  std::string all = app.config_to_str(true, false);
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find('\n', pos);
    if (end == std::string::npos) end = all.size();
    std::string line = all.substr(pos, end - pos);
    pos = end + 1;
    size_t eq = line.find('=');
    std::string key = eq == std::string::npos ? "" : line.substr(0, eq);
    if (key == "print-config" || key == "print_config" || key == "version") continue;
    const bool secret = key.find("secret") != std::string::npos || key.find("password") != std::string::npos ||
                        key.find("token") != std::string::npos;
    const std::string value = eq == std::string::npos ? "" : line.substr(eq + 1);
    if (secret && !value.empty() && value != "\"\"" && value != "''") line = key + "=\"***\"";
    out += line + "\n";
  }
  return out;
}

// Parses the command line. Returns -1 to go on; else the code main should return: 0 after
// --help, --version or --print-config (printed), kUsageExit after a usage error (printed,
// with the flag; a bad config file with its file and line).
inline int parse_command_line(CLI::App& app, int argc, char** argv) {
  if (std::string path = config_file_of(app, argc, argv); !path.empty()) {
    if (std::string error = config_file_error(app, path); !error.empty()) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return kUsageExit;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kUsageExit;
  }
  if (const CLI::Option* print = app.get_option_no_throw("--print-config"); print && print->count() > 0) {
    std::fputs(printable_config(app).c_str(), stdout);
    return 0;
  }
  return -1;
}

}  // namespace behavior
