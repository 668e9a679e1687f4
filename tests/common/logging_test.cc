// JSON logs: one object per line, with the run's ids as fields.

#include "common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "common/json.h"

namespace keel {
namespace {

TEST(LoggingTest, JsonLinesCarryTheRunAsFields) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::set_default_logger(logger);
  UseJsonLogs();
  spdlog::warn("[wf=checkout-ord_1 run=01a2] activity 3 result not recorded: \"x\"\n");
  spdlog::info("plain line");
  spdlog::set_default_logger(previous);
  spdlog::set_pattern("%+");  // back to spdlog's default text for later tests

  std::istringstream lines(out.str());
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  json::value a = json::parse(first);
  EXPECT_EQ(a.at("level"), "warning");
  EXPECT_EQ(a.at("wf"), "checkout-ord_1");
  EXPECT_EQ(a.at("run"), "01a2");
  EXPECT_EQ(a.at("msg"), "activity 3 result not recorded: \"x\"\n");
  EXPECT_FALSE(a.at("ts").as_string().empty());
  json::value b = json::parse(second);
  EXPECT_EQ(b.at("msg"), "plain line");
  EXPECT_FALSE(b.as_object().contains("wf"));
}

}  // namespace
}  // namespace keel
