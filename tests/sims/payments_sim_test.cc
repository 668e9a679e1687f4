// The payment-gateway simulator over real HTTP on loopback: Stripe's PaymentIntent
// states, Idempotency-Key rules, refunds, 3DS, fault injection, and signed webhooks
// delivered at least once to a real receiving server.

#include "sims/payments/payments_sim.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "commerce/test_cards.h"
#include "common/temp_dir.h"
#include "http/client.h"
#include "http/server.h"
#include "http/webhook_signature.h"

namespace keel::sims {
namespace {

using namespace std::chrono_literals;

// A shop-side webhook endpoint: checks each signature and records the events.
class WebhookReceiver {
 public:
  explicit WebhookReceiver(std::string secret) : secret_(std::move(secret)) {
    http::ServerOptions o;
    o.port = 0;
    o.threads = 1;
    server_ = std::make_unique<http::HttpServer>(
        o, [this](const http::Request& req, const http::RequestInfo&) { return Handle(req); });
    EXPECT_TRUE(server_->Start().ok());
  }
  ~WebhookReceiver() { server_->Stop(100); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  void FailNext(int n) {
    std::lock_guard<std::mutex> l(mu_);
    fail_next_ = n;
  }
  struct Seen {
    std::string id, type, intent_id, status;
  };
  std::vector<Seen> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }
  int bad_signatures() {
    std::lock_guard<std::mutex> l(mu_);
    return bad_signatures_;
  }
  // Waits up to 5 s for an event of `type` about `intent_id`.
  bool WaitFor(const std::string& type, const std::string& intent_id, int count = 1) {
    for (int i = 0; i < 500; ++i) {
      int n = 0;
      for (const auto& e : events()) n += e.type == type && e.intent_id == intent_id;
      if (n >= count) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  http::Response Handle(const http::Request& req) {
    std::lock_guard<std::mutex> l(mu_);
    auto sig = req.find(http::kSignatureHeader);
    std::string header = sig == req.end() ? "" : std::string(sig->value());
    if (!http::VerifyWebhook(secret_, header, req.body(), std::time(nullptr)).ok()) {
      ++bad_signatures_;
      return http::ErrorResponse(400, "invalid_signature", "bad signature");
    }
    if (fail_next_ > 0) {
      --fail_next_;
      return http::ErrorResponse(503, "busy", "try again");
    }
    json::value v = ParseJson(req.body()).value();
    const auto& obj = v.at("data").at("object");
    events_.push_back({std::string(v.at("id").as_string()), std::string(v.at("type").as_string()),
                       std::string(obj.at("id").as_string()),
                       std::string(obj.at("status").as_string())});
    return http::JsonResponse(200, json::object{{"received", true}});
  }

  std::string secret_;
  std::unique_ptr<http::HttpServer> server_;
  std::mutex mu_;
  int fail_next_ = 0, bad_signatures_ = 0;
  std::vector<Seen> events_;
};

class PaymentsSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    receiver_ = std::make_unique<WebhookReceiver>("whsec_test_secret");
    StartSim();
  }
  void TearDown() override { StopSim(); }
  void StartSim() {
    auto ledger = persistence::OpenSqlDatabase("sqlite:" + dir_.path(), "payments_sim", {});
    ASSERT_TRUE(ledger.ok()) << ledger.status().ToString();
    PaymentsSimOptions o;
    o.webhook_url = receiver_->url();
    o.webhook_secret = "whsec_test_secret";
    o.control_token = "payments-control";
    o.faults.three_ds_delay_ms = 100;
    auto sim = PaymentsSim::Open(std::move(ledger).value(), SystemClock::Default(), o);
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    sim_ = std::move(sim).value();
    router_ = std::make_unique<http::Router>();
    sim_->AddRoutes(*router_);
    http::ServerOptions so;
    so.port = 0;
    so.threads = 2;
    server_ = std::make_unique<http::HttpServer>(
        so, [this](const http::Request& req, const http::RequestInfo& info) {
          return router_->Handle(req, info);
        });
    ASSERT_TRUE(server_->Start().ok());
    base_ = http::ParseHttpUrl("http://127.0.0.1:" + std::to_string(server_->port())).value();
    sim_->Start();
  }
  void StopSim() {
    if (server_) server_->Stop(100);
    if (sim_) sim_->Stop();
    server_.reset();
    sim_.reset();
  }
  Result<http::ClientResponse> Post(const std::string& path, const std::string& body,
                                    const std::string& key = "") {
    std::map<std::string, std::string> h;
    if (!key.empty()) h["Idempotency-Key"] = key;
    return http::HttpCall(base_, "POST", path, body, h);
  }
  http::ClientResponse Must(Result<http::ClientResponse> r) {
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : http::ClientResponse{};
  }
  static json::value J(const http::ClientResponse& r) {
    auto v = ParseJson(r.body);
    return v.ok() ? v.value() : json::value(nullptr);
  }
  static std::string S(const json::value& v, const char* a, const char* b = nullptr) {
    const json::value& x = b ? v.at(a).at(b) : v.at(a);
    return x.is_string() ? std::string(x.as_string()) : "";
  }
  std::string Charge(const std::string& pm, const std::string& key = "",
                     const std::string& capture = "automatic") {
    auto r = Must(Post("/v1/payment_intents",
                       R"({"amount":1000,"currency":"usd","payment_method":")" + pm +
                           R"(","capture_method":")" + capture +
                           R"(","confirm":true,"metadata":{"order_id":"o-1"}})",
                       key));
    json::value v = J(r);
    if (r.status == 402) return S(v.at("error").at("details"), "payment_intent", "id");
    return S(v, "id");
  }
  std::string Status(const std::string& id) {
    return S(J(Must(http::HttpCall(base_, "GET", "/v1/payment_intents/" + id))), "status");
  }
  int64_t IntentCount() {
    auto v = J(Must(http::HttpCall(base_, "GET", "/v1/payment_intents?limit=100")));
    return static_cast<int64_t>(v.at("data").as_array().size());
  }

  TempDir dir_ = TempDir::Create("keel-paysim").value();
  std::unique_ptr<WebhookReceiver> receiver_;
  std::unique_ptr<PaymentsSim> sim_;
  std::unique_ptr<http::Router> router_;
  std::unique_ptr<http::HttpServer> server_;
  http::Url base_;
};

