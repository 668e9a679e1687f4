#pragma once
// How CLI commands print tables (`--output table`); times use FormatUtc (common/clock.h).

#include <string>
#include <vector>

namespace keel::cli {

// Rows of cells, columns padded to their widest cell; the first row is the header.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace keel::cli
