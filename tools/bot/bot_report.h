// bot_report.h — the end-of-run verdict and summary: human-readable text plus the one
// greppable "bot summary:" line, or a single JSON object (--json), on stdout.
#pragma once

#include <cstdio>

#include "bot_stats.h"

namespace behavior::bot {

// PASS: nothing lost, reordered or duplicated, and errors within --max-errors.
bool passed(const Config& config, const Tally& t);

// elapsed_s: the whole run (play and drain). Writes to `out`.
void print_report(std::FILE* out, const Config& config, Tally& t, double elapsed_s);

}  // namespace behavior::bot
