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
#include "commerce/inventory.h"
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
  int64_t shipping = 0, tax = 0;
  int64_t total = 0;  // subtotal + shipping + tax: the amount a checkout must quote
  std::string currency;
};

// The shop's charges on a subtotal (minor units): shipping is free from 50.00 and
// 4.99 below it; tax is not collected (prices include it). The one place for both.
inline constexpr int64_t kFreeShippingFrom = 5000;
inline constexpr int64_t kShippingFee = 499;
inline int64_t ShippingFor(int64_t subtotal) {
  return subtotal == 0 || subtotal >= kFreeShippingFrom ? 0 : kShippingFee;
}
inline int64_t TaxFor(int64_t /*subtotal*/) { return 0; }

class Carts {
 public:
  static Result<std::unique_ptr<Carts>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                             Catalog* catalog, Inventory* inventory, Clock* clock);

  Result<std::string> CreateGuestCart();
  // The user's cart, made on first use.
  Result<std::string> CartOfUser(const std::string& user_id);
  // not_found unless cart_id is a guest cart.
  Status CheckGuestCart(const std::string& cart_id);
  // quantity 0 removes the line. not_found / item_unavailable for an unknown or
  // inactive item, insufficient_stock, currency_mismatch, cart_full.
  Result<LineChange> SetLine(const std::string& cart_id, const std::string& item_id,
                             int64_t quantity);
  Result<CartView> Get(const std::string& cart_id);
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
        Clock* clock)
      : db_(std::move(db)), catalog_(catalog), inventory_(inventory), clock_(clock) {}
  std::unique_ptr<persistence::SqlDatabase> db_;
  Catalog* catalog_;
  Inventory* inventory_;
  Clock* clock_;
};

}  // namespace keel::commerce
