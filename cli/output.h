#pragma once
// How CLI commands print tables (`--output table`); times use FormatUtc (common/clock.h).

#include <string>
#include <vector>

#include "common/status.h"

namespace keel::cli {

// Rows of cells, columns padded to their widest cell; the first row is the header.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

// A bench's latencies, one per line in milliseconds (for bench/plot.sh); "" writes
// nothing. Errors name the file.
Status WriteLatencies(const std::string& path, const std::vector<double>& ms);

}  // namespace keel::cli
