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
// dependencies).
//
// Hot update (docs/hot_update.md): KindsHost reloads a library while the node runs. The new
// library's kinds replace the old ones for new activations, and live processes of those
// kinds move to the new code between messages (Router::upgrade_state). A library stays
// mapped while any process, kind entry or reload still holds it (Erlang's old and current
// code), and is unmapped after the last one lets go.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
  ~KindsLibrary();  // dlclose: only once nothing of it can run any more

 private:
  KindsLibrary() = default;
  std::string path_;
  std::string name_;
  void* handle_ = nullptr;
  const KindsStamp* stamp_ = nullptr;
};

// What a reload did (KindsHost::reload); to_json() is what ctl and the admin endpoint print.
struct ReloadReport {
  Status status;              // ok: the library runs; an error: refused, or rolled back
  std::string library;        // the path given
  std::string name;           // the library's own name (its stamp)
  std::string replaced;       // the path of the library it replaced ("" = an addition)
  std::vector<KindInfo> kinds;  // what it registered
  uint64_t upgraded = 0;      // live processes moved to its code
  uint64_t failed = 0;        // live processes whose upgrade failed (they kept the old code)
  uint64_t busy = 0;          // live processes still mid-handler at the deadline (old code)
  bool rolled_back = false;   // failed > 0: the old library's kinds are back, for everyone
  uint64_t restored = 0;      // processes put back on the old code by the rollback
  double seconds = 0;
  double longest_slice_ms = 0;  // the longest a worker paused its processes to upgrade them
  std::vector<std::string> errors;
  std::string to_json() const;
};

// The kinds libraries a node runs: loaded at start, reloaded on command. One reload at a
// time; each is all or nothing for the kinds table (see ReloadReport::rolled_back).
class KindsHost {
 public:
  KindsHost(Node& node, std::map<std::string, std::string> options);
  ~KindsHost();  // waits for a reload in progress
  KindsHost(const KindsHost&) = delete;
  KindsHost& operator=(const KindsHost&) = delete;

  // Before the node starts: loads each library and registers its kinds; what they ask to
  // run once the node runs (KindsContext::on_started) is appended to `started`.
  Status load(const std::vector<std::string>& paths, std::vector<std::function<Status(Node&)>>* started);
  // The binary's own kinds (never reloaded).
  Status register_builtin(RegisterKindsFn fn, const std::string& who, std::vector<std::function<Status(Node&)>>* started);

  // Loads `path` and replaces the loaded library of the same name (its stamp's) with it, or
  // adds it. Refused, with nothing changed, when it does not load, does not fit, fails to
  // register, drops a kind the old one had, or changes whether a kind is durable. Then
  // every live process of its kinds is upgraded in place; if any upgrade fails, the whole
  // reload is rolled back. Blocks up to about `timeout` (+ the rollback's); not from a worker.
  ReloadReport reload(const std::string& path, Millis timeout = Millis(30000));
  // The same on a thread of its own; `done` runs there. A second one while one runs is
  // answered at once with kUnavailable.
  void reload_async(std::string path, std::function<void(ReloadReport)> done);
  // Waits for a reload in progress to finish (it ends soon once the node stops).
  void join();
  // Before a reload loads a library into this process, `exe --kinds-probe LOADED... NEW`
  // loads the running libraries and then the new one in a child process (run_local_server
  // answers it): a library whose loading would abort or crash the server (a static
  // initializer that throws, protobuf messages registered twice) is refused instead.
  // Empty (the default): no probe.
  void set_probe(std::string exe) { probe_exe_ = std::move(exe); }
  // The probe's side: loads `paths` in order into a node that never starts; the error of the
  // first that does not load or register.
  static Status probe(const std::vector<std::string>& paths);
  // The paths of the libraries running now.
  std::vector<std::string> libraries() const;

 private:
  ReloadReport reload_locked(const std::string& path, Millis timeout);
  Status run_probe(const std::string& path) const;

  Node& node_;
  const std::map<std::string, std::string> options_;
  mutable std::mutex mu_;  // loaded_
  std::vector<std::shared_ptr<KindsLibrary>> loaded_;
  std::mutex reload_mu_;  // one reload at a time
  std::mutex thread_mu_;  // worker_, closed_
  std::thread worker_;
  bool closed_ = false;
  std::string probe_exe_;
};

}  // namespace behavior

#define BEHAVIOR_KINDS_LIBRARY(NAME, FN)                                                       \
  extern "C" __attribute__((visibility("default"))) const ::behavior::KindsStamp*             \
  behavior_kinds_v1() {                                                                      \
    static const ::behavior::KindsStamp stamp{::behavior::kKindsAbi, ::behavior::kCxxAbi,     \
                                              ::behavior::kVersion, NAME, &(FN)};            \
    return &stamp;                                                                           \
  }
