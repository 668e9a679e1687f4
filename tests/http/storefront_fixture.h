#pragma once
// The storefront over real HTTP, for tests: a real server on a loopback port, a real
// client, real SQLite files or a real PostgreSQL, and helpers to make users and items.

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "http/server.h"
#include "http/storefront_api.h"
#include "tests/testing/backends.h"
#include "tests/testing/http_client.h"

namespace keel {

using testutil::HttpClient;
using testutil::HttpResult;

class StorefrontApiTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  static constexpr const char* kAdminToken = "storefront-test-admin-token";
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP();
    auto shop = commerce::Shop::Open(backend_->url(), SystemClock::Default());
    ASSERT_TRUE(shop.ok()) << shop.status().ToString();
    shop_ = std::move(shop).value();
    shop_->StartBackground();
    http::StorefrontOptions o;
    o.auth_per_address = {1000, 1000};  // the rate-limit test makes its own server
    o.admin_token = kAdminToken;
    api_ = std::make_unique<http::StorefrontApi>(shop_.get(), o);
    api_->AddRoutes(router_);
    http::ServerOptions so;
    so.port = 0;
    so.max_body_bytes = 64 * 1024;
    server_ = std::make_unique<http::HttpServer>(
        so, [this](const http::Request& r, const http::RequestInfo& i) {
          return router_.Handle(r, i);
        });
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<HttpClient>(server_->port());
  }
  void TearDown() override {
    if (server_) server_->Stop();
    if (shop_) shop_->StopBackground();
  }

  // Registers and logs in; returns the token (and the user id in *id).
  std::string User(const std::string& email, const std::string& role, std::string* id = nullptr) {
    HttpResult r = client_->Call(
        "POST", "/auth/register",
        R"({"email":")" + email + R"(","password":"correct horse","role":")" + role + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    HttpResult l = client_->Call("POST", "/auth/login",
                                 R"({"email":")" + email + R"(","password":"correct horse"})");
    EXPECT_EQ(l.status, 200) << l.body;
    if (id) *id = std::string(l.Json().at("user_id").as_string());
    return std::string(l.Json().at("token").as_string());
  }

  std::string NewItem(const std::string& token, const std::string& name, int64_t price,
                      int64_t quantity, const std::string& category = "home",
                      const std::string& brand = "Acme") {
    HttpResult r =
        client_->Call("POST", "/items",
                      R"({"name":")" + name + R"(","description":"a test item","price":)" +
                          std::to_string(price) + R"(,"currency":"USD","category":")" + category +
                          R"(","brand":")" + brand + R"(","quantity":)" + std::to_string(quantity) +
                          R"(,"attributes":{"color":"red"}})",
                      token);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? std::string(r.Json().at("id").as_string()) : "";
  }

  // An item with a name, price and attributes, as a seller lists it.
  std::string Listed(const std::string& token, const std::string& name, int64_t price,
                     const std::string& attributes = "{}", const std::string& brand = "Acme",
                     const std::string& category = "home", int quantity = 5) {
    HttpResult r = client_->Call(
        "POST", "/items",
        R"({"name":")" + name + R"(","description":"for the discovery test","price":)" +
            std::to_string(price) + R"(,"currency":"USD","category":")" + category +
            R"(","brand":")" + brand + R"(","quantity":)" + std::to_string(quantity) +
            R"(,"attributes":)" + attributes + "}",
        token);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? std::string(r.Json().at("id").as_string()) : "";
  }

  // A delivered order of one of each of `item_ids` by `buyer_id`, made through the
  // inventory (a hold per line, committed: the units are sold) and the order service.
  void Delivered(const std::string& order_id, const std::string& buyer_id,
                 const std::vector<std::string>& item_ids) {
    for (const auto& id : item_ids) {
      const std::string hold = "hold-" + order_id + "-" + id;
      ASSERT_TRUE(shop_->inventory().Reserve({{hold, id, 1}}, order_id, 60'000).ok());
      ASSERT_TRUE(shop_->inventory().Commit(hold).ok());
    }
    commerce::Order o;
    o.order_id = order_id;
    o.buyer_id = buyer_id;
    o.currency = "USD";
    o.idempotency_key = "key-" + order_id;
    for (const auto& id : item_ids) o.lines.push_back({id, 1, 1000, ""});
    o.subtotal = o.total = 1000 * static_cast<int64_t>(item_ids.size());
    ASSERT_TRUE(shop_->orders().Create(o).ok());
    const char* path[] = {"pending_payment", "confirmed", "fulfilling", "shipped", "delivered"};
    for (int i = 0; i + 1 < 5; ++i) {
      ASSERT_TRUE(shop_->orders().Transition(order_id, path[i], path[i + 1], "test").ok());
    }
  }

  // Polls search until `pred` holds for the result (the index is eventually consistent).
  json::value SearchUntil(const std::string& query,
                          const std::function<bool(const json::value&)>& pred) {
    json::value last;
    for (int i = 0; i < 100; ++i) {
      HttpResult r = client_->Call("GET", "/items?" + query);
      EXPECT_EQ(r.status, 200) << r.body;
      last = r.Json();
      if (pred(last)) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "search " << query << " never matched; last: " << json::serialize(last);
    return last;
  }

  std::unique_ptr<testutil::BackendInstance> backend_;
  std::unique_ptr<commerce::Shop> shop_;
  std::unique_ptr<http::StorefrontApi> api_;
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

// The field a 422 names, or "".
inline std::string Field(const HttpResult& r) {
  json::value v = r.Json();
  const auto* d = v.is_object() ? v.at("error").as_object().if_contains("details") : nullptr;
  return d ? std::string(d->at("field").as_string()) : "";
}

}  // namespace keel
