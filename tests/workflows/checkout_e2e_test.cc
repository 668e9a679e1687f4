// The checkout saga end to end, over real HTTP: the shop's API, the engine with its
// workers, the payment gateway and the carrier simulators on their own loopback
// ports with signed webhooks, on real SQLite files or a real PostgreSQL. One test per
// case of issue 5; each ends by checking every invariant of SPEC section 7.

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
namespace {

using namespace std::chrono_literals;
using testutil::HttpClient;
using testutil::HttpResult;

constexpr Millis kPaymentWindowMs = 2500;

std::unique_ptr<http::HttpServer> Serve(http::Router* router, int threads) {
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

std::string Id(const HttpResult& r) { return std::string(r.Json().at("order_id").as_string()); }
std::string Status(const HttpResult& r) { return std::string(r.Json().at("status").as_string()); }

TEST_P(CheckoutE2ETest, SuccessConfirmsShipsAndDelivers) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5), mug = Item("Mug", 3500, 5);
  AddToCart(*client_, buyer, lamp, 2);
  AddToCart(*client_, buyer, mug, 1);
  HttpResult r = Checkout(*client_, buyer, "pm_card_visa");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string order = Id(r);
  EXPECT_NE(Status(r), "pending_payment");
  EXPECT_EQ(r.Json().at("total").as_int64(), 2 * 1999 + 3500);  // free shipping from 50.00
  EXPECT_TRUE(WaitStatus(buyer, order, "delivered"));
  EXPECT_EQ(Available(lamp), 3);
  EXPECT_EQ(Available(mug), 4);
  EXPECT_TRUE(client_->Call("GET", "/cart", "", buyer).Json().at("lines").as_array().empty());
  auto intents = Intents(order);
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].at("status").as_string(), "succeeded");
  EXPECT_EQ(intents[0].at("amount_received").as_int64(), 7498);
  EXPECT_EQ(Notified(order, "order_delivered", 1), 1);
  // Tracking is the saga's child, and outlived it (parent close policy ABANDON).
  auto saga = store_->ReadCurrentExecution(workflows::CheckoutWorkflowId(order)).value();
  auto tracking = store_->ReadCurrentExecution(workflows::ShipmentWorkflowId(order)).value();
  ASSERT_TRUE(saga && tracking);
  EXPECT_EQ(tracking->parent_run_id, saga->run_id);
  EXPECT_EQ(saga->children, 1);
  HttpResult notes = client_->Call("GET", "/notifications", "", buyer);
  ASSERT_EQ(notes.status, 200);
  std::set<std::string> types;
  json::value note_list = notes.Json();
  for (const auto& n : note_list.at("notifications").as_array())
    types.insert(std::string(n.at("type").as_string()));
  EXPECT_EQ(types, (std::set<std::string>{"order_confirmed", "order_shipped", "order_delivered"}));
  // Another buyer sees neither the order nor its notifications.
  std::string bob = User("bob@example.com");
  EXPECT_EQ(client_->Call("GET", "/orders/" + order, "", bob).status, 404);
  EXPECT_TRUE(client_->Call("GET", "/notifications", "", bob)
                  .Json()
                  .at("notifications")
                  .as_array()
                  .empty());
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, ASavedAddressIsCopiedIntoTheOrderAndTheSellerSeesIt) {
  std::string buyer = User("ann@example.com");
  HttpResult saved = client_->Call(
      "POST", "/me/addresses",
      R"({"name":"Ann Lee","line1":"2 Side St","line2":"Flat 3","city":"Leeds","region":"West Yorkshire","postal_code":"LS1 4AP","country":"GB"})",
      buyer);
  ASSERT_EQ(saved.status, 201) << saved.body;
  const std::string address_id(saved.Json().at("address_id").as_string());
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 1);
  const std::string pay = R"("paymentInfo":{"paymentType":"CARD","paymentMethod":"pm_card_visa"})";
  const std::string amount = std::to_string(CartTotal(*client_, buyer));
  HttpResult wrong = client_->Call(
      "POST", "/checkout",
      R"({"amount":)" + amount + "," + pay + R"(,"shippingAddressId":"addr_nope"})", buyer);
  EXPECT_EQ(wrong.status, 422) << wrong.body;
  HttpResult r = client_->Call(
      "POST", "/checkout?wait=20",
      R"({"amount":)" + amount + "," + pay + R"(,"shippingAddressId":")" + address_id + R"("})",
      buyer, {{"Idempotency-Key", "saved-address"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string order = Id(r);
  ASSERT_EQ(client_->Call("DELETE", "/me/addresses/" + address_id, "", buyer).status, 200);
  const json::value o = client_->Call("GET", "/orders/" + order, "", buyer).Json();
  const auto& a = o.at("shipping_address").as_object();
  EXPECT_EQ(a.at("line2").as_string(), "Flat 3");
  EXPECT_EQ(a.at("country").as_string(), "GB");
  EXPECT_FALSE(a.contains("address_id"));
  // The order's line names its seller, so the seller's list shows it.
  const json::value mine = client_->Call("GET", "/seller/orders", "", seller_).Json();
  ASSERT_EQ(mine.at("orders").as_array().size(), 1u) << json::serialize(mine);
  EXPECT_EQ(mine.at("orders").as_array()[0].at("order_id").as_string(), order);
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, OperatorsFindAnyOrderByIdOrBuyerWithTheAdminToken) {
  std::string ann_id;
  std::string ann = User("ann@example.com", "buyer", &ann_id);
  std::string bob = User("bob@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, ann, lamp, 1);
  HttpResult r = Checkout(*client_, ann, "pm_card_visa");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string order = Id(r);
  const std::string admin = "e2e-admin-token";
  HttpResult one = client_->Call("GET", "/v1/orders/" + order, "", admin);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.Json().at("buyer_id").as_string(), ann_id);
  EXPECT_GE(one.Json().at("status_history").as_array().size(), 2u);
  HttpResult list = client_->Call("GET", "/v1/orders?buyer_id=" + ann_id, "", admin);
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.Json().at("orders").as_array().size(), 1u);
  EXPECT_EQ(list.Json().at("orders").as_array()[0].at("order_id").as_string(), order);
  // A buyer's token is not the admin token; no token is a 401; a missing order a 404.
  EXPECT_EQ(client_->Call("GET", "/v1/orders/" + order, "", bob).status, 403);
  EXPECT_EQ(client_->Call("GET", "/v1/orders/" + order).status, 401);
  EXPECT_EQ(client_->Call("GET", "/v1/orders/ord_nope", "", admin).status, 404);
  EXPECT_EQ(client_->Call("GET", "/v1/orders", "", admin).status, 422);  // buyer_id is required
}

TEST_P(CheckoutE2ETest, DeclineFailsThePaymentAndReleasesTheHolds) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 2);
  HttpResult r = Checkout(*client_, buyer, "pm_card_chargeDeclined");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Status(r), "payment_failed");
  EXPECT_EQ(Available(lamp), 5);
  EXPECT_EQ(Notified(Id(r), "payment_failed", 1), 1);
  EXPECT_EQ(Notifications(Id(r), "order_confirmed"), 0);
  // The cart is kept, so the buyer can pay with another card.
  EXPECT_EQ(client_->Call("GET", "/cart", "", buyer).Json().at("lines").as_array().size(), 1u);
  HttpResult again = Checkout(*client_, buyer, "pm_card_visa");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_NE(Id(again), Id(r));
  EXPECT_NE(Status(again), "pending_payment");
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, ThreeDSecureCompletesByWebhook) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 1);
  HttpResult r = Checkout(*client_, buyer, "pm_card_threeDSecure");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Status(r) == "confirmed" || Status(r) == "fulfilling") << r.body;
  // The wait ended on the webhook, well before the payment window.
  auto intents = Intents(Id(r));
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].at("status").as_string(), "succeeded");
  EXPECT_EQ(Available(lamp), 4);
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, ThreeDSecureWithoutCompletionExpires) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 3);
  HttpResult r = Checkout(*client_, buyer, "pm_card_threeDSecureAbandoned", "", 1);
  ASSERT_EQ(r.status, 202) << r.body;  // still waiting for the buyer's bank
  const std::string order = Id(r);
  EXPECT_EQ(Status(r), "pending_payment");
  EXPECT_EQ(Available(lamp), 2);  // held meanwhile
  EXPECT_TRUE(WaitStatus(buyer, order, "expired"));
  EXPECT_EQ(Available(lamp), 5);
  auto intents = Intents(order);
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].at("status").as_string(), "canceled");
  EXPECT_EQ(Notified(order, "order_expired", 1), 1);
  ExpectInvariants();
}

