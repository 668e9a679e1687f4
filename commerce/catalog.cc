#include "commerce/catalog.h"

#include <map>

#include "commerce/validation.h"
#include "common/json.h"

namespace keel::commerce {
namespace {

using persistence::SqlDatabase;
using persistence::SqlRow;
using persistence::SqlRows;
using persistence::SqlTxn;

std::vector<std::string> Migrations(bool postgres) {
  std::string serial = postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
  return {
      "CREATE TABLE items(id TEXT PRIMARY KEY, seller_id TEXT NOT NULL, name TEXT NOT NULL, "
      "description TEXT NOT NULL, price BIGINT NOT NULL CHECK (price >= 0), currency TEXT NOT "
      "NULL, category TEXT NOT NULL, brand TEXT NOT NULL, attributes TEXT NOT NULL, status TEXT "
      "NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
      "CREATE INDEX items_by_seller ON items(seller_id);"
      "CREATE TABLE outbox(seq " +
          serial +
          ", item_id TEXT NOT NULL, version BIGINT NOT NULL, kind TEXT NOT NULL, created_at "
          "BIGINT NOT NULL);",
      // Reviews, and each item's rating kept beside it.
      "ALTER TABLE items ADD COLUMN rating_sum BIGINT NOT NULL DEFAULT 0;"
      "ALTER TABLE items ADD COLUMN review_count BIGINT NOT NULL DEFAULT 0;"
      "CREATE TABLE reviews(item_id TEXT NOT NULL, buyer_id TEXT NOT NULL, rating BIGINT NOT "
      "NULL CHECK (rating BETWEEN 1 AND 5), title TEXT NOT NULL, body TEXT NOT NULL, created_at "
      "BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY(item_id, buyer_id));"
      "CREATE INDEX reviews_newest ON reviews(item_id, created_at DESC, buyer_id DESC);"
      "CREATE INDEX items_by_seller_id ON items(seller_id, id);",
      // Many readers, each with its own cursor.
      Outbox::kConsumersTable,
      Outbox::kAddQuantity,
  };
}

constexpr const char* kCols =
    "id, seller_id, name, description, price, currency, category, brand, attributes, status, "
    "version, created_at, updated_at, rating_sum, review_count";

Item ReadItem(const SqlRow& r) {
  Item i;
  i.id = r.Text(0);
  i.seller_id = r.Text(1);
  i.name = r.Text(2);
  i.description = r.Text(3);
  i.price = r.Int(4);
  i.currency = r.Text(5);
  i.category = r.Text(6);
  i.brand = r.Text(7);
  i.attributes = r.Text(8);
  i.status = r.Text(9);
  i.version = r.Int(10);
  i.created_at = r.Int(11);
  i.updated_at = r.Int(12);
  i.rating_sum = r.Int(13);
  i.review_count = r.Int(14);
  return i;
}

}  // namespace

Result<std::unique_ptr<Catalog>> Catalog::Open(std::unique_ptr<SqlDatabase> db, Clock* clock) {
  KEEL_RETURN_IF_ERROR(db->Migrate(Migrations(db->postgres())));
  return std::unique_ptr<Catalog>(new Catalog(std::move(db), clock));
}

Status Catalog::Validate(const Item& item) {
  KEEL_RETURN_IF_ERROR(CheckText("name", item.name, 1, 200));
  KEEL_RETURN_IF_ERROR(CheckText("description", item.description, 0, 5000));
  KEEL_RETURN_IF_ERROR(CheckRange("price", item.price, 0, kMaxPriceMinor));
  KEEL_RETURN_IF_ERROR(CheckCurrency("currency", item.currency));
  KEEL_RETURN_IF_ERROR(CheckText("category", item.category, 1, 100));
  KEEL_RETURN_IF_ERROR(CheckText("brand", item.brand, 0, 100));
  if (item.attributes.size() > kMaxAttributesBytes) {
    return FieldError("attributes", "must be at most 8 KiB of JSON");
  }
  auto attrs = ParseJson(item.attributes);
  if (!attrs.ok() || !attrs->is_object()) return FieldError("attributes", "must be a JSON object");
  if (item.status != "active" && item.status != "inactive") {
    return FieldError("status", "must be active or inactive");
  }
  return Status::Ok();
}

Result<Item> Catalog::Create(Item item) {
  std::vector<Item> one{item};
  KEEL_RETURN_IF_ERROR(CreateMany(one));
  return Get(item.id);
}

Status Catalog::CreateMany(std::vector<Item> items, const std::vector<Review>& reviews) {
  std::map<std::string, Item*> by_id;
  for (auto& item : items) {
    KEEL_RETURN_IF_ERROR(Validate(item));
    item.version = 1;
    item.created_at = item.updated_at = clock_->Now();
    item.rating_sum = item.review_count = 0;
    by_id[item.id] = &item;
  }
  for (const auto& r : reviews) {
    KEEL_RETURN_IF_ERROR(ValidateReview(r));
    auto it = by_id.find(r.item_id);
    if (it == by_id.end()) return FieldError("reviews", "a review of an item not created");
    it->second->rating_sum += r.rating;
    it->second->review_count++;
  }
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    for (const auto& item : items) {
      KEEL_ASSIGN_OR_RETURN(
          int64_t n,
          t.Exec(std::string("INSERT INTO items(") + kCols +
                     ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON "
                     "CONFLICT(id) DO NOTHING",
                 {item.id, item.seller_id, item.name, item.description, item.price, item.currency,
                  item.category, item.brand, item.attributes, item.status, item.version,
                  item.created_at, item.updated_at, item.rating_sum, item.review_count}));
      if (n == 0) return Status::AlreadyExists("item " + item.id + " exists", "item_exists");
      KEEL_RETURN_IF_ERROR(
          Outbox::Append(t, item.id, item.version, "item_created", item.created_at));
    }
    const Millis now = clock_->Now();
    for (const auto& r : reviews) {
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO reviews(item_id, buyer_id, rating, title, body, "
                                  "created_at, updated_at) VALUES($1,$2,$3,$4,$5,$6,$6)",
                                  {r.item_id, r.buyer_id, r.rating, r.title, r.body, now})
                               .status());
    }
    return Status::Ok();
  }));
  NotifyEvents();
  return Status::Ok();
}

