#pragma once
// The storefront endpoints of SPEC section 4 (auth, catalog, search, cart, wishlist,
// orders, recommendations) on a Router, over a commerce::Shop. Checkout and the
// order signals (cancel, return) come with the checkout saga.
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
#include "http/idempotency.h"
#include "http/rate_limiter.h"
#include "http/router.h"

namespace keel::http {

struct StorefrontOptions {
  double write_rate = 100, write_burst = 200;  // mutating requests per client per second
  double auth_rate = 5, auth_burst = 20;       // register/login per client IP per second
  double read_rate = 0, read_burst = 0;        // 0: unlimited
};

class StorefrontApi {
 public:
  StorefrontApi(commerce::Shop* shop, StorefrontOptions options = {});
  void AddRoutes(Router& router);

 private:
  struct Caller;
  Response WithIdempotency(const ApiRequest& req, const std::string& scope,
                           const std::function<Response()>& run);
  Result<commerce::Principal> Authenticate(const ApiRequest& req) const;

  commerce::Shop* shop_;
  StorefrontOptions opts_;
  RateLimiter writes_, auth_, reads_;
  IdempotencyKeys idempotency_;
};

// The JSON form of an item, with its available stock.
json::object ItemJson(const commerce::Item& item, int64_t available);

}  // namespace keel::http
