#pragma once
// The storefront endpoints of SPEC section 4 (auth, catalog, search, cart, wishlist,
// orders, recommendations) on a Router, over a commerce::Shop; with a CheckoutConfig,
// also checkout, order cancel and return, the gateway's and the carrier's webhooks,
// and notifications (http/checkout_api.cc), which start and signal the workflows of
// workflows/commerce_workflows.h.
//
// Cross-cutting rules, applied here once:
// - Authorization: Bearer <token>; 401 without a valid one, 403 for the wrong role;
//   another buyer's order is 404 (its existence is not revealed).
// - Idempotency-Key on a mutating POST: the first response (other than a 5xx) is
//   stored and replayed for the same key and body; the same key with another body is
//   400 idempotency_error; a key whose request is still running is 409
//   idempotency_key_in_use. Keys are scoped to the caller and kept 24 h.
// - Rate limits per client: 429 rate_limited.

#include <memory>

#include "commerce/shop.h"
#include "engine/history_service.h"
#include "http/idempotency.h"
#include "http/rate_limiter.h"
#include "http/router.h"

namespace keel::http {

struct StorefrontOptions {
  double write_rate = 100, write_burst = 200;  // mutating requests per client per second
  double auth_rate = 5, auth_burst = 20;       // register/login per client IP per second
  double read_rate = 0, read_burst = 0;        // 0: unlimited
};

struct CheckoutConfig {
  HistoryService* history = nullptr;  // null: no checkout routes
  std::string payments_webhook_secret, carrier_webhook_secret;
  Millis payment_window_ms = 15 * 60 * 1000;
  Millis return_window_ms = 30LL * 24 * 3600 * 1000;
  int max_wait_s = 60;  // the cap on ?wait=
};

class StorefrontApi {
 public:
  StorefrontApi(commerce::Shop* shop, StorefrontOptions options = {}, CheckoutConfig checkout = {});
  void AddRoutes(Router& router);

 private:
  struct Caller;
  void AddCheckoutRoutes(Router& router);  // checkout_api.cc
  // Claims `cart_id` for `order_id` unless another checkout of it still runs.
  Status ClaimCart(const std::string& cart_id, const std::string& order_id);
  // The order's state once it leaves pending_payment (or the checkout ends without
  // one), or its state when `wait_s` runs out.
  Response WaitForCheckout(const std::string& order_id, int64_t wait_s);
  Response WaitForChange(const std::string& order_id, const std::string& from, int64_t wait_s);
  Response WithIdempotency(const ApiRequest& req, const std::string& scope,
                           const std::function<Response()>& run);
  Result<commerce::Principal> Authenticate(const ApiRequest& req) const;

  commerce::Shop* shop_;
  StorefrontOptions opts_;
  CheckoutConfig checkout_;
  RateLimiter writes_, auth_, reads_;
  IdempotencyKeys idempotency_;
};

// The JSON form of an item, with its available stock.
json::object ItemJson(const commerce::Item& item, int64_t available);

}  // namespace keel::http
