// A real worker process SIGKILLed while checkouts are mid-saga, on both stores: the
// API (`keel serve --no-workers`, with the simulators) and two `keel worker`
// processes. Afterwards every checkout has finished and the audit is clean.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "audit/audit.h"
#include "common/temp_dir.h"
#include "http/client.h"
#include "tests/testing/backends.h"
#include "tests/testing/http_client.h"
#include "tests/testing/keel_process.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testutil::HttpClient;
using testutil::HttpResult;

constexpr const char* kAddress =
    R"("shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"})";

class CheckoutKillTest : public ::testing::TestWithParam<testutil::Backend> {};

TEST_P(CheckoutKillTest, AWorkerKilledMidSagaLeavesEveryCheckoutFinishedAndTheAuditClean) {
  auto backend = GetParam().make();
  if (!backend) return;  // skipped (or failed under CI) with a message
  auto tmp = TempDir::Create("keel-kill").value();
  testutil::ServeProcess serve(
      KEEL_BINARY, backend->url(), tmp.path() + "/serve.log",
      {"--no-workers", "--seed-demo", "0", "--sim-data", tmp.path() + "/sims",
       "--sim-control-token", "ctl", "--payment-window-ms", "20000", "--carrier-speed", "1000",
       "--account-write-rate", "0", "--address-write-rate", "0", "--auth-address-rate", "0"});
  ASSERT_TRUE(serve.ok()) << serve.process().Log();
  const std::string carrier = serve.process().WaitForLog("Carrier: (http://[0-9.:]+)", 5'000);
  ASSERT_FALSE(carrier.empty());
  auto worker = [&](int i) {
    return std::make_unique<testutil::KeelProcess>(
        KEEL_BINARY,
        std::vector<std::string>{"worker", "--db", backend->url(), "--payments-url",
                                 serve.payments_url(), "--carrier-url", carrier, "--concurrency",
                                 "8"},
        tmp.path() + "/worker-" + std::to_string(i) + ".log");
  };
  std::vector<std::unique_ptr<testutil::KeelProcess>> workers;
  workers.push_back(worker(0));
  workers.push_back(worker(1));
  // The gateway answers slowly, so sagas are mid-flight when the kill comes.
  auto gw = http::ParseHttpUrl(serve.payments_url()).value();
  auto faults = http::HttpCall(gw, "POST", "/v1/sim/faults", R"({"latency_ms":150})",
                               {{"Authorization", "Bearer ctl"}});
  ASSERT_TRUE(faults.ok() && faults->status == 200);

  HttpClient c(serve.port());
  auto login = [&](const std::string& email, const std::string& role) {
    EXPECT_EQ(c.Call("POST", "/auth/register",
                     R"({"email":")" + email + R"(","password":"correct horse","role":")" + role +
                         R"("})")
                  .status,
              201);
    HttpResult l =
        c.Call("POST", "/auth/login", R"({"email":")" + email + R"(","password":"correct horse"})");
    return std::string(l.Json().at("token").as_string());
  };
  const std::string seller = login("seller@example.com", "seller");
  HttpResult item = c.Call(
      "POST", "/items",
      R"({"name":"Lamp","price":1500,"currency":"USD","category":"home","quantity":25})", seller);
  ASSERT_EQ(item.status, 201) << item.body;
  const std::string item_id(item.Json().at("id").as_string());

  constexpr int kBuyers = 30;  // for 25 units: some are rejected
  const char* methods[] = {"pm_card_visa", "pm_card_visa",           "pm_card_visa",
                           "pm_card_visa", "pm_card_chargeDeclined", "pm_card_threeDSecure"};
  std::vector<std::string> tokens(kBuyers), orders(kBuyers);
  std::vector<int64_t> totals(kBuyers);
  for (int i = 0; i < kBuyers; ++i) {
    tokens[i] = login("buyer" + std::to_string(i) + "@example.com", "buyer");
    HttpResult cart =
        c.Call("PATCH", "/cart", R"({"itemId":")" + item_id + R"(","quantity":1})", tokens[i]);
    ASSERT_EQ(cart.status, 200) << cart.body;
    totals[i] = cart.Json().at("total").as_int64();
  }
  std::vector<std::thread> clients;
  for (int i = 0; i < kBuyers; ++i) {
    clients.emplace_back([&, i] {
      HttpClient h(serve.port());
      HttpResult r = h.Call("POST", "/checkout",
                            R"({"amount":)" + std::to_string(totals[i]) +
                                R"(,"paymentInfo":{"paymentType":"CARD","paymentMethod":")" +
                                methods[i % 6] + R"("},)" + kAddress + "}",
                            tokens[i], {{"Idempotency-Key", "kill-" + std::to_string(i)}});
      EXPECT_EQ(r.status, 202) << r.body;
      if (r.status == 202) orders[i] = std::string(r.Json().at("order_id").as_string());
    });
  }
  for (auto& t : clients) t.join();
  std::this_thread::sleep_for(400ms);
  workers[0]->Kill();  // SIGKILL, mid-saga
  std::this_thread::sleep_for(1000ms);
  workers[0] = worker(0);
  ASSERT_TRUE(http::HttpCall(gw, "POST", "/v1/sim/faults", R"({"latency_ms":0})",
                             {{"Authorization", "Bearer ctl"}})
                  .ok());

  // Every checkout finishes: no order is left pending_payment.
  auto pending = [&] {
    int n = 0;
    for (int i = 0; i < kBuyers; ++i) {
      HttpResult o = c.Call("GET", "/orders/" + orders[i], "", tokens[i]);
      EXPECT_EQ(o.status, 200) << o.body;
      n += o.status != 200 || o.Json().at("status") == "pending_payment";
    }
    return n;
  };
  int left = kBuyers;
  for (int i = 0; i < 120 && left > 0; ++i) {
    left = pending();
    if (left > 0) std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(left, 0) << "checkouts still pending a minute after the kill";

  // And the audit is clean once the workers are quiet.
  auto shop = commerce::Shop::Open(backend->url(), SystemClock::Default());
  ASSERT_TRUE(shop.ok()) << shop.status().ToString();
  auto store = backend->Open(SystemClock::Default());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  audit::AuditOptions o;
  o.payments_url = serve.payments_url();
  o.engine = store->get();
  o.payment_window_ms = 20'000;
  o.liveness_bound_ms = 30'000;
  std::vector<audit::Violation> last;
  for (int i = 0; i < 60; ++i) {
    auto v = audit::Run(**shop, o);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    last = *v;
    if (last.empty()) break;
    std::this_thread::sleep_for(500ms);
  }
  for (const auto& v : last) ADD_FAILURE() << audit::ToString(v);
  for (auto& w : workers) EXPECT_EQ(w->Stop(), 0);
  EXPECT_EQ(serve.process().Stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Stores, CheckoutKillTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