TEST_F(PaymentsSimTest, ConfirmedVisaSucceedsAndIsAnnouncedBySignedWebhook) {
  auto r = Must(Post("/v1/payment_intents",
                     R"({"amount":1000,"currency":"USD","payment_method":"pm_card_visa",)"
                     R"("confirm":true,"metadata":{"order_id":"o-1"}})"));
  ASSERT_EQ(r.status, 200) << r.body;
  json::value pi = J(r);
  EXPECT_EQ(S(pi, "status"), "succeeded");
  EXPECT_EQ(S(pi, "currency"), "usd");
  EXPECT_EQ(pi.at("amount_received").as_int64(), 1000);
  EXPECT_EQ(S(pi, "metadata", "order_id"), "o-1");
  EXPECT_TRUE(receiver_->WaitFor("payment_intent.succeeded", S(pi, "id")));
  EXPECT_EQ(receiver_->bad_signatures(), 0);

  // Without confirm it waits; confirming later charges it once.
  auto unconfirmed =
      J(Must(Post("/v1/payment_intents",
                  R"({"amount":500,"currency":"usd","payment_method":"pm_card_visa"})")));
  EXPECT_EQ(S(unconfirmed, "status"), "requires_confirmation");
  std::string id = S(unconfirmed, "id");
  EXPECT_EQ(S(J(Must(Post("/v1/payment_intents/" + id + "/confirm", ""))), "status"), "succeeded");
  auto again = Must(Post("/v1/payment_intents/" + id + "/confirm", ""));
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(S(J(again).at("error"), "code"), "payment_intent_unexpected_state");
}

TEST_F(PaymentsSimTest, DeclineIs402AndLeavesTheIntentReusable) {
  auto r = Must(Post(
      "/v1/payment_intents",
      R"({"amount":1000,"currency":"usd","payment_method":"pm_card_chargeDeclined","confirm":true})"));
  EXPECT_EQ(r.status, 402);
  json::value err = J(r).at("error");
  EXPECT_EQ(S(err, "code"), "card_declined");
  std::string id = S(err.at("details"), "payment_intent", "id");
  EXPECT_EQ(Status(id), "requires_payment_method");
  EXPECT_TRUE(receiver_->WaitFor("payment_intent.payment_failed", id));
  // Another card on the same intent succeeds.
  auto retry =
      Must(Post("/v1/payment_intents/" + id + "/confirm", R"({"payment_method":"pm_card_visa"})"));
  EXPECT_EQ(S(J(retry), "status"), "succeeded");
}

