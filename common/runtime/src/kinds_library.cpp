// kinds_library.cpp — loading a game's kinds from a shared library (see kinds_library.h).
// dlopen with RTLD_NOW, so a missing symbol is an error at load rather than a crash at the
// first call, and RTLD_LOCAL, so two libraries' own symbols cannot collide.
#include "behavior/kinds_library.h"

#include <dlfcn.h>

#include <charconv>
#include <exception>

namespace behavior {

int64_t KindsContext::option_int(const std::string& key, int64_t fallback) const {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  int64_t v = 0;
  const char* end = it->second.data() + it->second.size();
  auto [p, ec] = std::from_chars(it->second.data(), end, v);
  return ec == std::errc() && p == end ? v : fallback;
}

KindsLibrary::~KindsLibrary() {
  if (handle_) dlclose(handle_);  // the last process, kind entry or reload holding it is gone
}

Result<std::shared_ptr<KindsLibrary>> KindsLibrary::load(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return Status::invalid_argument("cannot load kinds library " + path + ": " + (why ? why : "unknown error"));
  }
  using StampFn = const KindsStamp* (*)();
  auto fn = reinterpret_cast<StampFn>(dlsym(handle, "behavior_kinds_v1"));
  if (!fn) {
    dlclose(handle);  // nothing of it ran
    return Status::invalid_argument(path + " is not a kinds library: it exports no behavior_kinds_v1 "
                                    "(define one with BEHAVIOR_KINDS_LIBRARY)");
  }
  const KindsStamp* stamp = fn();
  std::string mismatch;
  if (!stamp) {
    mismatch = "no stamp";
  } else if (stamp->kinds_abi != kKindsAbi) {
    mismatch = "kinds ABI " + std::to_string(stamp->kinds_abi) + ", this server loads ABI " + std::to_string(kKindsAbi);
  } else if (stamp->cxx_abi != kCxxAbi) {
    mismatch = "C++ ABI " + std::to_string(stamp->cxx_abi) + ", this server has " + std::to_string(kCxxAbi);
  } else if (!stamp->behavior_version || std::string(stamp->behavior_version) != kVersion) {
    mismatch = std::string("built against behavior ") + (stamp->behavior_version ? stamp->behavior_version : "?") +
               ", this server is " + kVersion;
  } else if (!stamp->register_kinds) {
    mismatch = "no registration function";
  }
  if (!mismatch.empty()) {
    // Its static initializers have run; leaving it mapped is the safe way out.
    return Status::invalid_argument("kinds library " + path + " does not fit this server: " + mismatch +
                                    " (rebuild it against this behavior)");
  }
  auto lib = std::shared_ptr<KindsLibrary>(new KindsLibrary());
  lib->path_ = path;
  lib->name_ = stamp->name ? stamp->name : "";
  lib->handle_ = handle;
  lib->stamp_ = stamp;
  return lib;
}

Status call_register_kinds(RegisterKindsFn fn, KindsContext& ctx, const std::string& who) {
  try {
    Status s = fn(ctx);
    if (!s.ok()) return Status(s.code(), who + ": " + s.message());
    return s;
  } catch (const std::exception& e) {
    return Status::internal(who + " threw while registering: " + e.what());
  }
}

}  // namespace behavior
