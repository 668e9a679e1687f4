#pragma once
// The storefront's services, each on its own database (service boundaries), and the
// background work they need: the search indexer, the expired-hold sweeper, views,
// back-in-stock notifications and the popularity and trending signals.
// Several API processes may open the same shop (same --db) at once.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "commerce/cart.h"
#include "commerce/catalog.h"
#include "commerce/inventory.h"
#include "commerce/notifications.h"
#include "commerce/orders.h"
#include "commerce/promotions.h"
#include "commerce/search_index.h"
#include "commerce/signals.h"
#include "commerce/users.h"

namespace keel::commerce {

struct ShopOptions {
  Millis token_ttl_ms = 24 * 3600 * 1000;
  Millis sweep_every_ms = 1000;
  Millis signals_every_ms = 10'000;  // popularity and trending into search (RefreshSignals)
  int pool_size = 8;                 // connections per service database
  Millis connect_retry_ms = 30'000;
};

class Shop {
 public:
  static Result<std::unique_ptr<Shop>> Open(const std::string& db_url, Clock* clock,
                                            const ShopOptions& options = {});
  ~Shop();

  // Decayed counts, fed to search (SearchIndex::SetSignals):
  // - popularity (relevance, sort=popular): units sold in the last 30 days, each
  //   day's weighing half as much every 7 days;
  // - trending (GET /items/trending, recommendations): kTrendingSaleWeight per unit
  //   sold plus one per view, over the last 7 days, halving every day.
  // Units sold are read from the inventory outbox ("sold" and "unsold" events, consumer
  // kSalesConsumer) into the activity database first.
  struct Decay {
    int64_t window_days;
    double half_life_days;
  };
  static constexpr Decay kPopularity{30, 7}, kTrending{7, 1};
  static constexpr double kTrendingSaleWeight = 5;
  Status RefreshSignals();
  static constexpr const char* kSalesConsumer = "trending";
  // Applies the next batch of stock events to the sales counts; returns how many it
  // read (0: none waiting).
  Result<int64_t> ConsumeSales();
  // Back in stock: each "back_in_stock" stock event notifies, once, every buyer with
  // the item on their wishlist (consumer "notifications" of the inventory outbox).
  // Returns how many events it read.
  Result<int> NotifyBackInStock();

  // The search indexer, and the background thread that sweeps expired holds, writes
  // recorded views, sends back-in-stock notifications and refreshes the signals.
  void StartBackground();
  void StopBackground();

  // Stock first, then the catalog row, so a listed item never lacks its stock row;
  // both are idempotent by item id.
  Result<Item> CreateItem(Item item, int64_t quantity);

  Users& users() { return *users_; }
  Catalog& catalog() { return *catalog_; }
  SearchIndex& search() { return *search_; }
  SearchIndexer& indexer() { return *indexer_; }
  Inventory& inventory() { return *inventory_; }
  Carts& carts() { return *carts_; }
  Promotions& promotions() { return *promotions_; }
  Orders& orders() { return *orders_; }
  Notifications& notifications() { return *notifications_; }
  Signals& signals() { return *signals_; }
  // The API's own database (idempotency keys of mutating requests; http/idempotency
  // owns its schema).
  persistence::SqlDatabase& api_db() { return *api_db_; }
  Clock* clock() const { return clock_; }

 private:
  Shop(Clock* clock, ShopOptions o) : clock_(clock), opts_(o) {}
  Clock* clock_;
  ShopOptions opts_;
  std::unique_ptr<Users> users_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<SearchIndex> search_;
  std::unique_ptr<SearchIndexer> indexer_;
  std::unique_ptr<Inventory> inventory_;
  std::unique_ptr<Promotions> promotions_;
  std::unique_ptr<Carts> carts_;
  std::unique_ptr<Orders> orders_;
  std::unique_ptr<Notifications> notifications_;
  std::unique_ptr<Signals> signals_;
  std::unique_ptr<persistence::SqlDatabase> api_db_;
  std::atomic<bool> stop_{false};
  std::thread sweeper_;
};

// Adds `count` generated items across categories and brands (seller
// demo-seller@keel.test) unless the catalog has items already. Deterministic for a seed.
Result<int64_t> SeedDemoCatalog(Shop& shop, int count, uint64_t seed = 1);

}  // namespace keel::commerce
