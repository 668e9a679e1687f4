// Discovery over real HTTP on both stores: typo tolerance, sorts across pages, the
// rating and price facets, filters, synonyms, completions, verified reviews, and the
// sellers' own lists.

#include <gtest/gtest.h>

#include <chrono>

#include "tests/http/storefront_fixture.h"

namespace keel {
namespace {

class DiscoveryApiTest : public StorefrontApiTest {
 protected:
  // Every page of a search, each `size` long, in order.
  std::vector<std::string> AllPages(const std::string& query, int size) {
    std::vector<std::string> ids;
    std::string cursor;
    for (int page = 0; page < 50; ++page) {
      HttpResult r = client_->Call("GET", "/items?" + query + "&size=" + std::to_string(size) +
                                              (cursor.empty() ? "" : "&cursor=" + cursor));
      EXPECT_EQ(r.status, 200) << r.body;
      const json::value v = r.Json();
      for (const auto& i : v.at("items").as_array()) ids.emplace_back(i.at("id").as_string());
      if (v.at("next_cursor").is_null()) break;
      cursor = std::string(v.at("next_cursor").as_string());
    }
    return ids;
  }

  void Review(const std::string& token, const std::string& item, int stars, int expect = 201) {
    HttpResult r = client_->Call(
        "POST", "/items/" + item + "/reviews",
        R"({"rating":)" + std::to_string(stars) + R"(,"title":"Stars","body":"As rated."})", token);
    EXPECT_EQ(r.status, expect) << r.body;
  }
};

TEST_P(DiscoveryApiTest, ATypoFindsTheItemAndSaysWhatItSearchedFor) {
  std::string seller = User("s@example.com", "seller");
  std::string id = Listed(seller, "Studio Headphones", 9900);
  Listed(seller, "Mechanical Keyboard", 5900);
  SearchUntil("", [](const json::value& v) { return v.at("items").as_array().size() == 2; });
  json::value v = SearchUntil(
      "term=hedphones", [](const json::value& v) { return v.at("items").as_array().size() == 1; });
  EXPECT_EQ(v.at("items").as_array()[0].at("id").as_string(), id);
  EXPECT_EQ(v.at("corrected").at("hedphones").as_string(), "headphones");
  // Eight letters and more: two edits (a swap is two).
  v = client_->Call("GET", "/items?term=keybaord").Json();
  ASSERT_EQ(v.at("items").as_array().size(), 1u) << json::serialize(v);
  EXPECT_EQ(v.at("corrected").at("keybaord").as_string(), "keyboard");
  // A word that is there, or a prefix of one, is not corrected.
  v = client_->Call("GET", "/items?term=headph").Json();
  EXPECT_EQ(v.at("items").as_array().size(), 1u);
  EXPECT_TRUE(v.at("corrected").as_object().empty());
  // Three letters are never corrected; too far is no match, not a guess.
  EXPECT_TRUE(client_->Call("GET", "/items?term=hed").Json().at("items").as_array().empty());
  EXPECT_TRUE(client_->Call("GET", "/items?term=hxdpxonxs").Json().at("items").as_array().empty());
}

TEST_P(DiscoveryApiTest, EachSortIsRightAcrossPageBoundaries) {
  std::string seller = User("s@example.com", "seller");
  std::vector<std::string> ids;
  const int64_t prices[] = {500, 2500, 1500, 4500, 3500, 1500, 9900};
  for (int i = 0; i < 7; ++i) ids.push_back(Listed(seller, "Lamp " + std::to_string(i), prices[i]));
  SearchUntil("term=lamp",
              [](const json::value& v) { return v.at("items").as_array().size() == 7; });
  // price_asc: ties by id, and the same order whatever the page size.
  std::vector<std::string> by_price = AllPages("term=lamp&sort=price_asc", 3);
  ASSERT_EQ(by_price.size(), 7u);
  std::vector<std::string> expect = {ids[0], ids[2], ids[5], ids[1], ids[4], ids[3], ids[6]};
  if (ids[5] < ids[2]) std::swap(expect[1], expect[2]);
  EXPECT_EQ(by_price, expect);
  EXPECT_EQ(AllPages("term=lamp&sort=price_asc", 2), expect);
  std::vector<std::string> desc = AllPages("sort=price_desc", 2);
  ASSERT_EQ(desc.size(), 7u);
  EXPECT_EQ(desc.front(), ids[6]);
  EXPECT_EQ(desc.back(), ids[0]);
  std::vector<std::string> newest = AllPages("term=lamp&sort=newest", 4);
  EXPECT_EQ(newest, std::vector<std::string>(ids.rbegin(), ids.rend()));
  // rating: reviewed items first, best first.
  std::string ann_id, bob_id;
  std::string ann = User("ann@example.com", "buyer", &ann_id);
  std::string bob = User("bob@example.com", "buyer", &bob_id);
  for (int i : {3, 4}) {
    Delivered("o-ann-" + std::to_string(i), ann_id, {ids[i]});
    Delivered("o-bob-" + std::to_string(i), bob_id, {ids[i]});
  }
  Review(ann, ids[3], 3);
  Review(bob, ids[3], 4);  // 3.5
  Review(ann, ids[4], 5);  // 5.0
  SearchUntil("term=lamp&sort=rating", [&](const json::value& v) {
    return v.at("items").as_array()[0].at("id").as_string() == ids[4];
  });
  std::vector<std::string> rated = AllPages("term=lamp&sort=rating", 3);
  ASSERT_EQ(rated.size(), 7u);
  EXPECT_EQ(rated[0], ids[4]);
  EXPECT_EQ(rated[1], ids[3]);
  // popular: units confirmed lately.
  // (ids[3] and ids[4] sold one each to ann and bob above.)
  for (int i = 1; i <= 4; ++i) Delivered("o-pop-" + std::to_string(i), ann_id, {ids[1]});
  Delivered("o-pop-5", bob_id, {ids[3]});
  ASSERT_TRUE(shop_->RefreshSignals().ok());
  std::vector<std::string> popular = AllPages("term=lamp&sort=popular", 2);
  ASSERT_EQ(popular.size(), 7u);
  EXPECT_EQ(popular[0], ids[1]);  // 4 units
  EXPECT_EQ(popular[1], ids[3]);  // 3
  EXPECT_EQ(popular[2], ids[4]);  // 2
  // A cursor belongs to its sort.
  HttpResult first = client_->Call("GET", "/items?term=lamp&sort=price_asc&size=2");
  HttpResult mixed =
      client_->Call("GET", "/items?term=lamp&sort=newest&size=2&cursor=" +
                               std::string(first.Json().at("next_cursor").as_string()));
  EXPECT_EQ(mixed.status, 400);
  EXPECT_EQ(mixed.ErrorCode(), "invalid_cursor");
  HttpResult bad = client_->Call("GET", "/items?sort=cheapest");
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(Field(bad), "sort");
}

TEST_P(DiscoveryApiTest, RatingAndPriceFacetsCountTheMatches) {
  std::string seller = User("s@example.com", "seller");
  std::string a = Listed(seller, "Chair A", 900, R"({"color":"black","legs":4})");
  std::string b = Listed(seller, "Chair B", 3000, R"({"color":"Black","legs":3})");
  std::string c = Listed(seller, "Chair C", 12000, R"({"color":"white","legs":4})");
  Listed(seller, "Chair D", 60000, R"({"color":"white"})");
  std::string u1_id, u2_id;
  std::string u1 = User("u1@example.com", "buyer", &u1_id);
  std::string u2 = User("u2@example.com", "buyer", &u2_id);
  for (const auto& item : {a, b, c}) {
    Delivered("o1-" + item, u1_id, {item});
    Delivered("o2-" + item, u2_id, {item});
  }
  Review(u1, a, 5);
  Review(u2, a, 4);  // a: 4.5
  Review(u1, b, 3);  // b: 3.0
  Review(u1, c, 2);  // c: 2.0; d has none
  json::value v = SearchUntil("term=chair", [](const json::value& v) {
    const auto& r = v.at("facets").at("rating").as_array();
    return v.at("items").as_array().size() == 4 && r[3].at("count").as_int64() == 3;
  });
  // "N stars and up": 4+ one, 3+ two, 2+ three, 1+ three (d is unrated).
  const auto& ratings = v.at("facets").at("rating").as_array();
  ASSERT_EQ(ratings.size(), 4u);
  int64_t want[] = {1, 2, 3, 3};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ratings[i].at("min_rating").as_int64(), 4 - i);
    EXPECT_EQ(ratings[i].at("count").as_int64(), want[i]) << json::serialize(ratings);
  }
  // Price buckets hold 9.00, 30.00, 120.00, 600.00 one each.
  const auto& prices = v.at("facets").at("price").as_array();
  ASSERT_EQ(prices.size(), 4u) << json::serialize(prices);
  EXPECT_EQ(prices[0].at("from").as_int64(), 0);
  EXPECT_EQ(prices[0].at("to").as_int64(), 1000);
  EXPECT_TRUE(prices[3].at("to").is_null());
  // Items carry their rating; min_rating and attributes filter, and facets follow.
  for (const auto& i : v.at("items").as_array()) {
    if (i.at("id").as_string() == a) {
      EXPECT_EQ(i.at("rating").as_double(), 4.5);
    }
  }
  v = client_->Call("GET", "/items?term=chair&min_rating=3").Json();
  EXPECT_EQ(v.at("items").as_array().size(), 2u);
  EXPECT_EQ(v.at("facets").at("rating").as_array()[0].at("count").as_int64(), 1);
  v = client_->Call("GET", "/items?term=chair&attr.color=black&attr.legs=4").Json();
  ASSERT_EQ(v.at("items").as_array().size(), 1u);
  EXPECT_EQ(v.at("items").as_array()[0].at("id").as_string(), a);
  EXPECT_EQ(client_->Call("GET", "/items?attr.color=BLACK").Json().at("items").as_array().size(),
            2u);
  EXPECT_EQ(client_->Call("GET", "/items?min_rating=6").status, 422);
}

