// Inventory on both stores: holds, expiry, idempotency, and 50 concurrent clients
// racing for the last 10 units.

#include "commerce/inventory.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "commerce/order_state.h"
#include "tests/testing/backends.h"

namespace keel::commerce {
namespace {

class InventoryTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP();
    persistence::SqlOpenOptions o;
    o.pool_size = 16;
    auto db = persistence::OpenSqlDatabase(backend_->url(), "inventory", o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto inv = Inventory::Open(std::move(db).value(), &clock_);
    ASSERT_TRUE(inv.ok()) << inv.status().ToString();
    inv_ = std::move(inv).value();
  }
  int64_t Available(const std::string& sku) { return inv_->Level(sku).value().available; }

  FakeClock clock_{1'000'000};
  std::unique_ptr<testutil::BackendInstance> backend_;
  std::unique_ptr<Inventory> inv_;
};

TEST_P(InventoryTest, FiftyClientsRaceForTheLastTenUnits) {
  ASSERT_TRUE(inv_->Restock("sku-hot", 10, "r1").ok());
  std::atomic<int> won{0}, lost{0}, other{0};
  std::vector<std::thread> clients;
  std::atomic<bool> go{false};
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      Status s = inv_->Reserve({{"hold-" + std::to_string(i), "sku-hot", 1}},
                               "order-" + std::to_string(i), 60'000);
      if (s.ok()) {
        ++won;
      } else if (s.reason() == "insufficient_stock") {
        ++lost;
      } else {
        ++other;
        ADD_FAILURE() << s.ToString();
      }
    });
  }
  go = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(won.load(), 10);
  EXPECT_EQ(lost.load(), 40);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Available("sku-hot"), 0);
  EXPECT_EQ(inv_->ListHolds("active").value().size(), 10u);
}

