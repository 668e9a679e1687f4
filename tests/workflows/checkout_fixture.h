#pragma once
// The checkout end-to-end fixture: the shop's API, the engine with its workers, the
// payment gateway and the carrier simulators on their own loopback ports with signed
// webhooks, on real SQLite files or a real PostgreSQL, and the helpers the tests
// share (buyers, items, carts, checkouts, the audit once the system is quiet).

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "activities/commerce_activities.h"
#include "audit/audit.h"
#include "common/temp_dir.h"
#include "engine/engine.h"
#include "http/client.h"
#include "http/server.h"
#include "http/storefront_api.h"
#include "http/webhook_signature.h"
#include "sims/carrier/carrier_sim.h"
#include "sims/payments/payments_sim.h"
#include "tests/testing/backends.h"
#include "tests/testing/http_client.h"
#include "workflows/commerce_workflows.h"

namespace keel {

using namespace std::chrono_literals;
using testutil::HttpClient;
using testutil::HttpResult;

constexpr Millis kPaymentWindowMs = 2500;

inline std::unique_ptr<http::HttpServer> Serve(http::Router* router, int threads) {
  http::ServerOptions o;
  o.port = 0;
  o.threads = threads;
  auto s = std::make_unique<http::HttpServer>(
      o, [router](const http::Request& r, const http::RequestInfo& i) {
        return router->Handle(r, i);
      });
  EXPECT_TRUE(s->Start().ok());
  return s;
}

class CheckoutE2ETest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  // 3-D Secure's own window (0: the payment window).
  virtual Millis ActionWindowMs() const { return 0; }
  // The hot SKUs' admission gate.
  virtual http::AdmissionOptions Admission() const { return {}; }
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP();
    Clock* clock = SystemClock::Default();
    auto store = backend_->Open(clock);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto shop = commerce::Shop::Open(backend_->url(), clock);
    ASSERT_TRUE(shop.ok()) << shop.status().ToString();
    shop_ = std::move(shop).value();
    shop_->StartBackground();

    // The simulators, each with its own SQLite ledger.
    auto dir = TempDir::Create("keel-e2e-sims");
    ASSERT_TRUE(dir.ok());
    sim_dir_ = std::make_unique<TempDir>(std::move(dir).value());
    auto pay_db = persistence::OpenSqlDatabase("sqlite:" + sim_dir_->path(), "payments_sim", {});
    ASSERT_TRUE(pay_db.ok());
    sims::PaymentsSimOptions po;
    po.faults.three_ds_delay_ms = 300;
    auto pay = sims::PaymentsSim::Open(std::move(pay_db).value(), clock, po);
    ASSERT_TRUE(pay.ok()) << pay.status().ToString();
    payments_ = std::move(pay).value();
    payments_->AddRoutes(pay_router_);
    pay_server_ = Serve(&pay_router_, 4);
    auto car_db = persistence::OpenSqlDatabase("sqlite:" + sim_dir_->path(), "carrier_sim", {});
    ASSERT_TRUE(car_db.ok());
    sims::CarrierSimOptions co;
    co.faults.step_ms = 100;
    auto car = sims::CarrierSim::Open(std::move(car_db).value(), clock, co);
    ASSERT_TRUE(car.ok()) << car.status().ToString();
    carrier_ = std::move(car).value();
    carrier_->AddRoutes(car_router_);
    car_server_ = Serve(&car_router_, 2);

    // The engine with every worker in process.
    deps_.shop = shop_.get();
    deps_.payments_url = "http://127.0.0.1:" + std::to_string(pay_server_->port());
    deps_.carrier_url = "http://127.0.0.1:" + std::to_string(car_server_->port());
    workflows::RegisterCommerceWorkflows(registry_);
    activities::RegisterCommerceActivities(registry_, &deps_);
    EngineOptions eo;
    eo.activity_threads = 16;
    eo.poll_interval_ms = 50;
    engine_ = std::make_unique<Engine>(store_.get(), &registry_, eo);
    deps_.history = &engine_->history();
    engine_->Start();

