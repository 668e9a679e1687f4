// The OpenAPI document at /openapi.json against the API's router: every route has an
// entry and every entry a route, each with its responses and error body.

#include <gtest/gtest.h>

#include <set>

#include "cli/shop_stack.h"
#include "common/json.h"
#include "common/temp_dir.h"
#include "http/web_assets.h"

namespace keel {
namespace {

std::set<std::string> RouterRoutes() {
  auto data = TempDir::Create("keel-openapi");
  auto sims = TempDir::Create("keel-openapi-sims");
  EXPECT_TRUE(data.ok() && sims.ok());
  cli::ShopStackOptions o;
  o.db = "sqlite:" + data->path();
  o.serve = true;
  const std::string any_port = "127.0.0.1:0";
  o.http = any_port;
  o.payments_http = any_port;
  o.carrier_http = any_port;
  o.sim_data = sims->path();
  o.admin_token = std::string(
      "test-admin-token");  // not operator=(const char*): gcc 12 warns (-Wrestrict) falsely
  auto stack = cli::ShopStack::Start(o);
  EXPECT_TRUE(stack.ok()) << stack.status().ToString();
  std::set<std::string> out;
  if (!stack.ok()) return out;
  for (const auto& [verb, pattern] : (*stack)->router().Routes()) {
    std::string m(http::bhttp::to_string(verb));
    for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.insert(m + " " + pattern);
  }
  (*stack)->Stop();
  return out;
}

json::object Spec() {
  const http::WebAsset* a = http::FindWebAsset("openapi.json");
  EXPECT_NE(a, nullptr);
  auto doc = ParseJson(std::string(a->bytes));
  EXPECT_TRUE(doc.ok() && doc->is_object());
  return doc->as_object();
}

TEST(OpenApiTest, EveryRouteHasAnEntryAndEveryEntryARoute) {
  const std::set<std::string> routes = RouterRoutes();
  ASSERT_GT(routes.size(), 30u);
  const json::object spec = Spec();
  EXPECT_EQ(spec.at("openapi").as_string(), "3.1.0");
  std::set<std::string> documented;
  for (const auto& [path, item] : spec.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      if (method == "parameters" || method == "summary" || method == "description") continue;
      documented.insert(std::string(method) + " " + std::string(path));
    }
  }
  for (const auto& r : routes) EXPECT_TRUE(documented.count(r)) << "route without an entry: " << r;
  for (const auto& d : documented) EXPECT_TRUE(routes.count(d)) << "entry without a route: " << d;
}

TEST(OpenApiTest, EveryOperationHasResponsesTheErrorBodyAndASecurityStatement) {
  const json::object spec = Spec();
  for (const auto& [path, item] : spec.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      const std::string where = std::string(method) + " " + std::string(path);
      const json::object& o = op.as_object();
      EXPECT_TRUE(o.contains("operationId")) << where;
      EXPECT_TRUE(o.contains("security")) << where << ": say which token, or none";
      const json::object& res = o.at("responses").as_object();
      EXPECT_TRUE(res.contains("default")) << where << ": the error body";
      bool success = false;
      for (const auto& [code, r] : res) success = success || code.starts_with("2");
      EXPECT_TRUE(success) << where << ": a success response";
    }
  }
  const auto& schemes = spec.at("components").at("securitySchemes").as_object();
  EXPECT_TRUE(schemes.contains("userToken") && schemes.contains("adminToken"));
}

}  // namespace
}  // namespace keel
