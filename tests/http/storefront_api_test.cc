// The storefront over real HTTP: a real server on a loopback port, a real client,
// real SQLite files or a real PostgreSQL. Every endpoint: the happy path, auth
// failures, validation (422 naming the field), oversize bodies and malformed JSON.

#include "http/storefront_api.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "tests/http/storefront_fixture.h"

namespace keel {
namespace {

using testutil::HttpResult;

TEST_P(StorefrontApiTest, RegisterAndLogin) {
  EXPECT_FALSE(User("ann@example.com", "buyer").empty());
  // The same email again (case-folded) is a conflict.
  HttpResult dup = client_->Call("POST", "/auth/register",
                                 R"({"email":"ANN@example.com","password":"another pw"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.ErrorCode(), "email_taken");
  HttpResult bad_email =
      client_->Call("POST", "/auth/register", R"({"email":"nope","password":"long enough"})");
  EXPECT_EQ(bad_email.status, 422);
  EXPECT_EQ(Field(bad_email), "email");
  HttpResult short_pw =
      client_->Call("POST", "/auth/register", R"({"email":"b@example.com","password":"short"})");
  EXPECT_EQ(short_pw.status, 422);
  EXPECT_EQ(Field(short_pw), "password");
  HttpResult admin =
      client_->Call("POST", "/auth/register",
                    R"({"email":"c@example.com","password":"long enough","role":"admin"})");
  EXPECT_EQ(admin.status, 422);
  EXPECT_EQ(Field(admin), "role");
  EXPECT_EQ(client_->Call("POST", "/auth/register", R"({"email":)").status, 400);
  EXPECT_EQ(client_->Call("POST", "/auth/register", "[1,2]").ErrorCode(), "bad_json");
  HttpResult wrong =
      client_->Call("POST", "/auth/login", R"({"email":"ann@example.com","password":"wrong pw"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.ErrorCode(), "invalid_credentials");
  HttpResult nobody =
      client_->Call("POST", "/auth/login", R"({"email":"who@example.com","password":"wrong pw"})");
  EXPECT_EQ(nobody.status, 401);
  EXPECT_EQ(nobody.ErrorCode(), "invalid_credentials");
}

TEST_P(StorefrontApiTest, ItemsNeedASellerAndValidInput) {
  std::string buyer = User("buyer@example.com", "buyer");
  std::string seller = User("seller@example.com", "seller");
  const std::string body =
      R"({"name":"Lamp","price":1500,"currency":"USD","category":"home","quantity":3})";
  EXPECT_EQ(client_->Call("POST", "/items", body).status, 401);
  EXPECT_EQ(client_->Call("POST", "/items", body, "not-a-token").ErrorCode(), "invalid_token");
  EXPECT_EQ(client_->Call("POST", "/items", body, buyer).status, 403);
  // A token signed with another secret is refused.
  commerce::TokenSigner other(commerce::RandomSecret());
  std::string forged = other.Issue({"someone", commerce::Role::kAdmin, INT64_MAX});
  EXPECT_EQ(client_->Call("POST", "/items", body, forged).status, 401);

  HttpResult made = client_->Call("POST", "/items", body, seller);
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(made.Json().at("available").as_int64(), 3);
  EXPECT_EQ(made.Json().at("price").as_int64(), 1500);

  struct Case {
    std::string body, field;
  } cases[] = {
      {R"({"price":1,"currency":"USD","category":"x"})", "name"},
      {R"({"name":"A","currency":"USD","category":"x"})", "price"},
      {R"({"name":"A","price":-1,"currency":"USD","category":"x"})", "price"},
      {R"({"name":"A","price":"12","currency":"USD","category":"x"})", "price"},
      {R"({"name":"A","price":1,"currency":"usd","category":"x"})", "currency"},
      {R"({"name":"A","price":1,"currency":"USD"})", "category"},
      {R"({"name":"A","price":1,"currency":"USD","category":"x","attributes":[1]})", "attributes"},
      {R"({"name":"A","price":1,"currency":"USD","category":"x","quantity":-5})", "quantity"},
  };
  for (const auto& c : cases) {
    HttpResult r = client_->Call("POST", "/items", c.body, seller);
    EXPECT_EQ(r.status, 422) << c.body << " -> " << r.body;
    EXPECT_EQ(Field(r), c.field) << c.body;
  }
  EXPECT_EQ(client_->Call("POST", "/items", "{\"name\":", seller).status, 400);
  // Larger than the server's body limit: 413 before any handler runs.
  std::string huge = R"({"name":"A","description":")" + std::string(70 * 1024, 'x') + "\"}";
  HttpResult big = client_->Call("POST", "/items", huge, seller);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.ErrorCode(), "payload_too_large");
}

TEST_P(StorefrontApiTest, GetAndPatchItems) {
  std::string seller = User("s1@example.com", "seller");
  std::string rival = User("s2@example.com", "seller");
  std::string buyer = User("b@example.com", "buyer");
  std::string id = NewItem(seller, "Kettle", 2500, 4);
  HttpResult got = client_->Call("GET", "/items/" + id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.Json().at("name").as_string(), "Kettle");
  EXPECT_EQ(got.Json().at("available").as_int64(), 4);
  EXPECT_EQ(got.Json().at("attributes").at("color").as_string(), "red");
  EXPECT_EQ(client_->Call("GET", "/items/no-such-item").status, 404);

  EXPECT_EQ(client_->Call("PATCH", "/items/" + id, R"({"price":1})").status, 401);
  EXPECT_EQ(client_->Call("PATCH", "/items/" + id, R"({"price":1})", buyer).status, 403);
  EXPECT_EQ(client_->Call("PATCH", "/items/" + id, R"({"price":1})", rival).status, 403);
  EXPECT_EQ(client_->Call("PATCH", "/items/nope", R"({"price":1})", seller).status, 404);
  HttpResult neg = client_->Call("PATCH", "/items/" + id, R"({"price":-3})", seller);
  EXPECT_EQ(neg.status, 422);
  EXPECT_EQ(Field(neg), "price");
  EXPECT_EQ(Field(client_->Call("PATCH", "/items/" + id, R"({"quantity":0})", seller)), "quantity");
  EXPECT_EQ(client_->Call("PATCH", "/items/" + id, "nope", seller).status, 400);

  HttpResult patched = client_->Call("PATCH", "/items/" + id,
                                     R"({"price":2700,"description":"new","quantity":6})", seller);
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.Json().at("price").as_int64(), 2700);
  EXPECT_EQ(patched.Json().at("version").as_int64(), 2);
  EXPECT_EQ(patched.Json().at("available").as_int64(), 10);  // restocked by 6
  // A retried restock with the same Idempotency-Key adds nothing more.
  for (int i = 0; i < 2; ++i) {
    client_->Call("PATCH", "/items/" + id, R"({"quantity":5})", seller,
                  {{"Idempotency-Key", "restock-1"}});
  }
  EXPECT_EQ(client_->Call("GET", "/items/" + id).Json().at("available").as_int64(), 15);
}

TEST_P(StorefrontApiTest, SearchRanksFiltersFacetsAndPages) {
  std::string seller = User("s@example.com", "seller");
  for (int i = 0; i < 25; ++i) {
    NewItem(seller, "Trail runner shoe " + std::to_string(i), 1000 + i * 100, 5,
            i % 2 ? "sports" : "fashion", i % 3 ? "Acme" : "Globex");
  }
  // Newest first orders by created_at (ms), ties by id: keep the newest apart.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  NewItem(seller, "Kitchen scale", 900, 1, "kitchen", "Acme");
  // Every term matches as a prefix: "runn sho" finds the shoes while being typed.
  json::value all = SearchUntil("term=runn%20sho&size=100", [](const json::value& v) {
    return v.at("items").as_array().size() == 25;
  });
  auto facet = [&](const json::value& v, const char* name, const char* value) -> int64_t {
    for (const auto& f : v.at("facets").at(name).as_array()) {
      if (f.at("value").as_string() == value) return f.at("count").as_int64();
    }
    return 0;
  };
  EXPECT_EQ(facet(all, "category", "sports"), 12);
  EXPECT_EQ(facet(all, "category", "fashion"), 13);
  EXPECT_EQ(facet(all, "brand", "Globex"), 9);
  EXPECT_TRUE(all.at("next_cursor").is_null());

  json::value sports =
      client_
          ->Call("GET", "/items?term=shoe&category=sports&brand=Acme&min_price=1500&max_price=3000")
          .Json();
  for (const auto& it : sports.at("items").as_array()) {
    EXPECT_EQ(it.at("category").as_string(), "sports");
    EXPECT_EQ(it.at("brand").as_string(), "Acme");
    EXPECT_GE(it.at("price").as_int64(), 1500);
    EXPECT_LE(it.at("price").as_int64(), 3000);
  }
  EXPECT_FALSE(sports.at("items").as_array().empty());

  // Pages of 4 cover every match exactly once.
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    HttpResult r = client_->Call(
        "GET", "/items?term=shoe&size=4" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    json::value page = r.Json();
    for (const auto& it : page.at("items").as_array()) {
      EXPECT_TRUE(seen.insert(std::string(it.at("id").as_string())).second) << "repeated";
    }
    const auto& next = page.at("next_cursor");
    cursor = next.is_null() ? "" : std::string(next.as_string());
    ++pages;
  } while (!cursor.empty() && pages < 20);
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 7);

