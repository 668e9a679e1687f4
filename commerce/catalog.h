#pragma once
// The catalog service ("catalog" database): items, their reviews, and the
// transactional outbox. Every create or update writes the item and an outbox row in
// one transaction; the search indexer (search_index.h) drains the outbox, so search
// is eventually consistent with the catalog while the catalog itself is the source
// of truth. A review changes its item's rating in the same transaction, so an item's
// rating_sum and review_count always agree with its reviews.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "commerce/outbox.h"
#include "common/clock.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct Item {
  std::string id;
  std::string seller_id;
  std::string name;
  std::string description;
  int64_t price = 0;  // minor units
  std::string currency;
  std::string category;
  std::string brand;
  std::string attributes = "{}";  // a JSON object, as text
  std::string status = "active";  // active | inactive
  int64_t version = 1;
  Millis created_at = 0;
  Millis updated_at = 0;
  int64_t rating_sum = 0;    // of its reviews' ratings (1-5 each)
  int64_t review_count = 0;  // one review per buyer
  // The mean rating in hundredths (450 = 4.5), 0 without reviews.
  int64_t rating_x100() const { return review_count ? rating_sum * 100 / review_count : 0; }
};

// A buyer's review of an item; only buyers with a delivered order of it write one
// (the API checks that with the order service).
struct Review {
  std::string item_id, buyer_id, title, body;
  int64_t rating = 0;  // 1..5
  Millis created_at = 0, updated_at = 0;
};

struct ReviewPage {
  std::vector<Review> reviews;
  std::string next_cursor;  // "" on the last page
};

// Fields a seller may change; unset ones stay.
struct ItemPatch {
  std::optional<std::string> name, description, category, brand, attributes, status;
  std::optional<int64_t> price;
};

class Catalog {
 public:
  static Result<std::unique_ptr<Catalog>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                               Clock* clock);

  // Validates (validation_failed naming the field) and stores a new item; `item.id`
  // must be set by the caller (so stock can be written under it first).
  Result<Item> Create(Item item);
  // Many new items, and reviews of them, in one transaction (seeding); all valid or
  // none stored. The items' ratings are made from `reviews`.
  Status CreateMany(std::vector<Item> items, const std::vector<Review>& reviews = {});
  Result<int64_t> Count();
  // not_found; forbidden when `seller_id` does not own the item (admins pass "").
  Result<Item> Update(const std::string& item_id, const std::string& seller_id,
                      const ItemPatch& patch);
  Result<Item> Get(const std::string& item_id);
  // Items by id, in the order given; unknown ids are left out.
  Result<std::vector<Item>> GetMany(const std::vector<std::string>& ids);
  static Status Validate(const Item& item);
  // Up to `limit` items after item id `after_id`, in id order (a full reindex).
  Result<std::vector<Item>> ListAll(const std::string& after_id, int limit);
  // Up to `limit` of a seller's items after item id `after_id`, in id order.
  Result<std::vector<Item>> ListBySeller(const std::string& seller_id, const std::string& after_id,
                                         int limit);

  // Reviews (commerce/reviews.cc). WriteReview creates the buyer's review of an item
  // (review_exists when there is one) or, with `edit`, replaces it (not_found when
  // there is none); not_found for an unknown item; validation_failed naming the field.
  Result<Review> WriteReview(Review review, bool edit);
  // An item's reviews, `sort` "newest" (default) or "rating" (highest first, then
  // newest); invalid_cursor, validation_failed.
  Result<ReviewPage> ListReviews(const std::string& item_id, const std::string& sort,
                                 const std::string& cursor, int size);
  static Status ValidateReview(const Review& review);

  // Item events (item_created, item_updated, price_changed, item_rated), for their
  // consumers: the search index, and any other (outbox.h).
  Outbox& outbox() { return outbox_; }
  // Blocks until an event may be pending or `max_wait` passes (in-process wake-up;
  // other processes' writes are seen on the next poll).
  void WaitForEvents(Millis max_wait);
  // Wakes every WaitForEvents (after a write, or to stop a waiter).
  void NotifyEvents();

 private:
  Catalog(std::unique_ptr<persistence::SqlDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock), outbox_(db_.get()) {}

  std::unique_ptr<persistence::SqlDatabase> db_;
  Clock* clock_;
  Outbox outbox_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t events_written_ = 0;
};

}  // namespace keel::commerce
