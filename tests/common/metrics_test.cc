#include "common/metrics.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(MetricsTest, AFamilyStopsGrowingAtItsCap) {
  Metrics m;
  for (size_t i = 0; i < Metrics::kMaxSeriesPerFamily + 100; ++i) {
    m.GetCounter("keel_test_total", "test", {{"k", "v" + std::to_string(i)}}).Inc();
  }
  const std::string text = m.Render();
  size_t series = 0;
  for (size_t at = text.find("keel_test_total{"); at != std::string::npos;
       at = text.find("keel_test_total{", at + 1)) {
    ++series;
  }
  EXPECT_EQ(series, Metrics::kMaxSeriesPerFamily + 1);  // the cap, plus "other"
  EXPECT_NE(text.find("keel_test_total{k=\"other\"} 100"), std::string::npos);
  // Series that existed before the cap keep counting on their own.
  m.GetCounter("keel_test_total", "test", {{"k", "v0"}}).Inc();
  EXPECT_NE(m.Render().find("keel_test_total{k=\"v0\"} 2"), std::string::npos);
}

}  // namespace
}  // namespace keel