  // Without terms: every active item, newest first.
  // (The index is eventually consistent: wait until it has the newest item.)
  SearchUntil("size=1", [](const json::value& v) {
    const auto& items = v.at("items").as_array();
    return !items.empty() && items[0].at("name").as_string() == "Kitchen scale";
  });

  HttpResult bad_cursor = client_->Call("GET", "/items?term=shoe&cursor=garbage");
  EXPECT_EQ(bad_cursor.status, 400);
  EXPECT_EQ(bad_cursor.ErrorCode(), "invalid_cursor");
  // A cursor from another query is refused, not silently misapplied.
  HttpResult first = client_->Call("GET", "/items?term=shoe&size=2");
  std::string c = std::string(first.Json().at("next_cursor").as_string());
  EXPECT_EQ(client_->Call("GET", "/items?term=kitchen&cursor=" + c).status, 400);
  EXPECT_EQ(Field(client_->Call("GET", "/items?size=0")), "size");
  EXPECT_EQ(Field(client_->Call("GET", "/items?min_price=abc")), "min_price");
  EXPECT_EQ(Field(client_->Call("GET", "/items?min_price=10&max_price=5")), "min_price");
}

TEST_P(StorefrontApiTest, SearchSeesUpdatesWithinASecond) {
  std::string seller = User("s@example.com", "seller");
  std::string id = NewItem(seller, "Plain mug", 500, 1);
  auto t0 = std::chrono::steady_clock::now();
  SearchUntil("term=plain", [](const json::value& v) { return !v.at("items").as_array().empty(); });
  ASSERT_EQ(client_->Call("PATCH", "/items/" + id, R"({"name":"Fancy mug"})", seller).status, 200);
  SearchUntil("term=fancy", [](const json::value& v) { return !v.at("items").as_array().empty(); });
  SearchUntil("term=plain", [](const json::value& v) { return v.at("items").as_array().empty(); });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  // Inactive items leave search.
  ASSERT_EQ(client_->Call("PATCH", "/items/" + id, R"({"status":"inactive"})", seller).status, 200);
  SearchUntil("term=fancy", [](const json::value& v) { return v.at("items").as_array().empty(); });
}

