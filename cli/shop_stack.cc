#include "cli/shop_stack.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "http/web_assets.h"
#include "persistence/open_store.h"

namespace keel::cli {

Result<std::unique_ptr<http::HttpServer>> ServeRouter(const std::string& host_port,
                                                      http::Router* router,
                                                      http::ServerOptions ho) {
  KEEL_ASSIGN_OR_RETURN(auto hp, http::ParseHostPort(host_port));
  ho.host = hp.first;
  ho.port = hp.second;
  auto server = std::make_unique<http::HttpServer>(
      ho, [router](const http::Request& req, const http::RequestInfo& info) {
        return router->Handle(req, info);
      });
  KEEL_RETURN_IF_ERROR(server->Start());
  return server;
}

namespace {
std::string UrlOf(const std::string& host_port, const http::HttpServer& server) {
  return "http://" + http::ParseHostPort(host_port)->first + ":" + std::to_string(server.port());
}
}  // namespace

Status ShopStack::StartSims(const ShopStackOptions& o) {
  std::string dir = o.sim_data;
  if (dir.empty()) dir = o.db.rfind("sqlite:", 0) == 0 ? o.db.substr(7) : "./keel-sim-data";
  Clock* clock = SystemClock::Default();
  if (o.payments_url.empty()) {
    KEEL_ASSIGN_OR_RETURN(auto ledger,
                          persistence::OpenSqlDatabase("sqlite:" + dir, "payments_sim", {}));
    sims::PaymentsSimOptions po;
    po.webhook_secret = o.webhook_secret;
    po.control_token = o.sim_control_token;
    po.faults = o.payment_faults;
    KEEL_ASSIGN_OR_RETURN(payments_, sims::PaymentsSim::Open(std::move(ledger), clock, po));
    payments_->AddRoutes(payments_router_);
    http::ServerOptions so;
    so.threads = 4;
    so.access_log = false;  // the shop's own calls; the shop logs its side
    so.name = "payments";
    KEEL_ASSIGN_OR_RETURN(payments_server_, ServeRouter(o.payments_http, &payments_router_, so));
    payments_->Start();
    deps_.payments_url = UrlOf(o.payments_http, *payments_server_);
  }
  if (o.carrier_url.empty()) {
    KEEL_ASSIGN_OR_RETURN(auto ledger,
                          persistence::OpenSqlDatabase("sqlite:" + dir, "carrier_sim", {}));
    sims::CarrierSimOptions co;
    co.webhook_secret = o.webhook_secret;
    co.control_token = o.sim_control_token;
    co.faults.speed = o.carrier_speed;
    KEEL_ASSIGN_OR_RETURN(carrier_, sims::CarrierSim::Open(std::move(ledger), clock, co));
    carrier_->AddRoutes(carrier_router_);
    http::ServerOptions so;
    so.threads = 2;
    so.access_log = false;
    so.name = "carrier";
    KEEL_ASSIGN_OR_RETURN(carrier_server_, ServeRouter(o.carrier_http, &carrier_router_, so));
    carrier_->Start();
    deps_.carrier_url = UrlOf(o.carrier_http, *carrier_server_);
  }
  return Status::Ok();
}

void ShopStack::PruneLoop(Millis every_ms, Millis guest_cart_idle_ms) {
  std::unique_lock<std::mutex> l(prune_mu_);
  // The first pass a minute after start: a restart loop does not prune on every start.
  auto next = std::chrono::steady_clock::now() +
              std::chrono::milliseconds(std::min<Millis>(every_ms, 60'000));
  while (!prune_cv_.wait_until(l, next, [this] { return stopping_; })) {
    l.unlock();
    if (Status s = storefront_->Prune(guest_cart_idle_ms); !s.ok()) {
      spdlog::warn("retention: {}", s.ToString());
    }
    l.lock();
    next = std::chrono::steady_clock::now() + std::chrono::milliseconds(every_ms);
  }
}

Status ShopStack::StartApi(const ShopStackOptions& o) {
  commerce::Shop* shop = shop_.get();
  if (const char* pw = std::getenv("KEEL_ADMIN_PASSWORD"); pw && *pw) {
    KEEL_RETURN_IF_ERROR(shop_->users().EnsureAdmin("admin@keel.local", pw));
  }
  if (!o.charges_file.empty()) {
    std::ifstream in(o.charges_file);
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = ParseJson(text.str());
    if (!parsed.ok()) {
      return Status::InvalidArgument("--charges " + o.charges_file + ": " +
                                     parsed.status().message());
    }
    auto tables = commerce::ParseChargeTables(*parsed);
    if (!tables.ok()) {
      return Status::InvalidArgument("--charges " + o.charges_file + ": " +
                                     tables.status().message());
    }
    KEEL_RETURN_IF_ERROR(shop_->carts().charges().Set(*tables));
    spdlog::info("charges: {} tax rates and {} shipping rates from {}", tables->tax.size(),
                 tables->shipping.size(), o.charges_file);
  }
  if (o.seed_demo > 0) {
    KEEL_ASSIGN_OR_RETURN(int64_t seeded, commerce::SeedDemoCatalog(*shop_, o.seed_demo));
    if (seeded > 0) spdlog::info("seeded a demo catalog of {} items", seeded);
  }
  waiters_ = std::make_unique<http::Waiters>(o.waits);
  http::CheckoutConfig cc;
  cc.history = &engine_->history();
  cc.waiters = waiters_.get();
  cc.max_wait_s = o.max_wait_s;
  cc.payment_window_ms = o.payment_window_ms;
  cc.action_window_ms = o.action_window_ms;
  cc.cart_reminder_after_ms = o.cart_reminder_after_ms;
  cc.admission = o.admission;
  cc.max_held_units_per_buyer = o.max_held_units_per_buyer;
  cc.max_pending_orders_per_buyer = o.max_pending_orders_per_buyer;
  cc.payments_webhook_secret = payments_ ? payments_->webhook_secret() : o.webhook_secret;
  cc.carrier_webhook_secret = carrier_ ? carrier_->webhook_secret() : o.webhook_secret;
  http::StorefrontOptions fo;
  fo.auth_per_address = o.auth_per_address;
  fo.admin_token = o.admin_token;
  storefront_ = std::make_unique<http::StorefrontApi>(shop_.get(), fo, cc);
  storefront_->AddRoutes(router_);
  http::EngineApiOptions eo;
  eo.history = &engine_->history();
  eo.store = store_.get();
  eo.registry = &registry_;
  eo.admin_token = o.admin_token;
  eo.max_wait_s = o.max_wait_s;
  eo.waiters = waiters_.get();
  engine_api_ = std::make_unique<http::EngineApi>(eo);
  engine_api_->AddRoutes(router_);
  limits_ = std::make_unique<http::RequestLimits>(
      o.limits, SystemClock::Default(), [shop](std::string_view auth) -> std::string {
        if (auth.rfind("Bearer ", 0) != 0) return "";
        auto p = shop->users().Authenticate(auth.substr(7));
        return p.ok() ? p->user_id : "";
      });
  router_.SetGate(limits_->AsGate());
  http::AddWebRoutes(router_);
  router_.Add(http::bhttp::verb::get, "/healthz", [](const http::ApiRequest&) {
    return http::JsonResponse(200, json::object{{"status", "ok"}});
  });
  router_.Add(http::bhttp::verb::get, "/readyz", [shop](const http::ApiRequest&) {
    auto n = shop->catalog().Count();
    if (!n.ok()) return http::StatusResponse(n.status());
    return http::JsonResponse(200, json::object{{"status", "ready"}});
  });
  http::ServerOptions so = o.server;
  so.threads = o.http_threads;
  KEEL_ASSIGN_OR_RETURN(server_, ServeRouter(o.http, &router_, so));
  api_url_ = UrlOf(o.http, *server_);
  shop_->StartBackground();
  pruner_ = std::thread(
      [this, every = o.prune_every_ms, idle = o.guest_cart_idle_ms] { PruneLoop(every, idle); });
  if (payments_) payments_->SetWebhookUrl(api_url_ + "/webhooks/payments");
  if (carrier_) carrier_->SetWebhookUrl(api_url_ + "/webhooks/carrier");
  return Status::Ok();
}

Result<std::unique_ptr<ShopStack>> ShopStack::Start(const ShopStackOptions& o) {
  if (o.serve && (!o.payments_url.empty() || !o.carrier_url.empty()) && o.webhook_secret.empty()) {
    return Status::InvalidArgument(
        "--webhook-secret is required with --payments-url or --carrier-url: the shop must "
        "verify the external simulators' webhooks (start them with the same --webhook-secret)",
        "usage");
  }
  std::unique_ptr<ShopStack> s(new ShopStack());
  KEEL_ASSIGN_OR_RETURN(s->store_, OpenDb(o.db, o.connect_retry_ms));
  commerce::ShopOptions so;
  so.connect_retry_ms = o.connect_retry_ms;
  KEEL_ASSIGN_OR_RETURN(s->shop_, commerce::Shop::Open(o.db, SystemClock::Default(), so));
  s->deps_.shop = s->shop_.get();
  s->deps_.payments_url = o.payments_url.empty() ? kDefaultPaymentsUrl : o.payments_url;
  s->deps_.carrier_url = o.carrier_url.empty() ? kDefaultCarrierUrl : o.carrier_url;
  if (o.serve) KEEL_RETURN_IF_ERROR(s->StartSims(o));
  RegisterAll(s->registry_, o.db, /*run_activities=*/o.demo_effects, &s->deps_);
  s->engine_ = std::make_unique<Engine>(s->store_.get(), &s->registry_, o.engine);
  s->deps_.history = &s->engine_->history();
  s->engine_->Start();
  if (o.serve) {
    Status api = s->StartApi(o);
    if (!api.ok()) {
      s->Stop();
      return api;
    }
  }
  return s;
}

void ShopStack::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> l(prune_mu_);
    stopping_ = true;
  }
  prune_cv_.notify_all();
  if (pruner_.joinable()) pruner_.join();
  if (waiters_) waiters_->Stop();  // parked ?wait= requests answer now
  if (server_) server_->Stop();
  if (shop_) shop_->StopBackground();
  if (engine_) engine_->Stop();
  if (payments_server_) payments_server_->Stop(500);
  if (carrier_server_) carrier_server_->Stop(500);
  if (payments_) payments_->Stop();
  if (carrier_) carrier_->Stop();
}

ShopStack::~ShopStack() { Stop(); }

}  // namespace keel::cli
