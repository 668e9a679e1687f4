#pragma once
// Promotions ("promotions" database): codes that take money off a cart, and what
// each order redeemed. A seller's promotion discounts only that seller's lines; an
// operator's (seller_id "") the whole cart.
//
// A redemption belongs to one order. The checkout saga reserves it (Reserve) before
// it holds stock, and its compensation gives it back (Release). A reserved
// redemption counts against max_redemptions and per_buyer_limit at once, and stays
// counted unless released, so a paid order keeps it (a later cancel or return too).
// Reserve checks both limits in the transaction that inserts the redemption, with the
// promotion's row locked: no race, retry or crash can pass a limit.

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct Promotion {
  std::string code;                   // 3-32 of A-Z 0-9 - _, kept upper case; matched in any case
  std::string seller_id;              // "": the whole shop
  int64_t percent_off = 0;            // 1-100, or
  int64_t amount_off = 0;             // minor units of `currency`
  std::string currency;               // of amount_off and min_subtotal ("" for a percentage
                                      // with no minimum: any currency)
  int64_t min_subtotal = 0;           // of the lines it applies to
  Millis starts_at = 0, ends_at = 0;  // ends_at 0: never
  int64_t max_redemptions = 0, per_buyer_limit = 0;  // 0: no limit
  int64_t redeemed = 0;                              // redemptions counted now
  std::string created_by;
  Millis created_at = 0;
};

struct Redemption {
  std::string order_id, code, buyer_id, state;  // state: redeemed | released
  int64_t amount = 0;
  Millis created_at = 0;
};

// The part of a cart a promotion may apply to: a line's seller and amount.
struct PricedLine {
  std::string seller_id;
  int64_t amount = 0;  // quantity * unit price
};

// What a promotion takes off a cart: `amount` (minor units, never more than the lines
// it applies to; a percentage is rounded down), or 0 and `why_not`: not_started,
// ended, exhausted, min_subtotal, no_eligible_items or currency_mismatch.
struct Discount {
  int64_t amount = 0;
  std::string why_not;
};
Discount DiscountFor(const Promotion& p, const std::vector<PricedLine>& lines,
                     const std::string& currency, Millis now);

class Promotions {
 public:
  static Result<std::unique_ptr<Promotions>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                                  Clock* clock);
  // Checks and normalises `p` (validation_failed naming the field); promo_exists when
  // the code is taken.
  Result<Promotion> Create(Promotion p);
  // promo_not_found.
  Result<Promotion> Get(const std::string& code);
  // A seller's promotions, or all of them for seller_id "*"; newest first, at most
  // `limit`.
  Result<std::vector<Promotion>> List(const std::string& seller_id, int64_t limit = 1000);
  // How many counted redemptions `buyer_id` has of `code`.
  Result<int64_t> RedeemedBy(const std::string& code, const std::string& buyer_id);

  // Reserves `code` for `order_id`, taking `amount` off. Idempotent per order.
  // promo_not_found; promo_unavailable (not started or ended at `now`); promo_exhausted
  // (max_redemptions reached); promo_buyer_limit (per_buyer_limit reached).
  Status Reserve(const std::string& order_id, const std::string& code, const std::string& buyer_id,
                 int64_t amount);
  // Gives `order_id`'s redemption back; ok when it has none or gave it back already.
  Status Release(const std::string& order_id);
  // Every redemption (audits).
  Result<std::vector<Redemption>> Redemptions();

 private:
  Promotions(std::unique_ptr<persistence::SqlDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}
  std::unique_ptr<persistence::SqlDatabase> db_;
  Clock* clock_;
};

}  // namespace keel::commerce