TEST_P(StorefrontApiTest, CartsSnapshotPricesAndMergeGuestCarts) {
  std::string seller = User("s@example.com", "seller");
  std::string buyer = User("b@example.com", "buyer");
  std::string lamp = NewItem(seller, "Lamp", 1000, 5);
  std::string rug = NewItem(seller, "Rug", 3000, 2);

  EXPECT_EQ(client_->Call("GET", "/cart").status, 401);
  EXPECT_EQ(client_->Call("GET", "/cart", "", {{"X-Cart-Id", "made-up"}}).status, 404);
  HttpResult guest = client_->Call("POST", "/carts");
  ASSERT_EQ(guest.status, 201);
  std::map<std::string, std::string> g = {
      {"X-Cart-Id", std::string(guest.Json().at("cart_id").as_string())}};
  HttpResult add =
      client_->Call("PATCH", "/cart", R"({"itemId":")" + lamp + R"(","quantity":4})", g);
  ASSERT_EQ(add.status, 200) << add.body;
  EXPECT_EQ(add.Json().at("subtotal").as_int64(), 4000);
  HttpResult too_many =
      client_->Call("PATCH", "/cart", R"({"itemId":")" + rug + R"(","quantity":3})", g);
  EXPECT_EQ(too_many.status, 409);
  EXPECT_EQ(too_many.ErrorCode(), "insufficient_stock");
  EXPECT_EQ(client_->Call("PATCH", "/cart", R"({"itemId":"nope","quantity":1})", g).status, 404);
  EXPECT_EQ(Field(client_->Call("PATCH", "/cart", R"({"itemId":")" + lamp + R"("})", g)),
            "quantity");
  EXPECT_EQ(
      Field(client_->Call("PATCH", "/cart", R"({"itemId":")" + lamp + R"(","quantity":-1})", g)),
      "quantity");
  EXPECT_EQ(client_->Call("PATCH", "/cart", "{", g).status, 400);

  // The buyer's own cart has the same lamp at 3; merging sums to 7, capped at 5 in stock.
  ASSERT_EQ(
      client_->Call("PATCH", "/cart", R"({"itemId":")" + lamp + R"(","quantity":3})", buyer).status,
      200);
  ASSERT_EQ(
      client_->Call("PATCH", "/cart", R"({"itemId":")" + rug + R"(","quantity":1})", g).status,
      200);
  EXPECT_EQ(client_->Call("POST", "/cart/merge", R"({"guest_cart_id":"x"})").status, 401);
  HttpResult merged = client_->Call("POST", "/cart/merge",
                                    R"({"guest_cart_id":")" + g["X-Cart-Id"] + R"("})", buyer);
  ASSERT_EQ(merged.status, 200) << merged.body;
  std::map<std::string, int64_t> qty;
  json::value merged_json = merged.Json();
  for (const auto& l : merged_json.at("lines").as_array()) {
    qty[std::string(l.at("item_id").as_string())] = l.at("quantity").as_int64();
  }
  EXPECT_EQ(qty[lamp], 5);
  EXPECT_EQ(qty[rug], 1);
  // The guest cart is gone.
  EXPECT_EQ(client_->Call("GET", "/cart", "", g).status, 404);
  EXPECT_EQ(Field(client_->Call("POST", "/cart/merge", "{}", buyer)), "guest_cart_id");

  // A price change is flagged; the line keeps the price it was added at.
  ASSERT_EQ(client_->Call("PATCH", "/items/" + lamp, R"({"price":1200})", seller).status, 200);
  json::value cart = client_->Call("GET", "/cart", "", buyer).Json();
  for (const auto& l : cart.at("lines").as_array()) {
    if (l.at("item_id").as_string() == lamp) {
      EXPECT_TRUE(l.at("price_changed").as_bool());
      EXPECT_EQ(l.at("unit_price").as_int64(), 1000);
      EXPECT_EQ(l.at("current_price").as_int64(), 1200);
    } else {
      EXPECT_FALSE(l.at("price_changed").as_bool());
    }
  }
  HttpResult removed =
      client_->Call("PATCH", "/cart", R"({"itemId":")" + rug + R"(","quantity":0})", buyer);
  EXPECT_EQ(removed.Json().at("lines").as_array().size(), 1u);
  HttpResult cleared = client_->Call("DELETE", "/cart", "", buyer);
  EXPECT_EQ(cleared.status, 200);
  EXPECT_TRUE(cleared.Json().at("lines").as_array().empty());
}

