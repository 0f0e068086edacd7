// play_page.h — the demo game's browser client (play/index.html), compiled in so the name
// server serves it at /play with no files to deploy. CMake generates play_page.cpp from it.
#pragma once

namespace behavior::name_server {
extern const char* const kPlayHtml;
}
