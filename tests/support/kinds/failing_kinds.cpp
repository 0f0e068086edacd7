// failing_kinds.cpp — a kinds library whose registration refuses its settings
// (kinds_library_test.cpp): local_server must not start.
#include <behavior/kinds_library.h>

namespace {
behavior::Status register_kinds(behavior::KindsContext& ctx) {
  if (ctx.option_int("rooms", 0) <= 0) return behavior::Status::invalid_argument("rooms must be positive");
  return {};
}
}  // namespace

BEHAVIOR_KINDS_LIBRARY("failing game", register_kinds)