    // The shop's API, and the simulators' webhooks pointed at it.
    http::StorefrontOptions so;
    so.auth_per_address = {100'000, 100'000};
    so.admin_token = "e2e-admin-token";
    waiters_ = std::make_unique<http::Waiters>();
    http::CheckoutConfig cc;
    cc.history = &engine_->history();
    cc.waiters = waiters_.get();
    cc.payment_window_ms = kPaymentWindowMs;
    cc.action_window_ms = ActionWindowMs();
    cc.admission = Admission();
    cc.payments_webhook_secret = payments_->webhook_secret();
    cc.carrier_webhook_secret = carrier_->webhook_secret();
    api_ = std::make_unique<http::StorefrontApi>(shop_.get(), so, cc);
    api_->AddRoutes(router_);
    server_ = Serve(&router_, 32);
    const std::string base = "http://127.0.0.1:" + std::to_string(server_->port());
    payments_->SetWebhookUrl(base + "/webhooks/payments");
    carrier_->SetWebhookUrl(base + "/webhooks/carrier");
    payments_->Start();
    carrier_->Start();
    client_ = std::make_unique<HttpClient>(server_->port());
    seller_ = User("seller@example.com", "seller");
  }

  void TearDown() override {
    if (waiters_) waiters_->Stop();
    if (server_) server_->Stop(500);
    if (engine_) engine_->Stop();
    if (payments_) payments_->Stop();
    if (carrier_) carrier_->Stop();
    if (pay_server_) pay_server_->Stop(100);
    if (car_server_) car_server_->Stop(100);
    if (shop_) shop_->StopBackground();
  }

  std::string User(const std::string& email, const std::string& role = "buyer",
                   std::string* id = nullptr) {
    HttpClient c(server_->port());
    HttpResult r = c.Call(
        "POST", "/auth/register",
        R"({"email":")" + email + R"(","password":"correct horse","role":")" + role + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    HttpResult l =
        c.Call("POST", "/auth/login", R"({"email":")" + email + R"(","password":"correct horse"})");
    EXPECT_EQ(l.status, 200) << l.body;
    if (id) *id = std::string(l.Json().at("user_id").as_string());
    return std::string(l.Json().at("token").as_string());
  }

  std::string Item(const std::string& name, int64_t price, int64_t quantity) {
    HttpResult r = client_->Call(
        "POST", "/items",
        R"({"name":")" + name + R"(","description":"e2e","price":)" + std::to_string(price) +
            R"(,"currency":"USD","category":"home","brand":"Acme","quantity":)" +
            std::to_string(quantity) + "}",
        seller_);
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(r.Json().at("id").as_string());
  }

  void AddToCart(HttpClient& c, const std::string& token, const std::string& item, int64_t qty) {
    HttpResult r =
        c.Call("PATCH", "/cart",
               R"({"itemId":")" + item + R"(","quantity":)" + std::to_string(qty) + "}", token);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  int64_t CartTotal(HttpClient& c, const std::string& token) {
    return c.Call("GET", "/cart", "", token).Json().at("total").as_int64();
  }

  HttpResult Checkout(HttpClient& c, const std::string& token, const std::string& pm,
                      const std::string& key = "", int wait_s = 20, int64_t amount = -1) {
    if (amount < 0) amount = CartTotal(c, token);
    std::map<std::string, std::string> headers;
    if (!key.empty()) headers["Idempotency-Key"] = key;
    return c.Call(
        "POST", "/checkout?wait=" + std::to_string(wait_s),
        R"({"amount":)" + std::to_string(amount) +
            R"(,"paymentInfo":{"paymentType":"CARD","paymentMethod":")" + pm +
            R"("},"shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"}})",
        token, headers);
  }

  std::string OrderStatus(const std::string& token, const std::string& order_id) {
    HttpResult r = client_->Call("GET", "/orders/" + order_id, "", token);
    return r.status == 200 ? std::string(r.Json().at("status").as_string())
                           : "http " + std::to_string(r.status);
  }

  // Waits up to 15 s for the order to reach `status`.
  bool WaitStatus(const std::string& token, const std::string& order_id,
                  const std::string& status) {
    for (int i = 0; i < 750; ++i) {
      if (OrderStatus(token, order_id) == status) return true;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "order " << order_id << " never reached " << status << "; it is "
                  << OrderStatus(token, order_id);
    return false;
  }

  int64_t Available(const std::string& item) {
    return client_->Call("GET", "/items/" + item).Json().at("available").as_int64();
  }

  // The gateway's intents for an order.
  std::vector<json::object> Intents(const std::string& order_id) {
    auto url = http::ParseHttpUrl(deps_.payments_url);
    auto r = http::HttpCall(url.value(), "GET", "/v1/payment_intents?limit=100");
    EXPECT_TRUE(r.ok());
    std::vector<json::object> out;
    json::value body = ParseJson(r->body).value();
    for (const auto& v : body.at("data").as_array()) {
      if (v.at("metadata").as_object().contains("order_id") &&
          v.at("metadata").at("order_id").as_string() == order_id) {
        out.push_back(v.as_object());
      }
    }
    return out;
  }

  // The count of `type` notifications, once it reaches `want` (or after 10 s): a
  // notification is the step after the transition that ?wait= and WaitStatus see.
  int Notified(const std::string& order_id, const std::string& type, int want) {
    int n = 0;
    for (int i = 0; i < 500; ++i) {
      n = Notifications(order_id, type);
      if (n >= want) break;
      std::this_thread::sleep_for(20ms);
    }
    return n;
  }

  int Notifications(const std::string& order_id, const std::string& type) {
    auto n = shop_->notifications().ForOrder(order_id);
    EXPECT_TRUE(n.ok());
    int count = 0;
    for (const auto& x : n.value()) count += x.type == type;
    return count;
  }

  // SPEC section 7, once the system is quiet: no workflow task or activity is left
  // to run (or 20 s pass, and the audit reports what is still wrong).
  void ExpectInvariants() {
    audit::AuditOptions o;
    o.payments_url = deps_.payments_url;
    o.engine = store_.get();
    o.payment_window_ms = kPaymentWindowMs;
    o.liveness_bound_ms = 10'000;
    std::vector<audit::Violation> last;
    for (int i = 0; i < 200; ++i) {
      auto v = audit::Run(*shop_, o);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      last = v.value();
      if (last.empty() && engine_->Idle()) return;
      std::this_thread::sleep_for(100ms);
    }
    for (const auto& v : last) ADD_FAILURE() << audit::ToString(v);
  }

  std::unique_ptr<testutil::BackendInstance> backend_;
  std::unique_ptr<persistence::Store> store_;
  std::unique_ptr<commerce::Shop> shop_;
  std::unique_ptr<TempDir> sim_dir_;
  std::unique_ptr<sims::PaymentsSim> payments_;
  std::unique_ptr<sims::CarrierSim> carrier_;
  http::Router pay_router_, car_router_, router_;
  std::unique_ptr<http::HttpServer> pay_server_, car_server_, server_;
  activities::CommerceDeps deps_;
  Registry registry_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<http::Waiters> waiters_;
  std::unique_ptr<http::StorefrontApi> api_;
  std::unique_ptr<HttpClient> client_;
  std::string seller_;
};

// A checkout reply's order id and status. (In their own namespace: a test file's
// `using` brings them in, where `Status` names the function, not keel::Status.)
namespace e2e {
inline std::string Id(const HttpResult& r) {
  return std::string(r.Json().at("order_id").as_string());
}
inline std::string Status(const HttpResult& r) {
  return std::string(r.Json().at("status").as_string());
}
// A checkout's ?wait= answers once the order leaves pending_payment; a paid order may
// already have moved on towards shipping by then.
inline bool Paid(const HttpResult& r) {
  const std::string s = Status(r);
  return s == "confirmed" || s == "fulfilling" || s == "shipped" || s == "delivered";
}
}  // namespace e2e

}  // namespace keel