TEST_P(DiscoveryApiTest, OnlyAVerifiedBuyerReviewsOnceAndEditsWithPut) {
  std::string seller = User("s@example.com", "seller");
  std::string item = Listed(seller, "Kettle", 2500, "{}", "Acme", "home", 10);
  std::string ann_id;
  std::string ann = User("ann@example.com", "buyer", &ann_id);
  // No delivered order: 403. A confirmed one is not enough either.
  HttpResult r =
      client_->Call("POST", "/items/" + item + "/reviews", R"({"rating":5,"title":"Great"})", ann);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.ErrorCode(), "not_verified_purchase");
  EXPECT_EQ(
      client_->Call("POST", "/items/" + item + "/reviews", R"({"rating":5,"title":"x"})", seller)
          .status,
      403);
  EXPECT_EQ(
      client_->Call("POST", "/items/" + item + "/reviews", R"({"rating":5,"title":"x"})").status,
      401);
  Delivered("o-1", ann_id, {item});
  HttpResult bad =
      client_->Call("POST", "/items/" + item + "/reviews", R"({"rating":6,"title":"Great"})", ann);
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(Field(bad), "rating");
  bad = client_->Call("POST", "/items/" + item + "/reviews", R"({"rating":4,"title":"a\u0001b"})",
                      ann);
  EXPECT_EQ(Field(bad), "title");
  bad =
      client_->Call("POST", "/items/" + item + "/reviews",
                    R"({"rating":4,"title":"ok","body":")" + std::string(5001, 'x') + R"("})", ann);
  EXPECT_EQ(Field(bad), "body");
  EXPECT_EQ(
      client_->Call("PUT", "/items/" + item + "/reviews", R"({"rating":4,"title":"Edit"})", ann)
          .status,
      404);  // nothing to edit yet
  Review(ann, item, 2);
  Review(ann, item, 5, 409);  // one per buyer and item
  HttpResult put = client_->Call("PUT", "/items/" + item + "/reviews",
                                 R"({"rating":4,"title":"Grew on me","body":"Better now."})", ann);
  ASSERT_EQ(put.status, 200) << put.body;
  HttpResult got = client_->Call("GET", "/items/" + item);
  EXPECT_EQ(got.Json().at("rating").as_double(), 4.0);
  EXPECT_EQ(got.Json().at("review_count").as_int64(), 1);
  json::value list = client_->Call("GET", "/items/" + item + "/reviews").Json();
  ASSERT_EQ(list.at("reviews").as_array().size(), 1u);
  EXPECT_EQ(list.at("reviews").as_array()[0].at("title").as_string(), "Grew on me");
  EXPECT_EQ(list.at("reviews").as_array()[0].at("reviewer_id").as_string(), ann_id);
  // Paging by rating: five more buyers.
  for (int i = 0; i < 5; ++i) {
    std::string id;
    std::string t = User("b" + std::to_string(i) + "@example.com", "buyer", &id);
    Delivered("o-b" + std::to_string(i), id, {item});
    Review(t, item, 1 + i);
  }
  std::vector<int64_t> stars;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    json::value v = client_
                        ->Call("GET", "/items/" + item + "/reviews?sort=rating&size=2" +
                                          (cursor.empty() ? "" : "&cursor=" + cursor))
                        .Json();
    for (const auto& x : v.at("reviews").as_array()) stars.push_back(x.at("rating").as_int64());
    if (v.at("next_cursor").is_null()) break;
    cursor = std::string(v.at("next_cursor").as_string());
  }
  EXPECT_EQ(stars, (std::vector<int64_t>{5, 4, 4, 3, 2, 1}));
  EXPECT_EQ(client_->Call("GET", "/items/nope/reviews").status, 404);
  EXPECT_EQ(client_->Call("GET", "/items/" + item + "/reviews?sort=best").status, 422);
}

