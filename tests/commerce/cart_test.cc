// Carts on both stores: price snapshots that move only when more units are bought,
// taking an order's lines out (once), and guest-cart retention.

#include "commerce/cart.h"

#include <gtest/gtest.h>

#include "commerce/shop.h"
#include "tests/testing/backends.h"

namespace keel::commerce {
namespace {

class CartTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP();
    auto shop = Shop::Open(backend_->url(), &clock_);
    ASSERT_TRUE(shop.ok()) << shop.status().ToString();
    shop_ = std::move(shop).value();
  }
  std::string Item(const std::string& id, int64_t price) {
    commerce::Item it;
    it.id = id;
    it.seller_id = "seller";
    it.name = "Lamp " + id;
    it.price = price;
    it.currency = "USD";
    it.category = "home";
    EXPECT_TRUE(shop_->CreateItem(it, 100).ok());
    return id;
  }
  void Reprice(const std::string& id, int64_t price) {
    ItemPatch p;
    p.price = price;
    ASSERT_TRUE(shop_->catalog().Update(id, "", p).ok());
  }
  CartLine Line(const std::string& cart, const std::string& item) {
    for (const auto& l : shop_->carts().Get(cart).value().lines) {
      if (l.item_id == item) return l;
    }
    return CartLine{};
  }

  FakeClock clock_{1'000'000'000};
  std::unique_ptr<testutil::BackendInstance> backend_;
  std::unique_ptr<Shop> shop_;
};

TEST_P(CartTest, RaisingAQuantityTakesAFreshSnapshot) {
  const std::string cart = shop_->carts().CartOfUser("ann").value();
  Item("lamp", 1000);
  ASSERT_TRUE(shop_->carts().SetLine(cart, "lamp", 1).ok());
  Reprice("lamp", 1200);
  EXPECT_TRUE(Line(cart, "lamp").price_changed);
  // Fewer units keep the snapshot.
  auto same = shop_->carts().SetLine(cart, "lamp", 1);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->repriced);
  EXPECT_EQ(Line(cart, "lamp").unit_price, 1000);
  // More units are bought at today's price, and the caller is told.
  auto more = shop_->carts().SetLine(cart, "lamp", 2);
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_TRUE(more->repriced);
  EXPECT_EQ(more->previous_unit_price, 1000);
  EXPECT_EQ(more->unit_price, 1200);
  CartLine l = Line(cart, "lamp");
  EXPECT_EQ(l.unit_price, 1200);
  EXPECT_FALSE(l.price_changed);
}

TEST_P(CartTest, AnOrderTakesOnlyItsOwnLinesOnce) {
  const std::string cart = shop_->carts().CartOfUser("ann").value();
  Item("lamp", 1000);
  Item("mug", 500);
  Item("tent", 9000);
  ASSERT_TRUE(shop_->carts().SetLine(cart, "lamp", 3).ok());
  ASSERT_TRUE(shop_->carts().SetLine(cart, "mug", 1).ok());
  // Ordered: 2 lamps and the mug. Meanwhile a tent was added.
  ASSERT_TRUE(shop_->carts().SetLine(cart, "tent", 1).ok());
  std::vector<Carts::OrderedLine> ordered{{"lamp", 2}, {"mug", 1}};
  ASSERT_TRUE(shop_->carts().RemoveOrdered(cart, "order-1", ordered).ok());
  auto v = shop_->carts().Get(cart).value();
  ASSERT_EQ(v.lines.size(), 2u);
  EXPECT_EQ(Line(cart, "lamp").quantity, 1);
  EXPECT_EQ(Line(cart, "tent").quantity, 1);
  // A repeat (a retried activity) takes nothing more.
  ASSERT_TRUE(shop_->carts().RemoveOrdered(cart, "order-1", ordered).ok());
  EXPECT_EQ(Line(cart, "lamp").quantity, 1);
}

TEST_P(CartTest, IdleGuestCartsArePruned) {
  Item("lamp", 1000);
  const std::string old_cart = shop_->carts().CreateGuestCart().value();
  ASSERT_TRUE(shop_->carts().SetLine(old_cart, "lamp", 1).ok());
  EXPECT_EQ(old_cart.size(), 5u + 32u);  // "cart_" and 128 random bits
  clock_.Advance(20LL * 24 * 3600 * 1000);
  const std::string fresh = shop_->carts().CreateGuestCart().value();
  const std::string user = shop_->carts().CartOfUser("ann").value();
  clock_.Advance(11LL * 24 * 3600 * 1000);
  auto pruned = shop_->carts().PruneGuestCarts(30LL * 24 * 3600 * 1000);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 1);
  EXPECT_FALSE(shop_->carts().CheckGuestCart(old_cart).ok());
  EXPECT_TRUE(shop_->carts().CheckGuestCart(fresh).ok());
  EXPECT_TRUE(shop_->carts().Get(user).ok());  // users' carts are never pruned
  // Restock ids are forgotten after the same time: a restock retried later counts.
  ASSERT_TRUE(shop_->inventory().Restock("lamp", 5, "restock-1").ok());
  ASSERT_TRUE(shop_->inventory().Restock("lamp", 5, "restock-1").ok());
  EXPECT_EQ(shop_->inventory().Level("lamp")->on_hand, 105);
  clock_.Advance(31LL * 24 * 3600 * 1000);
  auto restocks = shop_->inventory().PruneRestocks(30LL * 24 * 3600 * 1000);
  ASSERT_TRUE(restocks.ok());
  EXPECT_GE(*restocks, 1);
  ASSERT_TRUE(shop_->inventory().Restock("lamp", 5, "restock-1").ok());
  EXPECT_EQ(shop_->inventory().Level("lamp")->on_hand, 110);
}

TEST_P(CartTest, OrdersTellTheirHookOfEachChange) {
  std::vector<std::string> seen;
  shop_->orders().SetChangeHook([&](const std::string& id) { seen.push_back(id); });
  Order o;
  o.order_id = "ord-1";
  o.buyer_id = "ann";
  o.currency = "USD";
  o.cart_id = "c";
  o.workflow_id = "w";
  o.lines = {{"lamp", 1, 1000}};
  o.subtotal = o.total = 1000;
  ASSERT_TRUE(shop_->orders().Create(o).ok());
  ASSERT_TRUE(shop_->orders().Create(o).ok());  // a repeat changes nothing
  ASSERT_TRUE(shop_->orders().Transition("ord-1", "pending_payment", "confirmed", "paid").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"ord-1", "ord-1"}));
  shop_->orders().SetChangeHook(nullptr);
}

INSTANTIATE_TEST_SUITE_P(Backends, CartTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel::commerce
