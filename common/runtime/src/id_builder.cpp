// id_builder.cpp — see id_builder.h.
#include "behavior/id_builder.h"

#include <chrono>

namespace behavior {

IdBuilder::IdBuilder()
    : next_(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count())
            << 20) {}

}  // namespace behavior
