#pragma once
// The cart snapshot a checkout runs on: the input of checkout_saga, made by the API
// when the buyer checks out and kept in the saga's history for ever. The order the
// saga creates is made from it (orders.create), so its fields are the order's.
// Money is in minor units; times in milliseconds. JSON through common/json_struct.h:
// a field added later must be a std::optional, so recorded snapshots still decode.

#include <boost/describe.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"

namespace keel::commerce {

struct CheckoutLine {
  std::string item_id;
  int64_t quantity = 0;
  int64_t unit_price = 0;
  std::optional<std::string> seller_id;  // the order line's seller
};
BOOST_DESCRIBE_STRUCT(CheckoutLine, (), (item_id, quantity, unit_price, seller_id))

// The buyer's caps while the payment is pending (SPEC section 6).
struct CheckoutBuyerLimits {
  int64_t max_held_units = 0;
  int64_t max_pending_orders = 0;
};
BOOST_DESCRIBE_STRUCT(CheckoutBuyerLimits, (), (max_held_units, max_pending_orders))

struct CheckoutInput {
  std::string order_id, buyer_id, cart_id;
  std::optional<std::string> idempotency_key;  // required to make the order
  std::string currency;
  std::vector<CheckoutLine> lines;
  int64_t subtotal = 0, shipping = 0, tax = 0, total = 0;
  int64_t amount = 0;  // what the client was shown; must equal total
  std::string payment_method;
  std::optional<json::value> shipping_address;  // required to make the order
  int64_t payment_window_ms = 0;
  std::optional<int64_t> action_window_ms;  // 3-D Secure's own limit; absent or 0: none
  int64_t hold_ttl_ms = 0;
  std::optional<int64_t> return_window_ms;
  std::optional<CheckoutBuyerLimits> buyer_limits;
  // The promotion the cart applied, and what it takes off the lines: total =
  // subtotal - discount + shipping + tax. The saga reserves the redemption.
  std::optional<std::string> promo_code;
  std::optional<int64_t> discount;
};
BOOST_DESCRIBE_STRUCT(CheckoutInput, (),
                      (order_id, buyer_id, cart_id, idempotency_key, currency, lines, subtotal,
                       shipping, tax, total, amount, payment_method, shipping_address,
                       payment_window_ms, action_window_ms, hold_ttl_ms, return_window_ms,
                       buyer_limits, promo_code, discount))

}  // namespace keel::commerce
