// The cart's rules end to end, over real HTTP on both stores: promotions applied to
// carts and redeemed by the checkout saga, with their limits held under a race and
// given back by a failed payment.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/workflows/checkout_fixture.h"

namespace keel {
namespace {

using e2e::Id;
using e2e::Status;

class CartRulesE2ETest : public CheckoutE2ETest {
 protected:
  static constexpr const char* kAdmin = "e2e-admin-token";

  HttpResult Promotion(const std::string& body, const std::string& token = kAdmin) {
    return client_->Call("POST", "/promotions", body, token);
  }
  HttpResult ApplyPromo(HttpClient& c, const std::string& token, const std::string& code) {
    return c.Call("POST", "/cart/promo", R"({"code":")" + code + R"("})", token);
  }
  int64_t Redeemed(const std::string& code) {
    auto p = shop_->promotions().Get(code);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? p->redeemed : -1;
  }
};

TEST_P(CartRulesE2ETest, APromotionIsCheckedAppliedAndShownInTheCartAndTheOrder) {
  std::string lamp = Item("Lamp", 2000, 10);
  std::string ann = User("ann@example.com");
  // Who may make one, and what is checked.
  EXPECT_EQ(Promotion(R"({"code":"TEN","percent_off":10})", ann).status, 403);
  EXPECT_EQ(Promotion(R"({"code":"TEN","percent_off":10})", "").status, 401);
  HttpResult both = Promotion(R"({"code":"TEN","percent_off":10,"amount_off":100})");
  EXPECT_EQ(both.status, 422) << both.body;
  EXPECT_EQ(Promotion(R"({"code":"TEN","percent_off":101})").status, 422);
  EXPECT_EQ(Promotion(R"({"code":"T N","percent_off":10})").status, 422);
  EXPECT_EQ(Promotion(R"({"code":"TEN","percent_off":10,"color":"red"})").status, 422);
  EXPECT_EQ(Promotion(R"({"code":"OFF5","amount_off":500})").status, 422);  // no currency
  HttpResult made = Promotion(R"({"code":"ten","percent_off":10,"min_subtotal":3000,)"
                              R"("currency":"USD","per_buyer_limit":1})");
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(made.Json().at("code"), "TEN");
  EXPECT_EQ(Promotion(R"({"code":"TEN","percent_off":5})").status, 409);
  // A seller's promotion takes off only that seller's lines.
  ASSERT_EQ(Promotion(R"({"code":"SELLER5","amount_off":500,"currency":"USD"})", seller_).status,
            201);
  json::value mine = client_->Call("GET", "/promotions", "", seller_).Json();
  ASSERT_EQ(mine.at("promotions").as_array().size(), 1u);
  EXPECT_EQ(client_->Call("GET", "/promotions", "", ann).status, 403);

  AddToCart(*client_, ann, lamp, 1);
  EXPECT_EQ(ApplyPromo(*client_, ann, "NOPE").status, 404);
  HttpResult small = ApplyPromo(*client_, ann, "TEN");  // 20.00 < 30.00
  ASSERT_EQ(small.status, 422) << small.body;
  EXPECT_EQ(small.Json().at("error").at("details").at("why_not"), "min_subtotal");
  AddToCart(*client_, ann, lamp, 2);
  HttpResult applied = ApplyPromo(*client_, ann, "ten");
  ASSERT_EQ(applied.status, 200) << applied.body;
  json::value cart = applied.Json();
  EXPECT_EQ(cart.at("subtotal").as_int64(), 4000);
  EXPECT_EQ(cart.at("discount").as_int64(), 400);
  EXPECT_EQ(cart.at("promo").at("code"), "TEN");
  EXPECT_EQ(cart.at("promo").at("applied"), true);
  EXPECT_EQ(cart.at("total").as_int64(),
            4000 - 400 + cart.at("shipping").as_int64() + cart.at("tax").as_int64());
  // Below the minimum again: the code stays, takes nothing off, and says why.
  AddToCart(*client_, ann, lamp, 1);
  json::value below = client_->Call("GET", "/cart", "", ann).Json();
  EXPECT_EQ(below.at("discount").as_int64(), 0);
  EXPECT_EQ(below.at("promo").at("why_not"), "min_subtotal");
  AddToCart(*client_, ann, lamp, 2);
  HttpResult r = Checkout(*client_, ann, "pm_card_visa", "k1");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(e2e::Paid(r)) << r.body;
  json::value order = client_->Call("GET", "/orders/" + Id(r), "", ann).Json();
  EXPECT_EQ(order.at("discount").as_int64(), 400);
  EXPECT_EQ(order.at("promo_code"), "TEN");
  EXPECT_EQ(order.at("total").as_int64(), order.at("subtotal").as_int64() - 400 +
                                              order.at("shipping").as_int64() +
                                              order.at("tax").as_int64());
  EXPECT_EQ(Redeemed("TEN"), 1);
  // Once per buyer: the next cart is told at once.
  AddToCart(*client_, ann, lamp, 2);
  HttpResult again = ApplyPromo(*client_, ann, "TEN");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(again.ErrorCode(), "promo_buyer_limit");
  ASSERT_EQ(client_->Call("DELETE", "/cart/promo", "", ann).status, 200);
  ExpectInvariants();
}

TEST_P(CartRulesE2ETest, ThreeRedemptionsRacedByTwentyBuyersAndAFailedPaymentGivesItsBack) {
  std::string hot = Item("Hot item", 2000, 100);
  ASSERT_EQ(Promotion(R"({"code":"FLASH3","percent_off":25,"max_redemptions":3})").status, 201);
  constexpr int kBuyers = 20;
  std::vector<std::string> tokens(kBuyers);
  for (int i = 0; i < kBuyers; ++i) {
    tokens[i] = User("buyer" + std::to_string(i) + "@example.com");
    AddToCart(*client_, tokens[i], hot, 1);
    ASSERT_EQ(ApplyPromo(*client_, tokens[i], "FLASH3").status, 200);
  }
  // A declined card takes the redemption, and its compensation gives it back.
  HttpResult declined = Checkout(*client_, tokens[0], "pm_card_chargeDeclined", "d0");
  ASSERT_EQ(declined.status, 200) << declined.body;
  EXPECT_EQ(Status(declined), "payment_failed") << declined.body;
  auto redemptions = shop_->promotions().Redemptions();
  ASSERT_TRUE(redemptions.ok());
  ASSERT_EQ(redemptions->size(), 1u);
  EXPECT_EQ(redemptions->at(0).state, "released");
  EXPECT_EQ(Redeemed("FLASH3"), 0);
  // All twenty at once (the first buyer again, with a card that works), each quoting
  // the discounted total: three win. The others are refused by the saga
  // (promo_unavailable) or, once the cart shows the code used up, by the API (the
  // quoted amount is no longer the total).
  const int64_t quoted = CartTotal(*client_, tokens[1]);
  EXPECT_EQ(quoted,
            1500 + client_->Call("GET", "/cart", "", tokens[1]).Json().at("shipping").as_int64());
  std::atomic<int> confirmed{0}, refused{0}, other{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kBuyers; ++i) {
    ts.emplace_back([&, i] {
      HttpClient c(server_->port());
      HttpResult r = Checkout(c, tokens[i], "pm_card_visa", "k" + std::to_string(i), 60, quoted);
      if (r.status == 200 && e2e::Paid(r)) {
        ++confirmed;
      } else if ((r.status == 200 && Status(r) == "rejected" &&
                  r.Json().at("reason") == "promo_unavailable") ||
                 (r.status == 409 && r.ErrorCode() == "amount_mismatch")) {
        ++refused;
      } else {
        ++other;
        ADD_FAILURE() << r.status << " " << r.body;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(confirmed.load(), 3);
  EXPECT_EQ(refused.load(), kBuyers - 3);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Redeemed("FLASH3"), 3);
  ExpectInvariants();
}

TEST_P(CartRulesE2ETest, TaxAndShippingFollowTheTablesInCartsAndOrders) {
  const std::string tables =
      R"({"tax":[{"country":"US","rate_bp":500},{"country":"us","region":"ca","rate_bp":725},)"
      R"({"country":"DE","rate_bp":1900}],"shipping":[{"currency":"USD","fee":599,)"
      R"("free_from":10000},{"currency":"EUR","fee":450}]})";
  auto put = [&](const std::string& body, const std::string& token = kAdmin) {
    return client_->Call("PUT", "/v1/charges", body, token);
  };
  EXPECT_EQ(put(tables, "").status, 401);
  EXPECT_EQ(put(R"({"tax":[{"country":"US","rate_bp":20000}]})").status, 422);
  EXPECT_EQ(put(R"({"tax":[{"country":"USA","rate_bp":5}]})").status, 422);
  EXPECT_EQ(put(R"({"tax":[{"country":"US","rate_bp":5},{"country":"us","rate_bp":6}]})").status,
            422);
  EXPECT_EQ(put(R"({"vat":[]})").status, 422);
  EXPECT_EQ(put(R"({"tax":[{"country":"US","rate":5}]})").status, 422);
  HttpResult set = put(tables);
  ASSERT_EQ(set.status, 200) << set.body;
  json::value got = client_->Call("GET", "/v1/charges", "", kAdmin).Json();
  EXPECT_EQ(got.at("tax").as_array().size(), 3u);
  EXPECT_EQ(got.at("shipping").as_array()[0].at("currency"), "EUR");

  std::string lamp = Item("Lamp", 1999, 20);
  std::string ann = User("ann@example.com");
  AddToCart(*client_, ann, lamp, 1);
  auto cart = [&](const std::string& query) {
    HttpResult r = client_->Call("GET", "/cart" + query, "", ann);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json();
  };
  json::value none = cart("");  // no destination yet: no tax
  EXPECT_EQ(none.at("tax").as_int64(), 0);
  EXPECT_EQ(none.at("shipping").as_int64(), 599);
  // 1999 * 7.25 % = 144.93, rounded half up to 145; 1999 * 5 % = 99.95 to 100.
  json::value ca = cart("?country=US&region=CA");
  EXPECT_EQ(ca.at("tax").as_int64(), 145);
  EXPECT_EQ(ca.at("tax_rate_bp").as_int64(), 725);
  EXPECT_EQ(ca.at("total").as_int64(), 1999 + 599 + 145);
  EXPECT_EQ(cart("?country=us&region=NY").at("tax").as_int64(), 100);  // the country's rate
  EXPECT_EQ(cart("?country=FR").at("tax").as_int64(), 0);              // not in the table
  EXPECT_EQ(client_->Call("GET", "/cart?country=USA", "", ann).status, 422);
  EXPECT_EQ(client_->Call("GET", "/cart?region=CA", "", ann).status, 422);
  // A checkout to California pays that total, and the order keeps its charges.
  const std::string body =
      R"({"amount":2743,"paymentInfo":{"paymentType":"CARD","paymentMethod":"pm_card_visa"},)"
      R"("shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Fresno",)"
      R"("region":"CA","postal_code":"93650","country":"US"}})";
  HttpResult r = client_->Call("POST", "/checkout?wait=20", body, ann, {{"Idempotency-Key", "t1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(e2e::Paid(r)) << r.body;
  json::value order = client_->Call("GET", "/orders/" + Id(r), "", ann).Json();
  EXPECT_EQ(order.at("tax").as_int64(), 145);
  EXPECT_EQ(order.at("shipping").as_int64(), 599);
  EXPECT_EQ(order.at("total").as_int64(), 2743);
  // The same cart to New York would have been another amount: told, with the total.
  AddToCart(*client_, ann, lamp, 6);  // 119.94: ships free from 100.00
  json::value big = cart("?country=US");
  EXPECT_EQ(big.at("shipping").as_int64(), 0);
  EXPECT_EQ(big.at("tax").as_int64(), 600);  // 11994 * 5 % = 599.7
  HttpResult wrong = client_->Call("POST", "/checkout", body, ann);
  EXPECT_EQ(wrong.status, 409) << wrong.body;
  EXPECT_EQ(wrong.ErrorCode(), "amount_mismatch");
  EXPECT_EQ(wrong.Json().at("error").at("details").at("expected").as_int64(), 11994 + 870);
  // Another currency has its own row.
  HttpResult eur = client_->Call(
      "POST", "/items",
      R"({"name":"Kettle","description":"e2e","price":3000,"currency":"EUR","category":"home",)"
      R"("brand":"Acme","quantity":5})",
      seller_);
  ASSERT_EQ(eur.status, 201) << eur.body;
  std::string bob = User("bob@example.com");
  AddToCart(*client_, bob, std::string(eur.Json().at("id").as_string()), 1);
  json::value de = client_->Call("GET", "/cart?country=DE", "", bob).Json();
  EXPECT_EQ(de.at("shipping").as_int64(), 450);
  EXPECT_EQ(de.at("tax").as_int64(), 570);
  ExpectInvariants();
}

// A flash sale: a hot SKU split over shards, behind a slow gate (one checkout every
// two seconds after the first).
class FlashSaleE2ETest : public CartRulesE2ETest {
 protected:
  http::AdmissionOptions Admission() const override { return {.per_s = 0.5, .burst = 1}; }
};

TEST_P(FlashSaleE2ETest, AHotSkuAdmitsBuyersInArrivalOrderAndNeverOversells) {
  std::string hot = Item("Console", 30000, 10);
  auto shards = [&](const std::string& body, const std::string& token = kAdmin) {
    return client_->Call("PUT", "/v1/stock/" + hot + "/shards", body, token);
  };
  EXPECT_EQ(shards(R"({"shards":4})", "").status, 401);
  EXPECT_EQ(shards(R"({"shards":99})").status, 422);
  EXPECT_EQ(client_->Call("PUT", "/v1/stock/nope/shards", R"({"shards":4})", kAdmin).status, 404);
  HttpResult split = shards(R"({"shards":4})");
  ASSERT_EQ(split.status, 200) << split.body;
  EXPECT_EQ(split.Json().at("available").as_int64(), 10);
  json::value listed = client_->Call("GET", "/v1/stock/hot", "", kAdmin).Json();
  ASSERT_EQ(listed.at("skus").as_array().size(), 1u);
  EXPECT_EQ(listed.at("skus").as_array()[0].at("shards").as_int64(), 4);

  std::vector<std::string> buyers;
  for (const char* who : {"a", "b", "c"}) {
    buyers.push_back(User(std::string(who) + "@example.com"));
    AddToCart(*client_, buyers.back(), hot, 1);
  }
  HttpResult first = Checkout(*client_, buyers[0], "pm_card_visa", "ka");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_TRUE(e2e::Paid(first)) << first.body;
  HttpResult b = Checkout(*client_, buyers[1], "pm_card_visa", "kb");
  ASSERT_EQ(b.status, 429) << b.body;
  EXPECT_EQ(b.ErrorCode(), "queued");
  EXPECT_EQ(b.Json().at("error").at("details").at("place").as_int64(), 1);
  const int retry_s = std::stoi(b.headers.at("Retry-After"));
  EXPECT_GE(retry_s, 1);
  EXPECT_LE(retry_s, 2);
  HttpResult c = Checkout(*client_, buyers[2], "pm_card_visa", "kc");
  ASSERT_EQ(c.status, 429) << c.body;
  EXPECT_EQ(c.Json().at("error").at("details").at("place").as_int64(), 2);
  // Asking again keeps the place: c is still behind b.
  c = Checkout(*client_, buyers[2], "pm_card_visa", "kc");
  EXPECT_EQ(c.Json().at("error").at("details").at("place").as_int64(), 2);
  // b comes back when told to, with the same key, and is let in; c is next.
  std::this_thread::sleep_for(std::chrono::milliseconds(retry_s * 1000 + 100));
  b = Checkout(*client_, buyers[1], "pm_card_visa", "kb");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_TRUE(e2e::Paid(b)) << b.body;
  c = Checkout(*client_, buyers[2], "pm_card_visa", "kc");
  ASSERT_EQ(c.status, 429) << c.body;
  EXPECT_EQ(c.Json().at("error").at("details").at("place").as_int64(), 1);
  EXPECT_EQ(Available(hot), 8);
  ExpectInvariants();
}

INSTANTIATE_TEST_SUITE_P(Stores, FlashSaleE2ETest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(Stores, CartRulesE2ETest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
