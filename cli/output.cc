#include "cli/output.h"

#include <iomanip>
#include <iostream>

namespace keel::cli {

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (const auto& r : rows) {
    if (w.size() < r.size()) w.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      std::cout << std::left << std::setw(static_cast<int>(i + 1 < r.size() ? w[i] + 2 : 0))
                << r[i];
    }
    std::cout << "\n";
  }
}

}  // namespace keel::cli
