// Abandoned carts over real HTTP, in the time-skipping test environment: the shop (on
// SQLite files or a real PostgreSQL) and the engine run on its fake clock, so a day
// passes in milliseconds. A reminder comes once, cart activity pushes it back, an
// emptied cart gets none, and guest carts go after 30 idle days.

#include <gtest/gtest.h>

#include "activities/commerce_activities.h"
#include "engine/testing/test_environment.h"
#include "http/server.h"
#include "http/storefront_api.h"
#include "http/waiters.h"
#include "tests/testing/backends.h"
#include "tests/testing/http_client.h"
#include "workflows/commerce_workflows.h"

namespace keel {
namespace {

using testutil::HttpClient;
using testutil::HttpResult;

constexpr Millis kHour = 3600 * 1000;

class CartReminderTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP();
    workflows::RegisterCommerceWorkflows(registry_);
    activities::RegisterCommerceActivities(registry_, &deps_);
    TestEnvironment::Options eo;
    eo.start_time = 1'800'000'000'000;
    eo.engine.poll_interval_ms = 5;
    auto env = TestEnvironment::Create(&registry_, eo);
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    env_ = std::move(env).value();
    commerce::ShopOptions so;
    so.token_ttl_ms = 90LL * 24 * kHour;  // the test's days pass on the same clock
    auto shop = commerce::Shop::Open(backend_->url(), &env_->clock(), so);
    ASSERT_TRUE(shop.ok()) << shop.status().ToString();
    shop_ = std::move(shop).value();
    deps_.shop = shop_.get();
    waiters_ = std::make_unique<http::Waiters>();
    http::CheckoutConfig cc;
    cc.history = &env_->engine().history();
    cc.waiters = waiters_.get();
    cc.cart_reminder_after_ms = 24 * kHour;
    http::StorefrontOptions fo;
    fo.auth_per_address = {100'000, 100'000};
    api_ = std::make_unique<http::StorefrontApi>(shop_.get(), fo, cc);
    api_->AddRoutes(router_);
    http::ServerOptions o;
    o.port = 0;
    o.threads = 4;
    server_ = std::make_unique<http::HttpServer>(
        o, [this](const http::Request& r, const http::RequestInfo& i) {
          return router_.Handle(r, i);
        });
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<HttpClient>(server_->port());
  }
  void TearDown() override {
    if (waiters_) waiters_->Stop();
    if (server_) server_->Stop(500);
    env_.reset();  // the engine stops before the shop it calls goes
  }

