// The checkout saga end to end, over real HTTP: the shop's API, the engine with its
// workers, the payment gateway and the carrier simulators on their own loopback
// ports with signed webhooks, on real SQLite files or a real PostgreSQL. One test per
// case of issue 5; each ends by checking every invariant of SPEC section 7.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/workflows/checkout_fixture.h"

namespace keel {
namespace {

using e2e::Id;
using e2e::Status;

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
  EXPECT_TRUE(e2e::Paid(r)) << r.body;
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