TEST_F(PaymentsSimTest, IdempotencyKeysReplayRefuseAndForgetServerErrors) {
  const std::string body =
      R"({"amount":700,"currency":"usd","payment_method":"pm_card_visa","confirm":true})";
  auto first = Must(Post("/v1/payment_intents", body, "key-1"));
  auto second = Must(Post("/v1/payment_intents", body, "key-1"));
  EXPECT_EQ(first.body, second.body);
  EXPECT_EQ(second.headers["idempotent-replayed"], "true");
  EXPECT_EQ(IntentCount(), 1);

  auto other = Must(Post("/v1/payment_intents", R"({"amount":701,"currency":"usd"})", "key-1"));
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(S(J(other).at("error"), "code"), "idempotency_error");
  // The same key on another endpoint is another request, too.
  EXPECT_EQ(Must(Post("/v1/refunds", body, "key-1")).status, 400);

  // Errors are replayed as they were: a decline stays a decline.
  const std::string declined =
      R"({"amount":700,"currency":"usd","payment_method":"pm_card_chargeDeclined","confirm":true})";
  auto d1 = Must(Post("/v1/payment_intents", declined, "key-2"));
  auto d2 = Must(Post("/v1/payment_intents", declined, "key-2"));
  EXPECT_EQ(d1.status, 402);
  EXPECT_EQ(d2.status, 402);
  EXPECT_EQ(d1.body, d2.body);

  // A 500 did nothing and is not remembered: the retry with the same key runs.
  auto f = sim_->faults();
  f.fail_next = 1;
  sim_->SetFaults(f);
  auto failed = Must(Post("/v1/payment_intents", body, "key-3"));
  EXPECT_EQ(failed.status, 500);
  EXPECT_EQ(IntentCount(), 2);  // key-1's and key-2's
  auto ok = Must(Post("/v1/payment_intents", body, "key-3"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers.count("idempotent-replayed"), 0u);
  EXPECT_EQ(IntentCount(), 3);
}

TEST_F(PaymentsSimTest, ChargeThenDroppedReplyRetriedWithTheSameKeyChargesOnce) {
  auto f = sim_->faults();
  f.drop_next = 1;
  sim_->SetFaults(f);
  const std::string body =
      R"({"amount":900,"currency":"usd","payment_method":"pm_card_visa","confirm":true})";
  auto lost = Post("/v1/payment_intents", body, "order-9");
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().reason(), "network_error");
  EXPECT_EQ(IntentCount(), 1);  // it was charged, though the caller cannot know
  auto retried = Must(Post("/v1/payment_intents", body, "order-9"));
  ASSERT_EQ(retried.status, 200);
  EXPECT_EQ(S(J(retried), "status"), "succeeded");
  EXPECT_EQ(IntentCount(), 1);
}

TEST_F(PaymentsSimTest, ManualCaptureCancelAndRefundsFollowStripe) {
  std::string id = Charge("pm_card_visa", "", "manual");
  EXPECT_EQ(Status(id), "requires_capture");
  auto too_much =
      Must(Post("/v1/payment_intents/" + id + "/capture", R"({"amount_to_capture":5000})"));
  EXPECT_EQ(too_much.status, 422);
  EXPECT_EQ(S(J(Must(Post("/v1/payment_intents/" + id + "/capture", ""))), "status"), "succeeded");
  EXPECT_EQ(Must(Post("/v1/payment_intents/" + id + "/cancel", "")).status, 400);

  auto part = Must(Post("/v1/refunds", R"({"payment_intent":")" + id + R"(","amount":300})"));
  ASSERT_EQ(part.status, 200) << part.body;
  auto over = Must(Post("/v1/refunds", R"({"payment_intent":")" + id + R"(","amount":701})"));
  EXPECT_EQ(over.status, 400);
  EXPECT_EQ(S(J(over).at("error"), "code"), "amount_too_large");
  auto rest = Must(Post("/v1/refunds", R"({"payment_intent":")" + id + R"("})"));
  EXPECT_EQ(J(rest).at("amount").as_int64(), 700);
  auto twice = Must(Post("/v1/refunds", R"({"payment_intent":")" + id + R"("})"));
  EXPECT_EQ(S(J(twice).at("error"), "code"), "charge_already_refunded");
  auto list = J(Must(http::HttpCall(base_, "GET", "/v1/refunds?payment_intent=" + id)));
  EXPECT_EQ(list.at("data").as_array().size(), 2u);
  EXPECT_TRUE(receiver_->WaitFor("charge.refunded", id, 2));

  // An uncaptured or unconfirmed intent can be canceled; a canceled one cannot be refunded.
  std::string open = Charge("pm_card_visa", "", "manual");
  EXPECT_EQ(S(J(Must(Post("/v1/payment_intents/" + open + "/cancel", ""))), "status"), "canceled");
  EXPECT_EQ(Must(Post("/v1/refunds", R"({"payment_intent":")" + open + R"("})")).status, 400);
}

