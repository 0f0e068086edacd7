// logging.h — one spdlog logger for the whole binary: one line per event, prefixed with the
// node id, so the lines of several servers can be read side by side.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string_view>

namespace behavior {

// Sets the pattern "<time> <level> node=<id> <message>" and the level
// ("trace", "debug", "info", "warn", "error", "off").
void init_logging(uint16_t node_id, std::string_view level = "info");

}  // namespace behavior