TEST_P(InventoryTest, MultiLineReservationsAreAllOrNothing) {
  ASSERT_TRUE(inv_->Restock("a", 5, "ra").ok());
  ASSERT_TRUE(inv_->Restock("b", 1, "rb").ok());
  Status s = inv_->Reserve({{"o1:a", "a", 2}, {"o1:b", "b", 2}}, "o1", 60'000);
  EXPECT_EQ(s.reason(), "insufficient_stock");
  EXPECT_NE(s.message().find("b"), std::string::npos);
  EXPECT_EQ(Available("a"), 5);  // nothing of the order was kept
  EXPECT_TRUE(inv_->Reserve({{"o2:a", "a", 2}, {"o2:b", "b", 1}}, "o2", 60'000).ok());
  EXPECT_EQ(Available("a"), 3);
  EXPECT_EQ(Available("b"), 0);
  // Unknown SKU: nothing to reserve.
  EXPECT_EQ(inv_->Reserve({{"o3:z", "z", 1}}, "o3", 60'000).reason(), "insufficient_stock");
}

TEST_P(InventoryTest, ReserveCommitReleaseAreIdempotent) {
  ASSERT_TRUE(inv_->Restock("s", 3, "r1").ok());
  ASSERT_TRUE(inv_->Restock("s", 3, "r1").ok());  // the same restock again: not counted
  EXPECT_EQ(inv_->Level("s").value().on_hand, 3);
  ASSERT_TRUE(inv_->Reserve({{"h1", "s", 2}}, "o1", 60'000).ok());
  ASSERT_TRUE(inv_->Reserve({{"h1", "s", 2}}, "o1", 60'000).ok());  // retried: one hold
  EXPECT_EQ(Available("s"), 1);
  ASSERT_TRUE(inv_->Commit("h1").ok());
  ASSERT_TRUE(inv_->Commit("h1").ok());
  StockLevel l = inv_->Level("s").value();
  EXPECT_EQ(l.committed, 2);
  EXPECT_EQ(l.held, 0);
  EXPECT_EQ(l.available, 1);
  // Releasing a committed hold gives its units back, once.
  ASSERT_TRUE(inv_->Release("h1").ok());
  ASSERT_TRUE(inv_->Release("h1").ok());
  EXPECT_EQ(inv_->Level("s").value().committed, 0);
  EXPECT_EQ(Available("s"), 3);
  // A released hold cannot be re-reserved or committed under the same id.
  EXPECT_EQ(inv_->Reserve({{"h1", "s", 1}}, "o1", 60'000).reason(), "hold_not_active");
  EXPECT_EQ(inv_->Commit("h1").reason(), "hold_not_active");
  EXPECT_EQ(inv_->Commit("nope").code(), StatusCode::kNotFound);
  EXPECT_TRUE(inv_->Release("nope").ok());
  EXPECT_EQ(inv_->Reserve({{"h2", "s", 0}}, "o", 1000).reason(), "validation_failed");
}

TEST_P(InventoryTest, ExpiredHoldsNeverReduceAvailability) {
  ASSERT_TRUE(inv_->Restock("s", 2, "r").ok());
  ASSERT_TRUE(inv_->Reserve({{"h1", "s", 2}}, "o1", 30 * 60'000).ok());
  EXPECT_EQ(Available("s"), 0);
  clock_.Advance(30 * 60'000);  // exactly at expiry: no longer held
  EXPECT_EQ(Available("s"), 2);
  // Before any sweep, another order can take the units.
  EXPECT_TRUE(inv_->Reserve({{"h2", "s", 2}}, "o2", 60'000).ok());
  EXPECT_EQ(inv_->Commit("h1").reason(), "hold_expired");
  EXPECT_EQ(inv_->SweepExpired().value(), 1);
  EXPECT_EQ(inv_->GetHold("h1").value().state, "expired");
  EXPECT_EQ(inv_->SweepExpired().value(), 0);
  EXPECT_TRUE(inv_->Commit("h2").ok());
  StockLevel l = inv_->Level("s").value();
  EXPECT_LE(l.committed + l.held, l.on_hand);
}

// A buyer's holds are capped in units and in orders, checked in the reserving
// transaction: racing reservations of one buyer cannot pass the cap together.
TEST_P(InventoryTest, ABuyerCannotHoldPastTheCaps) {
  ASSERT_TRUE(inv_->Restock("sku-a", 100, "r1").ok());
  ASSERT_TRUE(inv_->Restock("sku-b", 100, "r2").ok());
  BuyerLimits ann{"ann", 5, 2};
  ASSERT_TRUE(inv_->Reserve({{"o1/a", "sku-a", 3}}, "o1", 60'000, ann).ok());
  // The same order's second line counts with its first.
  Status over = inv_->Reserve({{"o1/b", "sku-b", 3}}, "o1", 60'000, ann);
  EXPECT_EQ(over.reason(), "buyer_limit") << over.ToString();
  ASSERT_TRUE(inv_->Reserve({{"o1/b", "sku-b", 2}}, "o1", 60'000, ann).ok());
  // A retried line is not counted twice.
  ASSERT_TRUE(inv_->Reserve({{"o1/b", "sku-b", 2}}, "o1", 60'000, ann).ok());
  EXPECT_EQ(inv_->Reserve({{"o2/a", "sku-a", 1}}, "o2", 60'000, ann).reason(), "buyer_limit");
  // Other buyers are not affected, and expired holds no longer count.
  EXPECT_TRUE(inv_->Reserve({{"o3/a", "sku-a", 5}}, "o3", 60'000, {"bob", 5, 2}).ok());
  clock_.Advance(60'001);
  EXPECT_TRUE(inv_->Reserve({{"o4/a", "sku-a", 5}}, "o4", 60'000, ann).ok());
  // The order cap: two orders with holds, a third is refused.
  BuyerLimits cy{"cy", 100, 2};
  ASSERT_TRUE(inv_->Reserve({{"c1/a", "sku-a", 1}}, "c1", 60'000, cy).ok());
  ASSERT_TRUE(inv_->Reserve({{"c2/a", "sku-a", 1}}, "c2", 60'000, cy).ok());
  EXPECT_EQ(inv_->Reserve({{"c3/a", "sku-a", 1}}, "c3", 60'000, cy).reason(), "buyer_limit");
  ASSERT_TRUE(inv_->Release("c1/a").ok());
  EXPECT_TRUE(inv_->Reserve({{"c3/a", "sku-a", 1}}, "c3", 60'000, cy).ok());
}

TEST_P(InventoryTest, RacingReservationsOfOneBuyerKeepTheCap) {
  ASSERT_TRUE(inv_->Restock("sku-hot", 1000, "r1").ok());
  std::atomic<int64_t> held{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 20; ++i) {
    clients.emplace_back([&, i] {
      const std::string order = "order-" + std::to_string(i);
      if (inv_->Reserve({{order + "/h", "sku-hot", 3}}, order, 60'000, {"ann", 10, 0}).ok()) {
        held += 3;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(held.load(), 9);
  EXPECT_EQ(Available("sku-hot"), 991);
}

TEST_P(InventoryTest, EveryStockChangeIsAnnouncedOnceInTheOutbox) {
  ASSERT_TRUE(inv_->Restock("sku-ev", 10, "r1").ok());  // a new SKU: nobody waits for it
  ASSERT_TRUE(inv_->Reserve({{"h1", "sku-ev", 2}, {"h2", "sku-ev", 3}}, "o1", 60'000).ok());
  ASSERT_TRUE(inv_->Reserve({{"h1", "sku-ev", 2}}, "o1", 60'000).ok());  // a repeat
  ASSERT_TRUE(inv_->Reserve({{"h3", "sku-ev", 1}}, "o2", 1'000).ok());
  ASSERT_TRUE(inv_->Commit("h1").ok());
  ASSERT_TRUE(inv_->Commit("h1").ok());  // a repeat
  ASSERT_TRUE(inv_->Release("h2").ok());
  ASSERT_TRUE(inv_->Release("h1").ok());  // committed: the units come back
  ASSERT_TRUE(inv_->Release("h1").ok());  // a repeat
  clock_.Advance(2'000);
  ASSERT_EQ(inv_->SweepExpired().value(), 1);
  ASSERT_TRUE(inv_->Restock("sku-ev", 4, "r2").ok());
  auto batch = inv_->outbox().Read("reader", 100);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  std::vector<std::string> seen;
  for (const auto& e : batch->events) {
    EXPECT_EQ(e.item_id, "sku-ev");
    seen.push_back(e.kind + ":" + std::to_string(e.quantity));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"reserved:2", "reserved:3", "reserved:1", "sold:2",
                                            "released:3", "unsold:2", "expired:1", "restocked:4"}));
  EXPECT_EQ(batch->events.back().version, 14);  // units available after the restock
}

TEST_P(InventoryTest, AHotSkuSpreadOverShardsNeverOversells) {
  ASSERT_TRUE(inv_->Restock("sku-flash", 100, "r1").ok());
  ASSERT_TRUE(inv_->Reserve({{"early", "sku-flash", 2}}, "o-early", 60'000).ok());
  ASSERT_TRUE(inv_->SetShards("sku-flash", 4).ok());
  EXPECT_EQ(inv_->HotSkus().value(), (std::map<std::string, int64_t>{{"sku-flash", 4}}));
  EXPECT_EQ(Available("sku-flash"), 98);
  // The SKU's row keeps the early hold's units; the shards share the rest.
  int64_t in_shards = 0;
  for (const auto& row : inv_->ListStock().value()) {
    if (row.sku.rfind("sku-flash#", 0) == 0) {
      EXPECT_GE(row.available, 24) << row.sku;
      in_shards += row.available;
    }
  }
  EXPECT_EQ(in_shards, 98);
  // 150 buyers race for 98 units.
  std::atomic<int> won{0}, lost{0};
  std::vector<std::thread> clients;
  std::atomic<bool> go{false};
  for (int i = 0; i < 150; ++i) {
    clients.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      const std::string id = std::to_string(i);
      Status s = inv_->Reserve({{"h" + id, "sku-flash", 1}}, "o" + id, 60'000);
      if (s.ok()) {
        ++won;
      } else {
        EXPECT_EQ(s.reason(), "insufficient_stock") << s.ToString();
        ++lost;
      }
    });
  }
  go = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(won.load(), 98);
  EXPECT_EQ(lost.load(), 52);
  EXPECT_EQ(Available("sku-flash"), 0);
  EXPECT_EQ(inv_->Level("sku-flash")->held, 100);
  // Holds name their shard row; commit and release work on it; a restock is shared out.
  std::vector<Hold> won_holds;
  for (auto& h : inv_->ListHolds("active").value()) {
    if (h.hold_id != "early") won_holds.push_back(h);
  }
  ASSERT_EQ(won_holds.size(), 98u);
  std::set<std::string> rows;
  for (const auto& h : won_holds) {
    EXPECT_EQ(BaseSku(h.sku), "sku-flash");
    rows.insert(h.sku);
  }
  EXPECT_EQ(rows.size(), 4u);  // every shard gave
  ASSERT_TRUE(inv_->Commit(won_holds[0].hold_id).ok());
  ASSERT_TRUE(inv_->Release(won_holds[1].hold_id).ok());
  EXPECT_EQ(Available("sku-flash"), 1);
  ASSERT_TRUE(inv_->Restock("sku-flash", 8, "r2").ok());
  EXPECT_EQ(Available("sku-flash"), 9);
  // Back to one row: the shards' free units come home.
  ASSERT_TRUE(inv_->SetShards("sku-flash", 0).ok());
  EXPECT_TRUE(inv_->HotSkus()->empty());
  EXPECT_EQ(Available("sku-flash"), 9);
  auto level = inv_->Level("sku-flash");
  EXPECT_EQ(level->on_hand, 108);
  EXPECT_EQ(level->supplied, 108);
  for (const auto& row : inv_->ListStock().value()) {
    EXPECT_LE(row.committed + row.held, row.on_hand) << row.sku;
  }
  EXPECT_EQ(inv_->Restock("a#b", 1, "r3").reason(), "validation_failed");
  EXPECT_EQ(inv_->SetShards("no-such-sku", 4).reason(), "not_found");
  EXPECT_EQ(inv_->SetShards("sku-flash", 65).reason(), "validation_failed");
}

INSTANTIATE_TEST_SUITE_P(Backends, InventoryTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

TEST(OrderStateTest, OnlyDeclaredTransitions) {
  EXPECT_TRUE(IsLegalTransition("pending_payment", "confirmed"));
  EXPECT_TRUE(IsLegalTransition("shipped", "delivered"));
  EXPECT_FALSE(IsLegalTransition("pending_payment", "shipped"));
  EXPECT_FALSE(IsLegalTransition("delivered", "pending_payment"));
  EXPECT_FALSE(IsLegalTransition("confirmed", "bogus"));
  for (const char* terminal : {"payment_failed", "expired", "refunded"}) {
    EXPECT_TRUE(IsTerminal(terminal)) << terminal;
    for (const char* to : {"pending_payment", "confirmed", "cancelled", "refunded"}) {
      EXPECT_FALSE(IsLegalTransition(terminal, to)) << terminal << "->" << to;
    }
  }
  EXPECT_FALSE(IsTerminal("confirmed"));
}

}  // namespace
}  // namespace keel::commerce
