#include "commerce/shop.h"

#include <spdlog/spdlog.h>

#include <algorithm>
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
  KEEL_ASSIGN_OR_RETURN(auto promotions_db, open("promotions"));
  KEEL_ASSIGN_OR_RETURN(shop->promotions_, Promotions::Open(std::move(promotions_db), clock));
  KEEL_ASSIGN_OR_RETURN(auto carts_db, open("carts"));
  KEEL_ASSIGN_OR_RETURN(
      shop->carts_, Carts::Open(std::move(carts_db), shop->catalog_.get(), shop->inventory_.get(),
                                shop->promotions_.get(), clock));
  KEEL_ASSIGN_OR_RETURN(auto orders_db, open("orders"));
  KEEL_ASSIGN_OR_RETURN(shop->orders_, Orders::Open(std::move(orders_db), clock));
  KEEL_ASSIGN_OR_RETURN(auto notifications_db, open("notifications"));
  KEEL_ASSIGN_OR_RETURN(shop->notifications_,
                        Notifications::Open(std::move(notifications_db), clock));
  KEEL_ASSIGN_OR_RETURN(auto activity_db, open("activity"));
  KEEL_ASSIGN_OR_RETURN(shop->signals_, Signals::Open(std::move(activity_db), clock));
  KEEL_ASSIGN_OR_RETURN(shop->api_db_, open("api"));
  shop->indexer_ = std::make_unique<SearchIndexer>(shop->catalog_.get(), shop->search_.get());
  return shop;
}

Shop::~Shop() { StopBackground(); }

namespace {

// Sum of count * 0.5^(age / half-life) per item, over the window.
template <typename Rows>
void AddDecayed(const Rows& rows, Shop::Decay d, int64_t today, double weight,
                std::unordered_map<std::string, double>* out) {
  for (const auto& r : rows) {
    if (today - r.day >= d.window_days) continue;
    (*out)[r.item_id] +=
        weight * static_cast<double>(r.count) * std::pow(0.5, (today - r.day) / d.half_life_days);
  }
}

}  // namespace

Result<int64_t> Shop::ConsumeSales() {
  KEEL_ASSIGN_OR_RETURN(OutboxBatch batch, inventory_->outbox().Read(kSalesConsumer, 512));
  if (batch.gap) {
    spdlog::warn("sales signals: stock events were pruned before they were read; skipping them");
    KEEL_RETURN_IF_ERROR(inventory_->outbox().SkipToEnd(kSalesConsumer));
    return 0;
  }
  if (batch.events.empty()) return 0;
  KEEL_ASSIGN_OR_RETURN(int64_t fresh, signals_->ApplySales(kSalesConsumer, batch.events));
  KEEL_RETURN_IF_ERROR(inventory_->outbox().Ack(kSalesConsumer, batch.events.back().seq));
  return std::max<int64_t>(fresh, 1);  // read something: there may be more
}

Status Shop::RefreshSignals() {
  for (int i = 0; i < 64; ++i) {  // bounded: a backlog is read on the next refreshes
    KEEL_ASSIGN_OR_RETURN(int64_t read, ConsumeSales());
    if (read == 0) break;
  }
  const int64_t today = clock_->Now() / 86'400'000;
  KEEL_ASSIGN_OR_RETURN(auto sales, signals_->SalesSince(today - kPopularity.window_days + 1));
  KEEL_ASSIGN_OR_RETURN(auto views, signals_->ViewsSince(today - kTrending.window_days + 1));
  std::unordered_map<std::string, double> popularity, trending;
  AddDecayed(sales, kPopularity, today, 1, &popularity);
  AddDecayed(sales, kTrending, today, kTrendingSaleWeight, &trending);
  AddDecayed(views, kTrending, today, 1, &trending);
  search_->SetSignals(popularity, trending);
  return signals_->PruneCounts(today - kTrending.window_days, today - kPopularity.window_days);
}

Result<int> Shop::NotifyBackInStock() {
  constexpr const char* kConsumer = "notifications";
  KEEL_ASSIGN_OR_RETURN(OutboxBatch batch, inventory_->outbox().Read(kConsumer, 256));
  if (batch.gap) {
    spdlog::warn("back in stock: events were pruned before they were read; skipping them");
    KEEL_RETURN_IF_ERROR(inventory_->outbox().SkipToEnd(kConsumer));
    return 0;
  }
  for (const auto& e : batch.events) {
    if (e.kind != "back_in_stock") continue;
    KEEL_ASSIGN_OR_RETURN(std::vector<std::string> users, carts_->WishlistedBy(e.item_id));
    if (users.empty()) continue;
    auto item = catalog_->Get(e.item_id);
    const std::string name = item.ok() ? item->name : e.item_id;
    for (const auto& user : users) {
      // One event id per restock and buyer: a repeat of this pass adds nothing.
      KEEL_RETURN_IF_ERROR(notifications_->Add(
          {"back-in-stock:" + e.item_id + ":" + std::to_string(e.seq) + ":" + user, user, "",
           "back_in_stock", name + " is back in stock (item " + e.item_id + ")"}));
    }
  }
  if (!batch.events.empty()) {
    KEEL_RETURN_IF_ERROR(inventory_->outbox().Ack(kConsumer, batch.events.back().seq));
  }
  return static_cast<int>(batch.events.size());
}

void Shop::StartBackground() {
  indexer_->Start();
  stop_ = false;
  sweeper_ = std::thread([this] {
    Millis signals_at = 0;
    while (!stop_) {
      if (auto v = signals_->Flush(false); !v.ok()) {
        spdlog::warn("views: {}", v.status().ToString());
      }
      search_->RebuildCompletionsIfStale();
      if (auto b = NotifyBackInStock(); !b.ok()) {
        spdlog::warn("back in stock: {}", b.status().ToString());
      }
      if (clock_->Now() - signals_at >= opts_.signals_every_ms) {
        signals_at = clock_->Now();
        Status s = RefreshSignals();
        if (!s.ok()) spdlog::warn("signals: {}", s.ToString());
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