  std::string User(const std::string& email, const std::string& role = "buyer") {
    client_->Call(
        "POST", "/auth/register",
        R"({"email":")" + email + R"(","password":"correct horse","role":")" + role + R"("})");
    HttpResult l = client_->Call("POST", "/auth/login",
                                 R"({"email":")" + email + R"(","password":"correct horse"})");
    EXPECT_EQ(l.status, 200) << l.body;
    return std::string(l.Json().at("token").as_string());
  }
  // An item with 9 in stock, listed by a seller.
  std::string Item(const std::string& name) {
    std::string seller = User("seller-" + name + "@example.com", "seller");
    HttpResult r = client_->Call("POST", "/items",
                                 R"({"name":")" + name +
                                     R"(","description":"d","price":1500,)"
                                     R"("currency":"USD","category":"home","quantity":9})",
                                 seller);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? std::string(r.Json().at("id").as_string()) : "";
  }
  HttpResult SetLine(const std::string& token, const std::string& item, int qty,
                     const std::string& guest = "") {
    std::map<std::string, std::string> headers;
    if (!guest.empty()) headers["X-Cart-Id"] = guest;
    return client_->Call("PATCH", "/cart",
                         R"({"itemId":")" + item + R"(","quantity":)" + std::to_string(qty) + "}",
                         token, headers);
  }
  int Reminders(const std::string& token) {
    HttpResult r = client_->Call("GET", "/notifications", "", token);
    EXPECT_EQ(r.status, 200) << r.body;
    int n = 0;
    if (r.status != 200) return n;
    const json::value v = r.Json();
    for (const auto& x : v.at("notifications").as_array()) n += x.at("type") == "cart_reminder";
    return n;
  }
  void Pass(Millis ms) { ASSERT_TRUE(env_->AdvanceAndSettle(ms).ok()); }

  std::unique_ptr<testutil::BackendInstance> backend_;
  Registry registry_;
  activities::CommerceDeps deps_;
  std::unique_ptr<TestEnvironment> env_;
  std::unique_ptr<commerce::Shop> shop_;
  std::unique_ptr<http::Waiters> waiters_;
  std::unique_ptr<http::StorefrontApi> api_;
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_P(CartReminderTest, AReminderComesOnceADayAfterTheLastChange) {
  const std::string lamp = Item("Lamp");
  std::string ann = User("ann@example.com");
  ASSERT_EQ(SetLine(ann, lamp, 1).status, 200);
  Pass(12 * kHour);
  ASSERT_EQ(SetLine(ann, lamp, 2).status, 200);  // activity: the day starts again
  Pass(12 * kHour);                              // a day after the first change
  EXPECT_EQ(Reminders(ann), 0);
  Pass(11 * kHour);
  EXPECT_EQ(Reminders(ann), 0);
  Pass(1 * kHour);  // a day after the last change
  EXPECT_EQ(Reminders(ann), 1);
  Pass(72 * kHour);
  EXPECT_EQ(Reminders(ann), 1);  // once
  // A change after the reminder starts the next one.
  ASSERT_EQ(SetLine(ann, lamp, 3).status, 200);
  Pass(24 * kHour);
  EXPECT_EQ(Reminders(ann), 2);

  // A cart emptied before the day is out gets none.
  std::string bob = User("bob@example.com");
  ASSERT_EQ(SetLine(bob, lamp, 1).status, 200);
  Pass(2 * kHour);
  ASSERT_EQ(SetLine(bob, lamp, 0).status, 200);
  Pass(48 * kHour);
  EXPECT_EQ(Reminders(bob), 0);
}

TEST_P(CartReminderTest, GuestCartsGoAfterThirtyIdleDays) {
  constexpr Millis kGuestIdle = 30 * 24 * kHour;  // keel serve --guest-cart-ttl-days 30
  const std::string mug = Item("Mug");
  HttpResult made = client_->Call("POST", "/carts");
  ASSERT_EQ(made.status, 201);
  const std::string idle(made.Json().at("cart_id").as_string());
  const std::string busy(client_->Call("POST", "/carts").Json().at("cart_id").as_string());
  ASSERT_EQ(SetLine("", mug, 1, idle).status, 200);
  ASSERT_EQ(SetLine("", mug, 1, busy).status, 200);
  auto get = [&](const std::string& cart) {
    return client_->Call("GET", "/cart", "", "", {{"X-Cart-Id", cart}}).status;
  };
  Pass(20 * 24 * kHour);
  ASSERT_EQ(SetLine("", mug, 2, busy).status, 200);  // touched on day 20
  Pass(9 * 24 * kHour);
  ASSERT_TRUE(api_->Prune(kGuestIdle).ok());  // day 29: both stay
  EXPECT_EQ(get(idle), 200);
  EXPECT_EQ(get(busy), 200);
  Pass(2 * 24 * kHour);
  ASSERT_TRUE(api_->Prune(kGuestIdle).ok());  // day 31: the idle one goes
  EXPECT_EQ(get(idle), 404);
  EXPECT_EQ(get(busy), 200);
  // A guest cart is nobody's to remind.
  EXPECT_FALSE(
      env_->store().ReadCurrentExecution(workflows::CartReminderWorkflowId(busy))->has_value());
}

INSTANTIATE_TEST_SUITE_P(Stores, CartReminderTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
