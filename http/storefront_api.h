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
// - Rate limits: every request passes the router's gate (http/request_limits.h);
//   register and login are limited per client address on top, and failed logins
//   back off per account. 429 with Retry-After.
// - Password hashing (register, login) runs on a small pool, never on an I/O thread.
// - ?wait= parks the request on Waiters (http/waiters.h): no thread is held.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "commerce/shop.h"
#include "engine/history_service.h"
#include "http/admission.h"
#include "http/idempotency.h"
#include "http/rate_limiter.h"
#include "http/router.h"
#include "http/waiters.h"
#include "http/work_pool.h"

namespace keel::http {

struct StorefrontOptions {
  RateLimit auth_per_address{5, 20};  // register and login, per client address
  LoginBackoff::Options login_backoff;
  int hash_threads = 2;     // password hashing
  size_t hash_queue = 256;  // hashing jobs waiting; more: 503 busy
  // The engine API's admin token, for the operators' order routes (/v1/orders); "":
  // those routes answer 403, as the rest of /v1 does.
  std::string admin_token;
};

struct CheckoutConfig {
  HistoryService* history = nullptr;  // null: no checkout routes
  Waiters* waiters = nullptr;         // where ?wait= parks; required with `history`
  std::string payments_webhook_secret, carrier_webhook_secret;
  Millis payment_window_ms = 15 * 60 * 1000;
  // How long an order may wait on 3-D Secure; 0: the whole payment window.
  Millis action_window_ms = 0;
  Millis return_window_ms = 30LL * 24 * 3600 * 1000;
  int max_wait_s = 60;  // the cap on ?wait=
  // Per buyer: units held by unpaid orders, and unpaid orders (0: no cap).
  int64_t max_held_units_per_buyer = 100;
  int64_t max_pending_orders_per_buyer = 5;
  // A signed-in buyer's cart left alone this long gets one reminder (cart_reminder);
  // 0: none.
  Millis cart_reminder_after_ms = 24LL * 3600 * 1000;
  // The admission gate of hot SKUs (admission.h).
  AdmissionOptions admission;
};

class StorefrontApi {
 public:
  StorefrontApi(commerce::Shop* shop, StorefrontOptions options = {}, CheckoutConfig checkout = {});
  ~StorefrontApi();
  void AddRoutes(Router& router);
  // Retention, run on a schedule: idempotency keys older than 24 h, guest carts
  // untouched and restock ids recorded `guest_cart_idle_ms` ago, and outbox events
  // older than Outbox::kRetentionMs go (counted in keel_pruned_total).
  Status Prune(Millis guest_cart_idle_ms);

 private:
  struct Caller;
  void AddCheckoutRoutes(Router& router);  // checkout_api.cc
  // Claims `cart_id` for `order_id` unless another checkout of it still runs, and
  // gives the claim back.
  Status ClaimCart(const std::string& cart_id, const std::string& order_id);
  Status EnsureClaimSchema();  // the claims' table, made once per process
  void UnclaimCart(const std::string& cart_id, const std::string& order_id);
  // Checks the request, claims the cart, reads it, starts the saga: 202, or why not.
  Response StartCheckout(const ApiRequest& req, const commerce::Principal& p,
                         const std::string& key);
  // The order's state once it leaves pending_payment (or the checkout ends without
  // one), or its state when `wait_s` runs out.
  Reply WaitForCheckout(const std::string& owner, const std::string& order_id, int64_t wait_s);
  Reply WaitForChange(const std::string& owner, const std::string& order_id,
                      const std::string& from, int64_t wait_s);
  // The order JSON of a checkout with no order row: one its saga has not made yet
  // (pending_payment), or one rejected by a saga recorded before orders came first.
  // not_found unless the checkout exists and is `p`'s (any, for an admin; p null: any).
  Result<json::object> CheckoutWithoutOrder(const std::string& order_id,
                                            const commerce::Principal* p);
  Response WithIdempotency(const ApiRequest& req, const std::string& scope,
                           const std::function<Response()>& run);
  Result<commerce::Principal> Authenticate(const ApiRequest& req) const;
  void AddAuthRoutes(Router& router);
  // Search, completions, reviews, synonyms, sellers' lists (discovery_api.cc).
  void AddDiscoveryRoutes(Router& router);
  // Promotions, the cart's promotion code, and tax and shipping (cart_rules_api.cc).
  void AddCartRuleRoutes(Router& router);
  // Who makes a promotion: (seller id, "" for the whole shop; who, for the record).
  Result<std::pair<std::string, std::string>> PromotionOwner(const ApiRequest& req) const;
  struct CallerCart {
    std::string cart_id;
    std::string user_id;  // "" for a guest cart
  };
  // The caller's cart: the user's own with a token, else the guest cart in X-Cart-Id
  // (the token is checked once, here).
  Result<CallerCart> CartOf(const ApiRequest& req);
  // Where the cart's tax is computed for: ?shippingAddressId= (a saved address of
  // `cart`'s user), or ?country=&region=, or nowhere (no tax).
  Result<commerce::Destination> CartDestination(const ApiRequest& req,
                                                const CallerCart& cart) const;
  // 200 and the cart, totalled for CartDestination.
  Reply CartReply(const ApiRequest& req, const CallerCart& cart);
  // A cart changed: for a signed-in buyer's, makes sure its cart_reminder runs
  // (started at most once a minute per cart from this process; a running one is left
  // alone). Guest carts are nobody's to remind.
  void CartChanged(const CallerCart& cart);
  // The hot SKUs (Inventory::HotSkus), reread at most once a second.
  std::map<std::string, int64_t> HotSkus();
  // Whether `buyer` may check out `cart`'s hot SKUs now; the 429 to answer if not.
  std::optional<Response> Admit(const std::string& buyer, const commerce::CartView& cart);

  commerce::Shop* shop_;
  StorefrontOptions opts_;
  CheckoutConfig checkout_;
  RateLimiter auth_;
  LoginBackoff logins_;
  IdempotencyKeys idempotency_;
  WorkPool hashing_;
  std::atomic<bool> claim_schema_ready_{false};
  AdmissionGate admission_;
  std::mutex hot_mu_;
  std::map<std::string, int64_t> hot_;
  Millis hot_read_at_ = -1'000'000;
  std::mutex reminders_mu_;
  std::unordered_map<std::string, Millis> reminders_started_;  // cart -> when
};

// The destination of a checked address (its country and region).
commerce::Destination DestinationOf(const json::object& address);
// The JSON form of a cart: lines, totals and the promotion code applied.
json::object CartJson(const commerce::CartView& c);
// The JSON form of an item, with its available stock.
json::object ItemJson(const commerce::Item& item, int64_t available);
// A mean rating to one decimal, or null without reviews.
json::value RatingJson(int64_t rating_x100, int64_t review_count);

}  // namespace keel::http
