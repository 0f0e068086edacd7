// kinds_library.h — a game's process kinds in a shared library that the stock local_server
// loads with --kinds-lib (config key kinds-lib, env BEHAVIOR_KINDS_LIB). The library says
// what it registers with one macro:
//
//   behavior::Status register_kinds(behavior::KindsContext& ctx) {
//     ctx.node.register_kind<Player>("user");
//     return {};
//   }
//   BEHAVIOR_KINDS_LIBRARY("mygame", register_kinds)
//
// The macro exports one C function, behavior_kinds_v1, which returns a stamp: the loader's
// ABI number, the C++ ABI of the compiler and the behavior version the library was built
// against. The loader reads the stamp before it calls anything else, and refuses a library
// whose stamp differs from its own with an error that says which part differs.
//
// The library links no behavior library: it uses the runtime already in the local_server
// that loads it (CMake target behavior::kinds gives it the headers and the shared
// dependencies). A loaded library stays mapped until the process exits, so no code of it can
// be unmapped under a running process; reloading it at run time is a later step, and this
// is designed for it: the stamp travels with each library, and a library is found by path.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "behavior/node.h"
#include "behavior/status.h"
#include "behavior/version.h"

namespace behavior {

struct KindsContext {
  Node& node;
  // The game's own settings: --kinds-opt key=value (repeatable; env BEHAVIOR_KINDS_OPTS as
  // "k=v,k=v"). local_server also passes user_idle_minutes from --user-idle-minutes.
  const std::map<std::string, std::string>& options;
  // Set by the library when it wants to act once the node (and its cluster) runs, e.g. to
  // spawn a singleton. An error stops local_server from starting.
  std::function<Status(Node&)> on_started;

  // options[key] parsed as an integer, `fallback` when absent or not a number.
  int64_t option_int(const std::string& key, int64_t fallback) const;
};

using RegisterKindsFn = Status (*)(KindsContext&);

// Calls a registration function: its error, or an exception it throws, comes back as a
// Status that names `who` ("kinds library PATH", a game's name).
Status call_register_kinds(RegisterKindsFn fn, KindsContext& ctx, const std::string& who);

// Bumped whenever KindsStamp, KindsContext, the registration contract or the layout of what a
// library subclasses or fills in (Router, KindOptions) changes. 2: durable state. 3: versioned
// kinds and Router::upgrade_state (hot update).
inline constexpr uint32_t kKindsAbi = 3;

// The C++ ABI of this compiler and standard library (libstdc++'s dual string ABI included).
#if defined(__GXX_ABI_VERSION)
inline constexpr uint32_t kCxxAbi = __GXX_ABI_VERSION * 10u + (_GLIBCXX_USE_CXX11_ABI ? 1u : 0u);
#else
inline constexpr uint32_t kCxxAbi = 0;
#endif

struct KindsStamp {
  uint32_t kinds_abi;            // kKindsAbi
  uint32_t cxx_abi;              // kCxxAbi
  const char* behavior_version;  // kVersion
  const char* name;              // the game's name, for logs
  RegisterKindsFn register_kinds;
};

// One loaded library of kinds.
class KindsLibrary {
 public:
  // dlopen(path) and check its stamp. Errors name the path and what is wrong: not found,
  // not a kinds library (no behavior_kinds_v1), or a stamp from another ABI or version.
  static Result<std::shared_ptr<KindsLibrary>> load(const std::string& path);

  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }
  const KindsStamp& stamp() const { return *stamp_; }

 private:
  KindsLibrary() = default;
  std::string path_;
  std::string name_;
  void* handle_ = nullptr;  // never closed: see above
  const KindsStamp* stamp_ = nullptr;
};

}  // namespace behavior

#define BEHAVIOR_KINDS_LIBRARY(NAME, FN)                                                       \
  extern "C" __attribute__((visibility("default"))) const ::behavior::KindsStamp*             \
  behavior_kinds_v1() {                                                                      \
    static const ::behavior::KindsStamp stamp{::behavior::kKindsAbi, ::behavior::kCxxAbi,     \
                                              ::behavior::kVersion, NAME, &(FN)};            \
    return &stamp;                                                                           \
  }
