#pragma once
// The order service ("orders" database): orders with their lines, the status history
// of every transition, and "bought together" counts. A transition is one conditional
// UPDATE (WHERE status = from) checked against the state machine in order_state.h; a
// transition to confirmed bumps the bought-together pairs in the same transaction,
// so each confirmed order counts exactly once.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct OrderLine {
  std::string item_id;
  int64_t quantity = 0;
  int64_t unit_price = 0;
  std::string seller_id;  // "" on orders made before lines named their seller
};

struct OrderEvent {
  std::string from, to, reason;
  Millis at = 0;
};

struct Order {
  std::string order_id, buyer_id, status, currency, cart_id, idempotency_key, workflow_id;
  std::string reason;                   // why it is in its status: the last transition's reason
  std::string shipping_address = "{}";  // JSON object
  int64_t subtotal = 0;                 // the lines
  int64_t discount = 0;                 // the promotion's (promo_code), taken off the lines
  int64_t shipping = 0, tax = 0;
  int64_t total = 0;  // subtotal - discount + shipping + tax (AddsUp)
  std::string promo_code;
  std::vector<OrderLine> lines;
  std::vector<OrderEvent> history;
  Millis created_at = 0, updated_at = 0;
};

// total = subtotal - discount + shipping + tax, with 0 <= discount <= subtotal.
bool AddsUp(const Order& o);

struct OrderPage {
  std::vector<Order> orders;  // without lines' history
  std::string next_cursor;
};

class Orders {
 public:
  static Result<std::unique_ptr<Orders>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                              Clock* clock);

  // Creates the order in pending_payment. Idempotent: an order with the same id or the
  // same idempotency key is returned as it is (`*created` says which happened).
  Result<Order> Create(Order order, bool* created = nullptr);
  // Creates the order in rejected, `reason` in its history: a checkout refused before
  // it held anything. Lines and totals that do not add up are left out. Idempotent.
  Result<Order> Reject(Order order, const std::string& reason);
  // illegal_transition (not in the graph, or the order is no longer in `from`); a
  // repeat of a transition already made (status == to) is ok.
  Status Transition(const std::string& order_id, const std::string& from, const std::string& to,
                    const std::string& reason);
  // not_found; with lines and history.
  Result<Order> Get(const std::string& order_id);
  // A buyer's orders, newest first; status "" for all. invalid_cursor, validation_failed.
  Result<OrderPage> List(const std::string& buyer_id, const std::string& status,
                         const std::string& cursor, int size);
  // Order ids after `after_id` in id order, at most `limit`.
  Result<std::vector<std::string>> IdsAfter(const std::string& after_id, int limit);
  // Orders after `after_id` in id order, at most `limit`, with lines and histories, in
  // three queries (audits walk every order).
  Result<std::vector<Order>> ReadPage(const std::string& after_id, int limit);
  // Called after every committed create or transition in this process, with the
  // order id (the API's long-polls listen). nullptr removes it.
  void SetChangeHook(std::function<void(const std::string& order_id)> hook);
  // Orders with a line of `seller_id`'s, newest first, each with only that seller's
  // lines (and no history). invalid_cursor, validation_failed.
  Result<OrderPage> ListForSeller(const std::string& seller_id, const std::string& cursor,
                                  int size);
  // Whether `buyer_id` has an order with `item_id` that was delivered (a verified
  // purchase, for reviews).
  Result<bool> HasDelivered(const std::string& buyer_id, const std::string& item_id);
  // The items of `buyer_id`'s orders that went through (not rejected, failed, expired
  // or cancelled).
  Result<std::vector<std::string>> ItemsBoughtBy(const std::string& buyer_id);
  // Items most often bought with `item_id` in confirmed orders, most first.
  Result<std::vector<std::pair<std::string, int64_t>>> BoughtTogether(const std::string& item_id,
                                                                      int limit);

 private:
  Orders(std::unique_ptr<persistence::SqlDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}
  Result<Order> Insert(Order order, const std::string& status, const std::string& reason,
                       bool* created);
  void Changed(const std::string& order_id);
  // A page of orders matching `where` (on table o, parameters from $1 in `params`),
  // newest first, after `cursor`; `size` checked by the caller.
  Result<OrderPage> Page(const std::string& where, persistence::SqlParams params,
                         const std::string& cursor, int size);
  std::unique_ptr<persistence::SqlDatabase> db_;
  Clock* clock_;
  std::mutex hook_mu_;
  std::function<void(const std::string&)> hook_;
};

}  // namespace keel::commerce
