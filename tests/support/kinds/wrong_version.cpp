// wrong_version.cpp — a kinds library stamped for another behavior version: local_server
// must refuse it before calling anything in it (tests/integration/kinds_library_test.cpp).
#include <behavior/kinds_library.h>

namespace {
behavior::Status must_not_run(behavior::KindsContext&) {
  return behavior::Status::internal("the registration of a refused library ran");
}
}  // namespace

extern "C" __attribute__((visibility("default"))) const behavior::KindsStamp* behavior_kinds_v1() {
  static const behavior::KindsStamp stamp{behavior::kKindsAbi, behavior::kCxxAbi, "0.0.1", "old game",
                                          &must_not_run};
  return &stamp;
}
