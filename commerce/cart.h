#pragma once
// Carts and wishlists ("carts" database). A cart line keeps the unit price of the
// moment it was added; reading a cart compares it with the catalog's price now and
// flags price_changed. Raising a line's quantity takes a fresh snapshot (the new
// units are bought at today's price). Adding checks stock softly (nothing is
// reserved: checkout reserves). A guest cart is addressed by its random id (128 bits
// from the CSPRNG: the id is the guest's only credential); on login it merges into
// the user's cart, quantities summed and capped by what is in stock.

#include <memory>
#include <string>
#include <vector>

#include "commerce/catalog.h"
#include "commerce/charges.h"
#include "commerce/inventory.h"
#include "commerce/promotions.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct CartLine {
  std::string item_id, name, currency, seller_id;
  int64_t quantity = 0;
  int64_t unit_price = 0;     // snapshot at add time
  int64_t current_price = 0;  // the catalog's price now
  bool price_changed = false;
  bool available = true;  // item still listed and active
};

// What SetLine did to the line's price snapshot.
struct LineChange {
  bool repriced = false;  // the quantity rose and the price had changed since
  int64_t previous_unit_price = 0, unit_price = 0;
};

struct CartView {
  std::string cart_id;
  std::vector<CartLine> lines;
  int64_t subtotal = 0;  // sum of quantity * unit_price
  int64_t discount = 0;  // the promotion's, when it applies
  int64_t shipping = 0, tax = 0;
  // subtotal - discount + shipping + tax: the amount a checkout must quote
  int64_t total = 0;
  std::string currency;
  std::string promo_code;     // the code applied to the cart, or ""
  std::string promo_why_not;  // why it takes nothing off now (Discount::why_not), or ""
  Destination destination;    // what tax was computed for (country "": none)
  int64_t tax_rate_bp = 0;
};

class Carts {
 public:
  static Result<std::unique_ptr<Carts>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                             Catalog* catalog, Inventory* inventory,
                                             Promotions* promotions, Clock* clock);

  Result<std::string> CreateGuestCart();
  // The user's cart, made on first use.
  Result<std::string> CartOfUser(const std::string& user_id);
  // not_found unless cart_id is a guest cart.
  Status CheckGuestCart(const std::string& cart_id);
  // quantity 0 removes the line. not_found / item_unavailable for an unknown or
  // inactive item, insufficient_stock, currency_mismatch, cart_full.
  Result<LineChange> SetLine(const std::string& cart_id, const std::string& item_id,
                             int64_t quantity);
  // The cart with its totals (charges.h) for shipping to `to`.
  Result<CartView> Get(const std::string& cart_id, const Destination& to = {});
  // Applies `promo` to the cart (replacing one applied before), when it takes
  // something off now; promo_not_applicable names why not (the status message is
  // Discount::why_not).
  Status SetPromo(const std::string& cart_id, const Promotion& promo);
  // Takes the promotion off the cart (ok when there is none).
  Status ClearPromo(const std::string& cart_id);
  // Tax and shipping tables (charges.h).
  ChargeRules& charges() { return charges_; }
  Status Clear(const std::string& cart_id);
  struct OrderedLine {
    std::string item_id;
    int64_t quantity = 0;
  };
  // Takes what order `order_id` bought out of the cart: each line loses the ordered
  // quantity (and goes when none is left); lines added since the checkout stay.
  // Once per order: a repeat (an activity retried after a crash) changes nothing.
  Status RemoveOrdered(const std::string& cart_id, const std::string& order_id,
                       const std::vector<OrderedLine>& lines);
  struct Activity {
    int64_t units = 0;  // in the cart; 0 for a cart that is gone
    Millis updated_at = 0;
  };
  // How much the cart holds and when it last changed (a line, a code, a merge).
  Result<Activity> LastActivity(const std::string& cart_id);
  // Deletes guest carts untouched for `idle_ms`; returns how many.
  Result<int64_t> PruneGuestCarts(Millis idle_ms);
  // Moves the guest cart's lines into the user's cart and deletes the guest cart.
  Result<CartView> Merge(const std::string& guest_cart_id, const std::string& user_id);

  Status AddToWishlist(const std::string& user_id, const std::string& item_id);
  Status RemoveFromWishlist(const std::string& user_id, const std::string& item_id);
  Result<std::vector<std::string>> Wishlist(const std::string& user_id);
  // The users with `item_id` on their wishlist.
  Result<std::vector<std::string>> WishlistedBy(const std::string& item_id);

 private:
  Carts(std::unique_ptr<persistence::SqlDatabase> db, Catalog* catalog, Inventory* inventory,
        Promotions* promotions, Clock* clock)
      : db_(std::move(db)),
        catalog_(catalog),
        inventory_(inventory),
        promotions_(promotions),
        clock_(clock),
        charges_(db_.get(), clock) {}
  // The discount of the cart's promotion, and the charges on what is left.
  Status Price(CartView* v, const Destination& to);
  std::unique_ptr<persistence::SqlDatabase> db_;
  Catalog* catalog_;
  Inventory* inventory_;
  Promotions* promotions_;
  Clock* clock_;
  ChargeRules charges_;
};

}  // namespace keel::commerce