// An operator's `keel workflow cancel` of a saga waiting for 3DS compensates like the
// buyer's cancel.
TEST_P(CheckoutE2ETest, AWorkflowCancelRequestCancelsAPendingOrder) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 2);
  HttpResult r = Checkout(*client_, buyer, "pm_card_threeDSecureAbandoned", "", 1);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string order = Id(r);
  EXPECT_EQ(Available(lamp), 3);
  ASSERT_TRUE(engine_->history()
                  .RequestCancelWorkflow(workflows::CheckoutWorkflowId(order), "operator", "test")
                  .ok());
  EXPECT_TRUE(WaitStatus(buyer, order, "cancelled"));
  EXPECT_EQ(Available(lamp), 5);
  auto intents = Intents(order);
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].at("status").as_string(), "canceled");
  EXPECT_EQ(Notified(order, "order_cancelled", 1), 1);
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, GatewayErrorsAreRetriedWithoutADoubleCharge) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 1);
  sims::PaymentFaults f = payments_->faults();
  f.fail_next = 3;  // the create and its first retries answer 500
  payments_->SetFaults(f);
  HttpResult r = Checkout(*client_, buyer, "pm_card_visa");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(Status(r), "pending_payment");
  EXPECT_NE(Status(r), "payment_failed");
  EXPECT_EQ(payments_->faults().fail_next, 0);
  auto intents = Intents(Id(r));
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].at("amount_received").as_int64(), 1999 + 499);  // shipping below 50.00
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, ChargeThenDroppedResponseChargesOnce) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 1);
  sims::PaymentFaults f = payments_->faults();
  f.drop_next_confirm = 1;  // the charge happens; its reply never arrives
  payments_->SetFaults(f);
  HttpResult r = Checkout(*client_, buyer, "pm_card_visa");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(Status(r), "payment_failed");
  EXPECT_EQ(payments_->faults().drop_next_confirm, 0);
  EXPECT_TRUE(WaitStatus(buyer, Id(r), "delivered"));
  auto intents = Intents(Id(r));
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].at("amount_received").as_int64(), 2498);
  EXPECT_EQ(intents[0].at("amount_refunded").as_int64(), 0);
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, OneLineOutOfStockChargesNothing) {
  std::string ann = User("ann@example.com"), bob = User("bob@example.com");
  std::string lamp = Item("Lamp", 1999, 5), last = Item("Last one", 900, 1);
  HttpClient bc(server_->port());
  AddToCart(*client_, ann, lamp, 2);
  AddToCart(*client_, ann, last, 1);
  AddToCart(bc, bob, last, 1);
  HttpResult first = Checkout(bc, bob, "pm_card_visa");  // takes the last unit
  ASSERT_EQ(first.status, 200) << first.body;
  HttpResult r = Checkout(*client_, ann, "pm_card_visa");
  // The checkout is refused before any hold: an order in `rejected`, with its reason.
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Status(r), "rejected");
  EXPECT_EQ(r.Json().at("reason"), "insufficient_stock");
  const std::string order = Id(r);
  EXPECT_TRUE(Intents(order).empty());
  EXPECT_EQ(Available(lamp), 5);
  EXPECT_EQ(Available(last), 0);
  // The id the API handed out resolves, and the buyer's list shows it.
  HttpResult got = client_->Call("GET", "/orders/" + order, "", ann);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Status(got), "rejected");
  EXPECT_EQ(got.Json().at("reason"), "insufficient_stock");
  const json::value list = client_->Call("GET", "/orders", "", ann).Json();
  ASSERT_EQ(list.at("orders").as_array().size(), 1u);
  EXPECT_EQ(list.at("orders").at(0).at("status"), "rejected");
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, CancelAfterPaymentRefundsAndRestocks) {
  sims::CarrierFaults cf = carrier_->faults();
  cf.paused = true;  // the parcel has not left
  carrier_->SetFaults(cf);
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 2);
  HttpResult r = Checkout(*client_, buyer, "pm_card_visa");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string order = Id(r);
  EXPECT_EQ(Available(lamp), 3);
  HttpResult c = client_->Call("POST", "/orders/" + order + "/cancel", "", buyer);
  ASSERT_EQ(c.status, 202) << c.body;
  EXPECT_TRUE(WaitStatus(buyer, order, "refunded"));
  EXPECT_EQ(Available(lamp), 5);
  auto intents = Intents(order);
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].at("amount_refunded").as_int64(),
            intents[0].at("amount_received").as_int64());
  EXPECT_EQ(Notified(order, "order_cancelled", 1), 1);
  EXPECT_EQ(Notified(order, "order_confirmed", 1), 1);
  // A refunded order can be neither cancelled nor returned.
  EXPECT_EQ(client_->Call("POST", "/orders/" + order + "/cancel", "", buyer).ErrorCode(),
            "order_not_cancellable");
  EXPECT_EQ(client_->Call("POST", "/orders/" + order + "/return", "", buyer).ErrorCode(),
            "order_not_returnable");
  cf.paused = false;
  carrier_->SetFaults(cf);
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, ReturnAfterDeliveryRefundsAndRestocks) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 2);
  HttpResult r = Checkout(*client_, buyer, "pm_card_visa");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string order = Id(r);
  // Not yet delivered: a return is refused.
  EXPECT_EQ(client_->Call("POST", "/orders/" + order + "/return", "", buyer).status, 409);
  ASSERT_TRUE(WaitStatus(buyer, order, "delivered"));
  EXPECT_EQ(client_->Call("POST", "/orders/" + order + "/cancel", "", buyer).ErrorCode(),
            "order_not_cancellable");
  HttpResult ret = client_->Call("POST", "/orders/" + order + "/return?wait=10", "", buyer);
  ASSERT_EQ(ret.status, 200) << ret.body;
  EXPECT_TRUE(WaitStatus(buyer, order, "refunded"));
  EXPECT_EQ(Available(lamp), 5);
  auto intents = Intents(order);
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].at("amount_refunded").as_int64(), 3998 + 499);  // shipping too
  EXPECT_EQ(Notified(order, "order_returned", 1), 1);
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, DuplicateAndReorderedWebhooksAreHarmless) {
  sims::PaymentFaults pf = payments_->faults();
  pf.duplicate_rate = 1;
  pf.max_delay_ms = 400;
  payments_->SetFaults(pf);
  sims::CarrierFaults cf = carrier_->faults();
  cf.duplicate_rate = 1;
  cf.max_delay_ms = 400;  // tracking events every 100 ms arrive out of order
  carrier_->SetFaults(cf);
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 1);
  HttpResult r = Checkout(*client_, buyer, "pm_card_threeDSecure");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string order = Id(r);
  EXPECT_TRUE(WaitStatus(buyer, order, "delivered"));
  for (const char* type : {"order_confirmed", "order_shipped", "order_delivered"}) {
    EXPECT_EQ(Notified(order, type, 1), 1) << type;
  }
  // The history walked the graph in order despite the shuffled events.
  json::value o = client_->Call("GET", "/orders/" + order, "", buyer).Json();
  std::vector<std::string> path;
  for (const auto& e : o.at("status_history").as_array()) path.emplace_back(e.at("to").as_string());
  EXPECT_EQ(path, (std::vector<std::string>{"pending_payment", "confirmed", "fulfilling", "shipped",
                                            "delivered"}));
  // A forged or stale webhook is refused.
  const std::string body =
      R"({"id":"evt_x","type":"payment_intent.succeeded","data":{"object":{"id":"pi_x","metadata":{"order_id":")" +
      order + R"("}}}})";
  EXPECT_EQ(client_
                ->Call("POST", "/webhooks/payments", body,
                       {{"Keel-Signature", http::SignWebhook("wrong", std::time(nullptr), body)}})
                .status,
            400);
  EXPECT_EQ(client_
                ->Call("POST", "/webhooks/payments", body,
                       {{"Keel-Signature", http::SignWebhook(payments_->webhook_secret(),
                                                             std::time(nullptr) - 3600, body)}})
                .status,
            400);
  EXPECT_EQ(client_->Call("POST", "/webhooks/carrier", body).status, 400);
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, SameIdempotencyKeyMakesOneOrder) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 1);
  HttpResult a = Checkout(*client_, buyer, "pm_card_visa", "order-key-1", 0);
  ASSERT_EQ(a.status, 202) << a.body;
  HttpResult b = Checkout(*client_, buyer, "pm_card_visa", "order-key-1", 10);
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(Id(a), Id(b));
  // The same key with another body is refused, not a second order.
  HttpResult c = Checkout(*client_, buyer, "pm_card_chargeDeclined", "order-key-1", 0, 2498);
  EXPECT_EQ(c.status, 400) << c.body;
  EXPECT_EQ(c.ErrorCode(), "idempotency_error");
  HttpResult list = client_->Call("GET", "/orders", "", buyer);
  EXPECT_EQ(list.Json().at("orders").as_array().size(), 1u);
  EXPECT_EQ(Intents(Id(a)).size(), 1u);
  EXPECT_EQ(Available(lamp), 4);
  ExpectInvariants();
}