TEST_P(StorefrontApiTest, Wishlist) {
  std::string seller = User("s@example.com", "seller");
  std::string buyer = User("b@example.com", "buyer");
  std::string lamp = NewItem(seller, "Lamp", 1000, 5);
  EXPECT_EQ(client_->Call("GET", "/wishlist").status, 401);
  HttpResult add = client_->Call("POST", "/wishlist", R"({"itemId":")" + lamp + R"("})", buyer);
  ASSERT_EQ(add.status, 200) << add.body;
  EXPECT_EQ(add.Json().at("items").as_array().size(), 1u);
  EXPECT_EQ(client_->Call("POST", "/wishlist", R"({"itemId":"nope"})", buyer).status, 404);
  EXPECT_EQ(Field(client_->Call("POST", "/wishlist", R"({})", buyer)), "itemId");
  EXPECT_EQ(client_->Call("POST", "/wishlist", R"(nope)", buyer).status, 400);
  EXPECT_EQ(client_->Call("GET", "/wishlist", "", buyer).Json().at("items").as_array().size(), 1u);
  HttpResult del = client_->Call("DELETE", "/wishlist?itemId=" + lamp, "", buyer);
  EXPECT_EQ(del.status, 200);
  EXPECT_TRUE(del.Json().at("items").as_array().empty());
}

