#include "commerce/shop.h"

#include <spdlog/spdlog.h>

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

void Shop::StartBackground() {
  indexer_->Start();
  stop_ = false;
  sweeper_ = std::thread([this] {
    while (!stop_) {
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

Result<int64_t> SeedDemoCatalog(Shop& shop, int count, uint64_t seed) {
  KEEL_ASSIGN_OR_RETURN(int64_t existing, shop.catalog().Count());
  if (existing > 0) return 0;
  static const char* kCategories[] = {"electronics", "books",  "kitchen", "toys",    "garden",
                                      "sports",      "beauty", "office",  "fashion", "grocery"};
  static const char* kBrands[] = {"Acme",  "Globex",   "Initech", "Umbrella", "Stark",     "Wayne",
                                  "Hooli", "Vandelay", "Soylent", "Tyrell",   "Cyberdyne", "Wonka"};
  static const char* kAdjectives[] = {"Classic",   "Compact",  "Deluxe",  "Eco",
                                      "Ergonomic", "Portable", "Premium", "Rugged",
                                      "Smart",     "Wireless", "Vintage", "Ultra"};
  static const char* kNouns[] = {"Headphones", "Kettle",   "Novel",    "Blender",  "Drone",
                                 "Backpack",   "Lamp",     "Notebook", "Sneakers", "Speaker",
                                 "Camera",     "Jacket",   "Puzzle",   "Shovel",   "Tent",
                                 "Watch",      "Keyboard", "Mug",      "Serum",    "Coffee"};
  static const char* kColors[] = {"black", "white", "red", "blue", "green", "silver"};
  auto seller = shop.users().Register("demo-seller@keel.test", NewRandomUuid(), Role::kSeller);
  std::string seller_id;
  if (seller.ok()) {
    seller_id = seller->id;
  } else {
    seller_id = "demo-seller";
  }
  std::mt19937_64 rng(seed);
  auto pick = [&](auto& arr) { return arr[rng() % (sizeof(arr) / sizeof(arr[0]))]; };
  int64_t made = 0;
  const int kBatch = 2000;
  for (int start = 0; start < count; start += kBatch) {
    std::vector<Item> items;
    std::vector<Inventory::RestockLine> stock;
    for (int i = start; i < std::min(count, start + kBatch); ++i) {
      Item it;
      it.id = "item-" + std::to_string(i + 1);
      it.seller_id = seller_id;
      std::string adj = pick(kAdjectives), noun = pick(kNouns), color = pick(kColors);
      it.brand = pick(kBrands);
      it.category = pick(kCategories);
      it.name = adj + " " + color + " " + noun + " " + std::to_string(i % 97 + 1);
      it.description = "A " + adj + " " + noun + " by " + it.brand + " in " + color +
                       ", for everyday " + it.category + " needs.";
      it.price = static_cast<int64_t>(199 + rng() % 49800);
      it.currency = "USD";
      it.attributes = std::string("{\"color\":\"") + color + "\"}";
      stock.push_back({it.id, static_cast<int64_t>(rng() % 200), "initial:" + it.id});
      items.push_back(std::move(it));
    }
    KEEL_RETURN_IF_ERROR(shop.inventory().RestockMany(stock));
    KEEL_RETURN_IF_ERROR(shop.catalog().CreateMany(std::move(items)));
    made += static_cast<int64_t>(stock.size());
  }
  return made;
}

}  // namespace keel::commerce