TEST_P(CheckoutE2ETest, HundredCheckoutsForTenUnits) {
  std::string hot = Item("Hot item", 1000, 10);
  constexpr int kBuyers = 100;
  std::vector<std::string> tokens(kBuyers);
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        HttpClient c(server_->port());
        for (int i = t; i < kBuyers; i += 4) {
          tokens[i] = User("buyer" + std::to_string(i) + "@example.com");
          AddToCart(c, tokens[i], hot, 1);
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  std::atomic<int> confirmed{0}, sold_out{0}, other{0};
  std::vector<std::string> orders(kBuyers);
  std::vector<std::thread> ts;
  for (int i = 0; i < kBuyers; ++i) {
    ts.emplace_back([&, i] {
      HttpClient c(server_->port());
      HttpResult r = Checkout(c, tokens[i], "pm_card_visa", "k" + std::to_string(i), 60, 1499);
      if (r.status == 200 && Status(r) == "rejected" &&
          r.Json().at("reason") == "insufficient_stock") {
        ++sold_out;
      } else if (r.status == 200 && Status(r) != "pending_payment" &&
                 Status(r) != "payment_failed") {
        ++confirmed;
      } else {
        ++other;
        ADD_FAILURE() << r.status << " " << r.body;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(confirmed.load(), 10);
  EXPECT_EQ(sold_out.load(), kBuyers - 10);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Available(hot), 0);
  ExpectInvariants();
}

// Lines the buyer adds while the payment is pending stay in the cart: the order takes
// only what it bought.
TEST_P(CheckoutE2ETest, LinesAddedDuringThePaymentStayInTheCart) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  std::string mug = Item("Mug", 500, 5);
  AddToCart(*client_, buyer, lamp, 1);
  HttpResult r = Checkout(*client_, buyer, "pm_card_threeDSecure", "", 0);
  ASSERT_EQ(r.status, 202) << r.body;
  AddToCart(*client_, buyer, mug, 2);  // while 3-D Secure is under way
  ASSERT_TRUE(WaitStatus(buyer, Id(r), "fulfilling") || OrderStatus(buyer, Id(r)) == "shipped");
  HttpResult cart = client_->Call("GET", "/cart", "", buyer);
  const json::value v = cart.Json();
  ASSERT_EQ(v.at("lines").as_array().size(), 1u) << cart.body;
  EXPECT_EQ(v.at("lines").at(0).at("item_id").as_string(), mug);
  EXPECT_EQ(v.at("lines").at(0).at("quantity").as_int64(), 2);
  ExpectInvariants();
}

// A carrier event about another parcel is not about this order's: the order does
// not move on its word.
TEST_P(CheckoutE2ETest, CarrierEventsForAnotherParcelAreIgnored) {
  sims::CarrierFaults f = carrier_->faults();
  f.paused = true;
  carrier_->SetFaults(f);
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 1);
  HttpResult r = Checkout(*client_, buyer, "pm_card_visa");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string order = Id(r);
  ASSERT_TRUE(WaitStatus(buyer, order, "fulfilling"));
  json::object event{{"id", "evt_other_parcel"},
                     {"type", "shipment.delivered"},
                     {"created", 1},
                     {"data", json::object{{"object", json::object{{"id", "shp_someone_else"},
                                                                   {"reference", order},
                                                                   {"status", "delivered"}}}}}};
  const std::string raw = json::serialize(event);
  const int64_t now_s = SystemClock::Default()->Now() / 1000;
  HttpResult hook = client_->Call(
      "POST", "/webhooks/carrier", raw,
      {{http::kSignatureHeader, http::SignWebhook(carrier_->webhook_secret(), now_s, raw)}});
  EXPECT_EQ(hook.status, 200) << hook.body;
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(OrderStatus(buyer, order), "fulfilling");
  f.paused = false;
  carrier_->SetFaults(f);
  EXPECT_TRUE(WaitStatus(buyer, order, "delivered"));
  ExpectInvariants();
}

// With a 3-D Secure window shorter than the payment window, an order whose buyer
// never authenticates expires at the end of the shorter one.
class ActionWindowE2ETest : public CheckoutE2ETest {
 protected:
  Millis ActionWindowMs() const override { return 600; }
};

TEST_P(ActionWindowE2ETest, AnAbandoned3DSecureExpiresAtItsOwnWindow) {
  std::string buyer = User("ann@example.com");
  std::string lamp = Item("Lamp", 1999, 5);
  AddToCart(*client_, buyer, lamp, 1);
  auto t0 = std::chrono::steady_clock::now();
  HttpResult r = Checkout(*client_, buyer, "pm_card_threeDSecureAbandoned", "", 20);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Status(r), "expired") << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(kPaymentWindowMs));
  EXPECT_NE(r.body.find("3-D Secure was not completed in time"), std::string::npos) << r.body;
  EXPECT_EQ(Available(lamp), 5);
  ExpectInvariants();
}

INSTANTIATE_TEST_SUITE_P(Stores, ActionWindowE2ETest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(Stores, CheckoutE2ETest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