Result<int64_t> Catalog::Count() {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT COUNT(*) FROM items"));
  return r.at(0).Int(0);
}

Result<Item> Catalog::Update(const std::string& item_id, const std::string& seller_id,
                             const ItemPatch& patch) {
  Item item;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(
        SqlRows r, t.Query(std::string("SELECT ") + kCols + " FROM items WHERE id=$1", {item_id}));
    if (r.empty()) return Status::NotFound("no item " + item_id, "not_found");
    item = ReadItem(r[0]);
    const int64_t old_price = item.price;
    if (!seller_id.empty() && item.seller_id != seller_id) {
      return Status::FailedPrecondition("only the item's seller may change it", "forbidden");
    }
    if (patch.name) item.name = *patch.name;
    if (patch.description) item.description = *patch.description;
    if (patch.category) item.category = *patch.category;
    if (patch.brand) item.brand = *patch.brand;
    if (patch.attributes) item.attributes = *patch.attributes;
    if (patch.status) item.status = *patch.status;
    if (patch.price) item.price = *patch.price;
    KEEL_RETURN_IF_ERROR(Validate(item));
    int64_t old_version = item.version;
    item.version++;
    item.updated_at = clock_->Now();
    // Conditional on the version read: a concurrent update makes this one retry.
    KEEL_ASSIGN_OR_RETURN(
        int64_t n,
        t.Exec("UPDATE items SET name=$1, description=$2, price=$3, category=$4, brand=$5, "
               "attributes=$6, status=$7, version=$8, updated_at=$9 WHERE id=$10 AND version=$11",
               {item.name, item.description, item.price, item.category, item.brand, item.attributes,
                item.status, item.version, item.updated_at, item.id, old_version}));
    if (n == 0) return Status::Unavailable("the item changed meanwhile", "db_conflict");
    return Outbox::Append(t, item.id, item.version,
                          item.price != old_price ? "price_changed" : "item_updated",
                          item.updated_at);
  }));
  NotifyEvents();
  return item;
}

Result<Item> Catalog::Get(const std::string& item_id) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r, db_->Query(std::string("SELECT ") + kCols + " FROM items WHERE id=$1", {item_id}));
  if (r.empty()) return Status::NotFound("no item " + item_id, "not_found");
  return ReadItem(r[0]);
}

Result<std::vector<Item>> Catalog::ListAll(const std::string& after_id, int limit) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query(std::string("SELECT ") + kCols +
                                                  " FROM items WHERE id>$1 ORDER BY id LIMIT $2",
                                              {after_id, static_cast<int64_t>(limit)}));
  std::vector<Item> out;
  for (const auto& row : r) out.push_back(ReadItem(row));
  return out;
}

Result<std::vector<Item>> Catalog::ListBySeller(const std::string& seller_id,
                                                const std::string& after_id, int limit) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query(std::string("SELECT ") + kCols +
                                                  " FROM items WHERE seller_id=$1 AND id>$2 "
                                                  "ORDER BY id LIMIT $3",
                                              {seller_id, after_id, static_cast<int64_t>(limit)}));
  std::vector<Item> out;
  for (const auto& row : r) out.push_back(ReadItem(row));
  return out;
}

Result<std::vector<Item>> Catalog::GetMany(const std::vector<std::string>& ids) {
  std::vector<Item> out;
  for (const auto& id : ids) {
    auto item = Get(id);
    if (item.ok()) {
      out.push_back(std::move(item).value());
    } else if (item.status().code() != StatusCode::kNotFound) {
      return item.status();
    }
  }
  return out;
}

void Catalog::NotifyEvents() {
  std::lock_guard<std::mutex> l(mu_);
  ++events_written_;
  cv_.notify_all();
}

void Catalog::WaitForEvents(Millis max_wait) {
  std::unique_lock<std::mutex> l(mu_);
  uint64_t seen = events_written_;
  cv_.wait_for(l, std::chrono::milliseconds(max_wait), [&] { return events_written_ != seen; });
}

}  // namespace keel::commerce
