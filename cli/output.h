#pragma once
// How CLI commands print: UTC times and aligned tables (`--output table`).

#include <string>
#include <vector>

#include "common/clock.h"

namespace keel::cli {

// "2026-11-22T10:00:00.123Z"; "-" for 0.
std::string FormatTime(Millis ms);
// Rows of cells, columns padded to their widest cell; the first row is the header.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace keel::cli
