// version_flag.h — --version for every binary: prints "<binary> (behavior <kVersion>)" and
// exits 0. Header-only over CLI11 (a header-only library), so tools that link only the
// runtime or the client have it too.
#pragma once

#include <CLI/CLI.hpp>

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

}  // namespace behavior
