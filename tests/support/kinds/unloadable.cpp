// unloadable.cpp — a kinds library that cannot load: it needs a symbol nothing provides, so
// dlopen(RTLD_NOW) fails (tests/hot_update/reload_test.cpp: a reload of it is refused).
#include <behavior/kinds_library.h>

extern "C" int behavior_symbol_nobody_defines();

namespace {
behavior::Status register_kinds(behavior::KindsContext&) {
  return behavior_symbol_nobody_defines() == 0 ? behavior::Status() : behavior::Status::internal("unreachable");
}
}  // namespace

BEHAVIOR_KINDS_LIBRARY("demo game", register_kinds)