TEST_P(DiscoveryApiTest, SynonymsApplyWithoutARebuild) {
  std::string seller = User("s@example.com", "seller");
  std::string sofa = Listed(seller, "Leather Sofa", 50000);
  SearchUntil("term=sofa",
              [](const json::value& v) { return v.at("items").as_array().size() == 1; });
  // "couch" is a typo of nothing here: no match before the synonym.
  EXPECT_TRUE(client_->Call("GET", "/items?term=couch").Json().at("items").as_array().empty());
  const std::string body = R"({"groups":[["sofa","couch","settee"]]})";
  EXPECT_EQ(client_->Call("PUT", "/v1/search/synonyms", body).status, 401);
  EXPECT_EQ(client_->Call("PUT", "/v1/search/synonyms", body, "wrong").status, 403);
  HttpResult bad =
      client_->Call("PUT", "/v1/search/synonyms", R"({"groups":[["two words","x"]]})", kAdminToken);
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(
      client_->Call("PUT", "/v1/search/synonyms", R"({"groups":[["alone"]]})", kAdminToken).status,
      422);
  ASSERT_EQ(client_->Call("PUT", "/v1/search/synonyms", body, kAdminToken).status, 200);
  json::value v = client_->Call("GET", "/items?term=couch").Json();
  ASSERT_EQ(v.at("items").as_array().size(), 1u);
  EXPECT_EQ(v.at("items").as_array()[0].at("id").as_string(), sofa);
  EXPECT_EQ(
      client_->Call("GET", "/items?term=leather%20settee").Json().at("items").as_array().size(),
      1u);
  json::value groups = client_->Call("GET", "/v1/search/synonyms", "", kAdminToken).Json();
  EXPECT_EQ(groups.at("groups").as_array().size(), 1u);
  // Another index instance (another process) applies them too, within a second.
  auto db = persistence::OpenSqlDatabase(backend_->url(), "search", {});
  ASSERT_TRUE(db.ok());
  auto other = commerce::SearchIndex::Open(std::move(db).value());
  ASSERT_TRUE(other.ok());
  auto found = (*other)->Search({.term = "settee"});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->items.size(), 1u);
  ASSERT_EQ(client_->Call("PUT", "/v1/search/synonyms", R"({"groups":[]})", kAdminToken).status,
            200);
  EXPECT_TRUE(client_->Call("GET", "/items?term=couch").Json().at("items").as_array().empty());
}

