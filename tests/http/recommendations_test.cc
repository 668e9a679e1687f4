// The three recommendation layers and the events with many readers, over real HTTP on
// both stores: recently viewed, trending, personal recommendations, back in stock.

#include <gtest/gtest.h>

#include <set>

#include "tests/http/storefront_fixture.h"

namespace keel {
namespace {

class RecommendationsTest : public StorefrontApiTest {
 protected:
  std::vector<std::string> Ids(const std::string& target, const std::string& token = "") {
    HttpResult r = client_->Call("GET", target, "", token);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> ids;
    if (r.status != 200) return ids;
    const json::value v = r.Json();
    for (const auto& i : v.at("items").as_array()) ids.emplace_back(i.at("id").as_string());
    return ids;
  }
  // Views and sales into the signals now, instead of within their background periods.
  void Settle() {
    ASSERT_TRUE(shop_->signals().Flush().ok());
    ASSERT_TRUE(shop_->RefreshSignals().ok());
  }
};

TEST_P(RecommendationsTest, RecentlyViewedIsABuyersOwnNewestFirst) {
  std::string seller = User("s@example.com", "seller");
  std::string a = Listed(seller, "Alpha", 100), b = Listed(seller, "Beta", 100),
              c = Listed(seller, "Gamma", 100);
  SearchUntil("", [](const json::value& v) { return v.at("items").as_array().size() == 3; });
  std::string ann = User("ann@example.com", "buyer"), bob = User("bob@example.com", "buyer");
  for (const auto& id : {a, b, c, a}) {
    ASSERT_EQ(client_->Call("GET", "/items/" + id, "", ann).status, 200);
  }
  ASSERT_EQ(client_->Call("GET", "/items/" + b, "", bob).status, 200);
  ASSERT_EQ(client_->Call("GET", "/items/" + c).status, 200);  // anonymous: counted only
  ASSERT_EQ(client_->Call("GET", "/items/" + c, "", "not-a-token").status, 200);
  Settle();
  EXPECT_EQ(Ids("/me/recently-viewed", ann), (std::vector<std::string>{a, c, b}));
  EXPECT_EQ(Ids("/me/recently-viewed", bob), (std::vector<std::string>{b}));
  EXPECT_EQ(Ids("/me/recently-viewed?size=1", ann), (std::vector<std::string>{a}));
  EXPECT_EQ(client_->Call("GET", "/me/recently-viewed").status, 401);
  EXPECT_EQ(client_->Call("GET", "/me/recently-viewed?size=0", "", ann).status, 422);
}

TEST_P(RecommendationsTest, TrendingWeighsOrdersAndViewsPerCategory) {
  std::string seller = User("s@example.com", "seller");
  std::string kettle = Listed(seller, "Kettle", 100, "{}", "Acme", "kitchen");
  std::string pan = Listed(seller, "Pan", 100, "{}", "Acme", "kitchen");
  std::string rake = Listed(seller, "Rake", 100, "{}", "Acme", "garden");
  Listed(seller, "Spade", 100, "{}", "Acme", "garden");
  SearchUntil("", [](const json::value& v) { return v.at("items").as_array().size() == 4; });
  std::string buyer_id;
  User("b@example.com", "buyer", &buyer_id);
  // One sale weighs five views: the kettle (1 sale) beats the pan (3 views).
  Delivered("o-1", buyer_id, {kettle});
  for (int i = 0; i < 3; ++i) client_->Call("GET", "/items/" + pan);
  client_->Call("GET", "/items/" + rake);
  Settle();
  EXPECT_EQ(Ids("/items/trending?category=kitchen"), (std::vector<std::string>{kettle, pan}));
  EXPECT_EQ(Ids("/items/trending?category=garden"), (std::vector<std::string>{rake}));
  EXPECT_EQ(Ids("/items/trending"), (std::vector<std::string>{kettle, pan, rake}));
  EXPECT_EQ(Ids("/items/trending?size=1"), (std::vector<std::string>{kettle}));
  EXPECT_TRUE(Ids("/items/trending?category=toys").empty());
  EXPECT_EQ(client_->Call("GET", "/items/trending?size=1000").status, 422);
  // Sales are the inventory's "sold" events, applied once: events applied again (a
  // reader that stopped after applying, before acknowledging) add nothing.
  auto events = shop_->inventory().outbox().Read("replay", 100);
  ASSERT_TRUE(events.ok());
  auto again = shop_->signals().ApplySales(commerce::Shop::kSalesConsumer, events->events);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 0);
  auto sales = shop_->signals().SalesSince(0);
  ASSERT_TRUE(sales.ok());
  ASSERT_EQ(sales->size(), 1u);
  EXPECT_EQ((*sales)[0].item_id, kettle);
  EXPECT_EQ((*sales)[0].count, 1);
}

TEST_P(RecommendationsTest, RecommendationsBlendLayersAndLeaveOutWhatWasBought) {
  std::string seller = User("s@example.com", "seller");
  std::string kettle = Listed(seller, "Kettle", 100, "{}", "Acme", "kitchen");
  std::string mug = Listed(seller, "Mug", 100, "{}", "Acme", "kitchen");
  std::string pan = Listed(seller, "Pan", 100, "{}", "Acme", "kitchen");
  std::string rake = Listed(seller, "Rake", 100, "{}", "Acme", "garden");
  SearchUntil("", [](const json::value& v) { return v.at("items").as_array().size() == 4; });
  std::string ann_id, bob_id;
  std::string ann = User("ann@example.com", "buyer", &ann_id);
  User("bob@example.com", "buyer", &bob_id);
  // Others buy the kettle with a mug; the rake sells best of all.
  Delivered("o-bob-1", bob_id, {kettle, mug});
  for (int i = 0; i < 4; ++i) Delivered("o-rake-" + std::to_string(i), bob_id, {rake});
  // A buyer with no purchases gets what is trending.
  Settle();
  std::vector<std::string> fresh = Ids("/recommendations", ann);
  ASSERT_FALSE(fresh.empty());
  EXPECT_EQ(fresh[0], rake);
  // Ann buys the kettle: the mug (bought with it, and in her category) comes first,
  // the kettle itself never.
  Delivered("o-ann-1", ann_id, {kettle});
  client_->Call("GET", "/items/" + pan);  // seen once: it trends a little
  Settle();
  HttpResult r = client_->Call("GET", "/recommendations", "", ann);
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value v = r.Json();
  const auto& items = v.at("items").as_array();
  ASSERT_GE(items.size(), 3u) << r.body;
  EXPECT_EQ(items[0].at("id").as_string(), mug);
  EXPECT_EQ(items[0].at("reason").as_string(), "bought_together");
  std::set<std::string> ids;
  for (const auto& i : items) ids.insert(std::string(i.at("id").as_string()));
  EXPECT_FALSE(ids.count(kettle)) << r.body;
  EXPECT_TRUE(ids.count(pan) && ids.count(rake)) << r.body;
  EXPECT_EQ(client_->Call("GET", "/recommendations").status, 401);
}

TEST_P(RecommendationsTest, BackInStockNotifiesOnceAndEveryReaderSeesEveryEvent) {
  std::string seller = User("s@example.com", "seller");
  std::string lamp = Listed(seller, "Lamp", 100, "{}", "Acme", "home", 0);  // sold out
  std::string ann_id, bob_id;
  std::string ann = User("ann@example.com", "buyer", &ann_id);
  std::string bob = User("bob@example.com", "buyer", &bob_id);
  ASSERT_EQ(client_->Call("POST", "/wishlist", R"({"itemId":")" + lamp + R"("})", ann).status, 200);
  // (GET /notifications is a checkout route; this fixture has none: read the service.)
  auto back_in_stock = [&](const std::string& user_id) {
    int n = 0;
    auto page = shop_->notifications().List(user_id, 0, 100);
    EXPECT_TRUE(page.ok());
    for (const auto& x : page->first) n += x.type == "back_in_stock";
    return n;
  };
  // Restocked from zero, then again while some are left: one notification, to Ann only.
  ASSERT_EQ(client_->Call("PATCH", "/items/" + lamp, R"({"quantity":5})", seller).status, 200);
  ASSERT_EQ(client_->Call("PATCH", "/items/" + lamp, R"({"quantity":3})", seller).status, 200);
  for (int i = 0; i < 100 && back_in_stock(ann_id) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  ASSERT_TRUE(shop_->NotifyBackInStock().ok());  // a repeat adds nothing
  EXPECT_EQ(back_in_stock(ann_id), 1);
  EXPECT_EQ(back_in_stock(bob_id), 0);
  // The notifier acknowledged them; another reader still sees both events, in order.
  auto batch = shop_->inventory().outbox().Read("another-reader", 10);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->events.size(), 2u);
  EXPECT_EQ(batch->events[0].kind, "back_in_stock");
  EXPECT_EQ(batch->events[1].kind, "restocked");
  EXPECT_EQ(batch->events[1].version, 8);  // units available after
  // Search acknowledged the catalog's events; they are there for any other reader,
  // with the price change named as such.
  ASSERT_EQ(client_->Call("PATCH", "/items/" + lamp, R"({"price":250})", seller).status, 200);
  auto items = shop_->catalog().outbox().Read("another-reader", 10);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->events.size(), 2u);
  EXPECT_EQ(items->events[0].kind, "item_created");
  EXPECT_EQ(items->events[1].kind, "price_changed");
  ASSERT_TRUE(shop_->catalog().outbox().Ack("another-reader", items->events[0].seq).ok());
  EXPECT_EQ(shop_->catalog().outbox().Read("another-reader", 10)->events.size(), 1u);
  // Retention, not acknowledgement, removes events; a reader behind it is told.
  auto pruned = shop_->catalog().outbox().Prune(SystemClock::Default()->Now() + 1);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 2);
  EXPECT_TRUE(shop_->catalog().outbox().Read("another-reader", 10)->gap);
  EXPECT_TRUE(shop_->catalog().outbox().Read("a-new-reader", 10)->gap);
  ASSERT_TRUE(shop_->catalog().outbox().SkipToEnd("a-new-reader").ok());
  EXPECT_FALSE(shop_->catalog().outbox().Read("a-new-reader", 10)->gap);
}

INSTANTIATE_TEST_SUITE_P(Backends, RecommendationsTest,
                         ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