TEST_P(StorefrontApiTest, OrdersAreVisibleOnlyToTheirBuyer) {
  std::string seller = User("s@example.com", "seller");
  std::string ann_id, bob_id;
  std::string ann = User("ann@example.com", "buyer", &ann_id);
  std::string bob = User("bob@example.com", "buyer", &bob_id);
  std::string lamp = NewItem(seller, "Lamp", 1000, 5);
  std::string rug = NewItem(seller, "Rug", 3000, 5);
  // Orders are made by the checkout saga; here the order service makes them directly.
  for (int i = 0; i < 3; ++i) {
    commerce::Order o;
    o.order_id = "order-" + std::to_string(i);
    o.buyer_id = ann_id;
    o.currency = "USD";
    o.lines = {{lamp, 1, 1000}, {rug, 2, 3000}};
    o.subtotal = 7000;
    o.shipping = 500;
    o.tax = 100;
    o.total = 7600;
    o.cart_id = "c";
    o.workflow_id = "checkout-" + o.order_id;
    ASSERT_TRUE(shop_->orders().Create(o).ok());
  }
  ASSERT_TRUE(shop_->orders().Transition("order-1", "pending_payment", "confirmed", "paid").ok());

  EXPECT_EQ(client_->Call("GET", "/orders").status, 401);
  HttpResult list = client_->Call("GET", "/orders?size=2", "", ann);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.Json().at("orders").as_array().size(), 2u);
  std::string next = std::string(list.Json().at("next_cursor").as_string());
  HttpResult rest = client_->Call("GET", "/orders?size=2&cursor=" + next, "", ann);
  EXPECT_EQ(rest.Json().at("orders").as_array().size(), 1u);
  EXPECT_TRUE(rest.Json().at("next_cursor").is_null());
  HttpResult confirmed = client_->Call("GET", "/orders?status=confirmed", "", ann);
  ASSERT_EQ(confirmed.Json().at("orders").as_array().size(), 1u);
  EXPECT_EQ(confirmed.Json().at("orders").at(0).at("order_id").as_string(), "order-1");
  EXPECT_EQ(Field(client_->Call("GET", "/orders?status=lost", "", ann)), "status");
  EXPECT_EQ(client_->Call("GET", "/orders?cursor=%%%", "", ann).status, 400);
  EXPECT_TRUE(client_->Call("GET", "/orders", "", bob).Json().at("orders").as_array().empty());

  HttpResult detail = client_->Call("GET", "/orders/order-1", "", ann);
  ASSERT_EQ(detail.status, 200);
  EXPECT_EQ(detail.Json().at("lines").as_array().size(), 2u);
  json::value detail_json = detail.Json();
  const auto& history = detail_json.at("status_history").as_array();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].at("from").as_string(), "pending_payment");
  EXPECT_EQ(history[1].at("to").as_string(), "confirmed");
  // Someone else's order is indistinguishable from a missing one.
  EXPECT_EQ(client_->Call("GET", "/orders/order-1", "", bob).status, 404);
  EXPECT_EQ(client_->Call("GET", "/orders/order-9", "", ann).status, 404);

  // Recommendations count confirmed orders only.
  HttpResult recs = client_->Call("GET", "/items/" + lamp + "/recommendations");
  ASSERT_EQ(recs.status, 200);
  ASSERT_EQ(recs.Json().at("items").as_array().size(), 1u);
  EXPECT_EQ(recs.Json().at("items").at(0).at("id").as_string(), rug);
  EXPECT_EQ(recs.Json().at("items").at(0).at("bought_together").as_int64(), 1);
  EXPECT_EQ(client_->Call("GET", "/items/nope/recommendations").status, 404);
}

