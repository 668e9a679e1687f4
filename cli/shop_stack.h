#pragma once
// One process of the shop, assembled: the store, the commerce services, the engine
// with its workers, and (when serving) the embedded simulators and the HTTP API,
// started in the order that lets each find the last. `keel serve`, `keel worker` and
// `keel bench checkout` are this stack with different options.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "activities/commerce_activities.h"
#include "commerce/shop.h"
#include "engine/engine.h"
#include "http/admission.h"
#include "http/engine_api.h"
#include "http/request_limits.h"
#include "http/router.h"
#include "http/server.h"
#include "http/storefront_api.h"
#include "http/waiters.h"
#include "sims/carrier/carrier_sim.h"
#include "sims/payments/payments_sim.h"

namespace keel::cli {

inline constexpr const char* kDefaultPaymentsUrl = "http://127.0.0.1:8081";
inline constexpr const char* kDefaultCarrierUrl = "http://127.0.0.1:8082";

struct ShopStackOptions {
  std::string db = "sqlite:./keel-data";
  Millis connect_retry_ms = 60'000;
  EngineOptions engine;
  // External simulators; "" embeds one when serving (a worker defaults to the
  // embedded ones' ports on this machine).
  std::string payments_url, carrier_url;
  bool serve = false;  // the API and the embedded simulators
  // DemoSaga's activities record their effects (examples/effect_log.h); off: no-ops,
  // as in `keel bench engine`.
  bool demo_effects = true;
  std::string http = "127.0.0.1:8080";
  int http_threads = 16;
  // The API's connection limits and deadlines (host, port and threads come from the
  // fields above), its rate limits, and its long-poll caps.
  http::ServerOptions server;
  http::RequestLimitOptions limits;
  http::RateLimit auth_per_address{5, 20};  // register and login
  http::WaitersOptions waits;
  int max_wait_s = 60;
  int seed_demo = 0;
  std::string charges_file;  // tax and shipping tables applied at start ("": as stored)
  std::string payments_http = "127.0.0.1:8081", carrier_http = "127.0.0.1:8082";
  std::string webhook_secret;  // required with external simulators when serving
  std::string sim_data;        // the embedded simulators' ledgers ("": beside sqlite data)
  Millis payment_window_ms = 15 * 60 * 1000;
  Millis action_window_ms = 0;  // 3-D Secure's own window; 0: the payment window
  Millis cart_reminder_after_ms = 24LL * 3600 * 1000;  // 0: no reminders
  http::AdmissionOptions admission;                    // hot SKUs' gate
  int64_t max_held_units_per_buyer = 100;
  int64_t max_pending_orders_per_buyer = 5;
  Millis guest_cart_idle_ms = 30LL * 24 * 3600 * 1000;
  Millis prune_every_ms = 3600 * 1000;
  sims::PaymentFaults payment_faults;
  double carrier_speed = 1.0;
  // The engine API (/v1) bearer token; "" turns the engine API off.
  std::string admin_token;
  // The embedded simulators' control routes (/v1/sim/*) token; "" turns them off.
  std::string sim_control_token;
};

class ShopStack {
 public:
  static Result<std::unique_ptr<ShopStack>> Start(const ShopStackOptions& options);
  ~ShopStack();
  // API first (drains requests), then workers, then simulators. Safe to call twice.
  void Stop();

  Engine& engine() { return *engine_; }
  commerce::Shop& shop() { return *shop_; }
  const std::string& api_url() const { return api_url_; }  // "" unless serving
  const http::Router& router() const { return router_; }   // the API's routes when serving
  const std::string& payments_url() const { return deps_.payments_url; }
  const std::string& carrier_url() const { return deps_.carrier_url; }

 private:
  ShopStack() = default;
  Status StartSims(const ShopStackOptions& o);
  Status StartApi(const ShopStackOptions& o);
  // Retention on a schedule (idempotency keys, guest carts), until Stop().
  void PruneLoop(Millis every_ms, Millis guest_cart_idle_ms);

  std::unique_ptr<persistence::Store> store_;
  std::unique_ptr<commerce::Shop> shop_;
  activities::CommerceDeps deps_;
  Registry registry_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<sims::PaymentsSim> payments_;
  std::unique_ptr<sims::CarrierSim> carrier_;
  http::Router payments_router_, carrier_router_, router_;
  std::unique_ptr<http::HttpServer> payments_server_, carrier_server_, server_;
  std::unique_ptr<http::Waiters> waiters_;
  std::unique_ptr<http::RequestLimits> limits_;
  std::unique_ptr<http::StorefrontApi> storefront_;
  std::unique_ptr<http::EngineApi> engine_api_;
  std::string api_url_;
  std::mutex prune_mu_;
  std::condition_variable prune_cv_;
  bool stopping_ = false;
  std::thread pruner_;
  bool stopped_ = false;
};

// Serves `router` on HOST:PORT with `options` (its host and port are replaced).
Result<std::unique_ptr<http::HttpServer>> ServeRouter(const std::string& host_port,
                                                      http::Router* router,
                                                      http::ServerOptions options);

}  // namespace keel::cli