TEST_P(DiscoveryApiTest, SuggestCompletesNamesBrandsAndCategories) {
  std::string seller = User("s@example.com", "seller");
  Listed(seller, "Wireless Headphones", 9900, "{}", "Sony");
  Listed(seller, "Headphone Stand", 1900, "{}", "Sonos");
  SearchUntil("term=head",
              [](const json::value& v) { return v.at("items").as_array().size() == 2; });
  // Completions follow the catalog within a few seconds (the background rebuild).
  json::value v;
  for (int i = 0; i < 200; ++i) {
    v = client_->Call("GET", "/items/suggest?prefix=head&size=5").Json();
    if (v.at("suggestions").as_array().size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(v.at("suggestions").as_array().size(), 2u)
      << json::serialize(v);  // a word inside the name counts
  v = client_->Call("GET", "/items/suggest?prefix=SON").Json();
  const auto& s = v.at("suggestions").as_array();
  ASSERT_EQ(s.size(), 2u) << json::serialize(v);
  EXPECT_EQ(s[0].at("kind").as_string(), "brand");
  v = client_->Call("GET", "/items/suggest?prefix=hom").Json();
  ASSERT_FALSE(v.at("suggestions").as_array().empty());
  EXPECT_EQ(v.at("suggestions").as_array()[0].at("kind").as_string(), "category");
  EXPECT_EQ(client_->Call("GET", "/items/suggest?prefix=").status, 422);
  EXPECT_EQ(client_->Call("GET", "/items/suggest?prefix=a&size=50").status, 422);
}

TEST_P(DiscoveryApiTest, APriceChangeReachesSearchWithinASecond) {
  std::string seller = User("s@example.com", "seller");
  std::string id = Listed(seller, "Bamboo Cutting Board", 2000);
  SearchUntil("term=bamboo",
              [](const json::value& v) { return v.at("items").as_array().size() == 1; });
  ASSERT_EQ(client_->Call("PATCH", "/items/" + id, R"({"price":1234})", seller).status, 200);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t price = 0;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1)) {
    price = client_->Call("GET", "/items?term=bamboo")
                .Json()
                .at("items")
                .as_array()[0]
                .at("price")
                .as_int64();
    if (price == 1234) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(price, 1234) << "search still shows the old price a second after the change";
}

TEST_P(DiscoveryApiTest, SellersSeeTheirItemsAndOnlyTheirLines) {
  std::string s1_id, s2_id;
  std::string s1 = User("s1@example.com", "seller", &s1_id);
  std::string s2 = User("s2@example.com", "seller", &s2_id);
  std::string buyer_id;
  std::string buyer = User("b@example.com", "buyer", &buyer_id);
  std::vector<std::string> mine;
  for (int i = 0; i < 3; ++i) mine.push_back(Listed(s1, "Mug " + std::to_string(i), 1000));
  std::string theirs = Listed(s2, "Plate", 1500);
  std::vector<std::string> listed;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    json::value v =
        client_
            ->Call("GET", "/seller/items?size=2" + (cursor.empty() ? "" : "&cursor=" + cursor), "",
                   s1)
            .Json();
    for (const auto& i : v.at("items").as_array()) {
      listed.emplace_back(i.at("id").as_string());
      EXPECT_EQ(i.at("stock").at("available").as_int64(), 5);
    }
    if (v.at("next_cursor").is_null()) break;
    cursor = std::string(v.at("next_cursor").as_string());
  }
  std::sort(mine.begin(), mine.end());
  EXPECT_EQ(listed, mine);
  EXPECT_EQ(client_->Call("GET", "/seller/items", "", buyer).status, 403);
  EXPECT_EQ(client_->Call("GET", "/seller/items").status, 401);

  commerce::Order o;
  o.order_id = "o-mixed";
  o.buyer_id = buyer_id;
  o.currency = "USD";
  o.idempotency_key = "k-mixed";
  o.lines = {{mine[0], 2, 1000, s1_id}, {theirs, 1, 1500, s2_id}};
  o.subtotal = o.total = 3500;
  ASSERT_TRUE(shop_->orders().Create(o).ok());
  json::value v = client_->Call("GET", "/seller/orders", "", s1).Json();
  ASSERT_EQ(v.at("orders").as_array().size(), 1u);
  const auto& order = v.at("orders").as_array()[0];
  ASSERT_EQ(order.at("lines").as_array().size(), 1u);
  EXPECT_EQ(order.at("lines").as_array()[0].at("item_id").as_string(), mine[0]);
  EXPECT_EQ(order.at("seller_subtotal").as_int64(), 2000);
  EXPECT_FALSE(order.as_object().contains("total"));  // the buyer's total is not theirs
  v = client_->Call("GET", "/seller/orders", "", s2).Json();
  EXPECT_EQ(v.at("orders").as_array()[0].at("lines").as_array()[0].at("item_id").as_string(),
            theirs);
}

INSTANTIATE_TEST_SUITE_P(Backends, DiscoveryApiTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
