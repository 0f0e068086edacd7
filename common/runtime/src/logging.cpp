// logging.cpp — see logging.h.
#include "behavior/logging.h"

#include <fmt/format.h>

#include <string>

namespace behavior {

void init_logging(uint16_t node_id, std::string_view level) {
  spdlog::set_pattern(fmt::format("%Y-%m-%d %H:%M:%S.%e %^%l%$ node={} %v", node_id));
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace behavior
