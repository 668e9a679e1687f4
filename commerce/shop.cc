#include "commerce/shop.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <condition_variable>
#include <random>

#include "common/ids.h"

namespace keel::commerce {

Result<std::unique_ptr<Shop>> Shop::Open(const std::string& db_url, Clock* clock,
                                         const ShopOptions& options) {
  std::unique_ptr<Shop> shop(new Shop(clock, options));
  persistence::SqlOpenOptions so;
  so.pool_size = options.pool_size;
  so.connect_retry_ms = options.connect_retry_ms;
  auto open = [&](const char* name) { return persistence::OpenSqlDatabase(db_url, name, so); };
  KEEL_ASSIGN_OR_RETURN(auto users_db, open("users"));
  KEEL_ASSIGN_OR_RETURN(shop->users_,
                        Users::Open(std::move(users_db), clock, options.token_ttl_ms));
  KEEL_ASSIGN_OR_RETURN(auto catalog_db, open("catalog"));
  KEEL_ASSIGN_OR_RETURN(shop->catalog_, Catalog::Open(std::move(catalog_db), clock));
  KEEL_ASSIGN_OR_RETURN(auto search_db, open("search"));
  KEEL_ASSIGN_OR_RETURN(shop->search_, SearchIndex::Open(std::move(search_db)));
  KEEL_ASSIGN_OR_RETURN(auto inventory_db, open("inventory"));
  KEEL_ASSIGN_OR_RETURN(shop->inventory_, Inventory::Open(std::move(inventory_db), clock));
  KEEL_ASSIGN_OR_RETURN(auto carts_db, open("carts"));
  KEEL_ASSIGN_OR_RETURN(shop->carts_, Carts::Open(std::move(carts_db), shop->catalog_.get(),
                                                  shop->inventory_.get(), clock));
  KEEL_ASSIGN_OR_RETURN(auto orders_db, open("orders"));
  KEEL_ASSIGN_OR_RETURN(shop->orders_, Orders::Open(std::move(orders_db), clock));
  KEEL_ASSIGN_OR_RETURN(auto notifications_db, open("notifications"));
  KEEL_ASSIGN_OR_RETURN(shop->notifications_,
                        Notifications::Open(std::move(notifications_db), clock));
  KEEL_ASSIGN_OR_RETURN(shop->api_db_, open("api"));
  shop->indexer_ = std::make_unique<SearchIndexer>(shop->catalog_.get(), shop->search_.get());
  return shop;
}

Shop::~Shop() { StopBackground(); }

Status Shop::RefreshPopularity() {
  const int64_t today = clock_->Now() / 86'400'000;
  KEEL_ASSIGN_OR_RETURN(auto sales, orders_->SalesSince(today - kSalesWindowDays + 1));
  std::unordered_map<std::string, double> decayed;
  for (const auto& s : sales) {
    decayed[s.item_id] +=
        static_cast<double>(s.units) * std::pow(0.5, (today - s.day) / kSalesHalfLifeDays);
  }
  search_->SetPopularity(decayed);
  return Status::Ok();
}

void Shop::StartBackground() {
  indexer_->Start();
  stop_ = false;
  sweeper_ = std::thread([this] {
    Millis popularity_at = 0;
    while (!stop_) {
      if (clock_->Now() - popularity_at >= opts_.popularity_every_ms) {
        popularity_at = clock_->Now();
        Status s = RefreshPopularity();
        if (!s.ok()) spdlog::warn("popularity: {}", s.ToString());
      }
      auto n = inventory_->SweepExpired();
      if (!n.ok()) spdlog::warn("hold sweeper: {}", n.status().ToString());
      if (n.ok() && n.value() > 0) spdlog::info("hold sweeper: {} holds expired", n.value());
      for (Millis slept = 0; slept < opts_.sweep_every_ms && !stop_; slept += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
}

void Shop::StopBackground() {
  if (indexer_) indexer_->Stop();
  stop_ = true;
  if (sweeper_.joinable()) sweeper_.join();
}

Result<Item> Shop::CreateItem(Item item, int64_t quantity) {
  KEEL_RETURN_IF_ERROR(Catalog::Validate(item));
  KEEL_RETURN_IF_ERROR(inventory_->Restock(item.id, quantity, "initial:" + item.id));
  return catalog_->Create(std::move(item));
}

}  // namespace keel::commerce
