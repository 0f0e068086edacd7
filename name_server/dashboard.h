// dashboard.h — the dashboard page (dashboard/index.html), compiled in so the name server
// serves it with no files to deploy. CMake generates dashboard.cpp from the HTML.
#pragma once

namespace behavior::name_server {
extern const char* const kDashboardHtml;
}