TEST_F(PaymentsSimTest, ThreeDSecureCompletesByWebhookOrIsAbandoned) {
  std::string id = Charge("pm_card_threeDSecure");
  EXPECT_EQ(Status(id), "requires_action");
  EXPECT_TRUE(receiver_->WaitFor("payment_intent.succeeded", id));
  EXPECT_EQ(Status(id), "succeeded");

  std::string walked_away = Charge("pm_card_threeDSecureAbandoned");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Status(walked_away), "requires_action");
  EXPECT_EQ(S(J(Must(Post("/v1/payment_intents/" + walked_away + "/cancel", ""))), "status"),
            "canceled");
  EXPECT_TRUE(receiver_->WaitFor("payment_intent.canceled", walked_away));
}

TEST_F(PaymentsSimTest, WebhooksAreRetriedUntilAcceptedAndMayComeTwice) {
  receiver_->FailNext(2);
  std::string id = Charge("pm_card_visa");
  EXPECT_TRUE(receiver_->WaitFor("payment_intent.succeeded", id));

  auto f = sim_->faults();
  f.duplicate_rate = 1;
  sim_->SetFaults(f);
  std::string twice = Charge("pm_card_visa");
  ASSERT_TRUE(receiver_->WaitFor("payment_intent.succeeded", twice, 2));
  std::set<std::string> ids;
  for (const auto& e : receiver_->events()) {
    if (e.intent_id == twice) ids.insert(e.id);
  }
  EXPECT_EQ(ids.size(), 1u) << "a duplicate is the same event (same id)";
}

TEST_F(PaymentsSimTest, LedgerAndKeysSurviveARestart) {
  const std::string body =
      R"({"amount":1200,"currency":"usd","payment_method":"pm_card_visa","confirm":true})";
  auto first = Must(Post("/v1/payment_intents", body, "survive"));
  std::string id = S(J(first), "id");
  StopSim();
  StartSim();
  EXPECT_EQ(Status(id), "succeeded");
  auto replay = Must(Post("/v1/payment_intents", body, "survive"));
  EXPECT_EQ(S(J(replay), "id"), id);
  EXPECT_EQ(IntentCount(), 1);
}

TEST_F(PaymentsSimTest, BadInputGetsClearErrors) {
  auto zero = Must(Post("/v1/payment_intents", R"({"amount":0,"currency":"usd"})"));
  EXPECT_EQ(zero.status, 422);
  EXPECT_EQ(S(J(zero).at("error").at("details"), "field"), "amount");
  EXPECT_EQ(Must(Post("/v1/payment_intents", "{nope")).status, 400);
  auto unknown_pm = Must(
      Post("/v1/payment_intents", R"({"amount":10,"currency":"usd","payment_method":"pm_bogus"})"));
  EXPECT_EQ(unknown_pm.status, 400);
  EXPECT_EQ(S(J(unknown_pm).at("error"), "code"), "resource_missing");
  EXPECT_EQ(Must(http::HttpCall(base_, "GET", "/v1/payment_intents/pi_nope")).status, 404);
  EXPECT_EQ(Must(Post("/v1/payment_intents/pi_nope/confirm", "")).status, 404);
  const std::map<std::string, std::string> control{{"Authorization", "Bearer payments-control"}};
  EXPECT_EQ(
      Must(http::HttpCall(base_, "POST", "/v1/sim/faults", R"({"fail_rate":2})", control)).status,
      422);
  EXPECT_EQ(
      Must(http::HttpCall(base_, "POST", "/v1/sim/faults", R"({"colour":1})", control)).status,
      422);
  // Without the control token, or with another, the controls refuse.
  EXPECT_EQ(Must(Post("/v1/sim/faults", R"({"fail_rate":1})")).status, 401);
  EXPECT_EQ(
      Must(http::HttpCall(base_, "GET", "/v1/sim/faults", "", {{"Authorization", "Bearer nope"}}))
          .status,
      403);
  EXPECT_EQ(Must(http::HttpCall(base_, "GET", "/v1/sim/faults", "", control)).status, 200);
  EXPECT_EQ(Must(http::HttpCall(base_, "GET", "/v1/payment_intents?limit=0")).status, 422);
}

TEST(TestCardTokenTest, MapsGatewayTestNumbersOnly) {
  EXPECT_EQ(commerce::TestCardToken("4242 4242 4242 4242"), "pm_card_visa");
  EXPECT_EQ(commerce::TestCardToken("4000000000000002"), "pm_card_chargeDeclined");
  EXPECT_EQ(commerce::TestCardToken("4000000000003220"), "pm_card_threeDSecure");
  EXPECT_EQ(commerce::TestCardToken("5555555555554444"), "");
}

}  // namespace
}  // namespace keel::sims