TEST_P(StorefrontApiTest, IdempotencyKeysReplayAndRefuseOtherBodies) {
  std::string seller = User("s@example.com", "seller");
  const std::string body =
      R"({"name":"Once","price":100,"currency":"USD","category":"x","quantity":1})";
  HttpResult a = client_->Call("POST", "/items", body, seller, {{"Idempotency-Key", "k1"}});
  HttpResult b = client_->Call("POST", "/items", body, seller, {{"Idempotency-Key", "k1"}});
  ASSERT_EQ(a.status, 201) << a.body;
  EXPECT_EQ(b.status, 201);
  EXPECT_EQ(a.Json().at("id"), b.Json().at("id"));
  EXPECT_EQ(b.headers["Idempotent-Replayed"], "true");
  HttpResult c = client_->Call("POST", "/items", R"({"name":"Other","price":1,"currency":"USD",
      "category":"x"})",
                               seller, {{"Idempotency-Key", "k1"}});
  EXPECT_EQ(c.status, 400);
  EXPECT_EQ(c.ErrorCode(), "idempotency_error");
  HttpResult d = client_->Call("POST", "/items", body, seller, {{"Idempotency-Key", "k2"}});
  EXPECT_NE(d.Json().at("id"), a.Json().at("id"));
}

TEST_P(StorefrontApiTest, SavedAddressesAreValidatedCappedAndPrivate) {
  std::string ann = User("ann@example.com", "buyer"), bob = User("bob@example.com", "buyer");
  const std::string good =
      R"({"name":"Ann","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"})";
  HttpResult made = client_->Call("POST", "/me/addresses", good, ann);
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id(made.Json().at("address_id").as_string());
  struct Bad {
    std::string body, field;
  };
  for (const Bad& b :
       {Bad{R"({"name":"Ann","line1":"1 Main St","city":"X","postal_code":"1"})", "country"},
        Bad{R"({"name":"Ann","line1":"1 Main St","city":"X","postal_code":"1","country":"usa"})",
            "country"},
        Bad{R"({"name":"","line1":"1","city":"X","postal_code":"1","country":"US"})", "name"},
        Bad{R"({"name":"A","line1":"1\u0007","city":"X","postal_code":"1","country":"US"})",
            "line1"},
        Bad{R"({"name":"A","line1":"1","city":"X","postal_code":"1","country":"US","phone":"5"})",
            "phone"}}) {
    HttpResult r = client_->Call("POST", "/me/addresses", b.body, ann);
    EXPECT_EQ(r.status, 422) << b.body;
    EXPECT_EQ(Field(r), b.field) << r.body;
  }
  EXPECT_EQ(client_->Call("GET", "/me/addresses", "", ann).Json().at("addresses").as_array().size(),
            1u);
  EXPECT_TRUE(
      client_->Call("GET", "/me/addresses", "", bob).Json().at("addresses").as_array().empty());
  EXPECT_EQ(client_->Call("DELETE", "/me/addresses/" + id, "", bob).status, 404);
  EXPECT_EQ(client_->Call("GET", "/me/addresses").status, 401);
  for (int i = 1; i < 20; ++i)
    ASSERT_EQ(client_->Call("POST", "/me/addresses", good, ann).status, 201);
  HttpResult full = client_->Call("POST", "/me/addresses", good, ann);
  EXPECT_EQ(full.status, 409);
  EXPECT_EQ(full.ErrorCode(), "address_limit");
  EXPECT_EQ(client_->Call("DELETE", "/me/addresses/" + id, "", ann).status, 200);
  EXPECT_EQ(client_->Call("POST", "/me/addresses", good, ann).status, 201);
}

TEST_P(StorefrontApiTest, UnknownPathsAndMethods) {
  EXPECT_EQ(client_->Call("GET", "/nowhere").status, 404);
  HttpResult m = client_->Call("DELETE", "/items/x");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.ErrorCode(), "method_not_allowed");
}

TEST_P(StorefrontApiTest, AuthEndpointsAreRateLimited) {
  http::StorefrontOptions o;
  o.auth_per_address = {1, 5};
  http::StorefrontApi limited(shop_.get(), o);
  http::Router router;
  limited.AddRoutes(router);
  http::ServerOptions so;
  so.port = 0;
  http::HttpServer server(
      so, [&](const http::Request& r, const http::RequestInfo& i) { return router.Handle(r, i); });
  ASSERT_TRUE(server.Start().ok());
  HttpClient client(server.port());
  int throttled = 0;
  for (int i = 0; i < 10; ++i) {
    HttpResult r = client.Call("POST", "/auth/login", R"({"email":"x@y.z","password":""})");
    if (r.status == 429) {
      ++throttled;
      EXPECT_EQ(r.ErrorCode(), "rate_limited");
    }
  }
  EXPECT_GE(throttled, 4);
  server.Stop();
}

INSTANTIATE_TEST_SUITE_P(Backends, StorefrontApiTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
