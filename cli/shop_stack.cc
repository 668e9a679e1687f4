#include "cli/shop_stack.h"

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "persistence/open_store.h"

namespace keel::cli {

Result<std::unique_ptr<http::HttpServer>> ServeRouter(const std::string& host_port,
                                                      http::Router* router, int threads) {
  KEEL_ASSIGN_OR_RETURN(auto hp, http::ParseHostPort(host_port));
  http::ServerOptions ho;
  ho.host = hp.first;
  ho.port = hp.second;
  ho.threads = threads;
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
    po.faults = o.payment_faults;
    KEEL_ASSIGN_OR_RETURN(payments_, sims::PaymentsSim::Open(std::move(ledger), clock, po));
    payments_->AddRoutes(payments_router_);
    KEEL_ASSIGN_OR_RETURN(payments_server_, ServeRouter(o.payments_http, &payments_router_, 4));
    payments_->Start();
    deps_.payments_url = UrlOf(o.payments_http, *payments_server_);
  }
  if (o.carrier_url.empty()) {
    KEEL_ASSIGN_OR_RETURN(auto ledger,
                          persistence::OpenSqlDatabase("sqlite:" + dir, "carrier_sim", {}));
    sims::CarrierSimOptions co;
    co.webhook_secret = o.webhook_secret;
    co.faults.speed = o.carrier_speed;
    KEEL_ASSIGN_OR_RETURN(carrier_, sims::CarrierSim::Open(std::move(ledger), clock, co));
    carrier_->AddRoutes(carrier_router_);
    KEEL_ASSIGN_OR_RETURN(carrier_server_, ServeRouter(o.carrier_http, &carrier_router_, 2));
    carrier_->Start();
    deps_.carrier_url = UrlOf(o.carrier_http, *carrier_server_);
  }
  return Status::Ok();
}

Status ShopStack::StartApi(const ShopStackOptions& o) {
  if (const char* pw = std::getenv("KEEL_ADMIN_PASSWORD"); pw && *pw) {
    KEEL_RETURN_IF_ERROR(shop_->users().EnsureAdmin("admin@keel.local", pw));
  }
  if (o.seed_demo > 0) {
    KEEL_ASSIGN_OR_RETURN(int64_t seeded, commerce::SeedDemoCatalog(*shop_, o.seed_demo));
    if (seeded > 0) spdlog::info("seeded a demo catalog of {} items", seeded);
  }
  http::CheckoutConfig cc;
  cc.history = &engine_->history();
  cc.payment_window_ms = o.payment_window_ms;
  cc.payments_webhook_secret = payments_ ? payments_->webhook_secret() : o.webhook_secret;
  cc.carrier_webhook_secret = carrier_ ? carrier_->webhook_secret() : o.webhook_secret;
  storefront_ = std::make_unique<http::StorefrontApi>(shop_.get(), http::StorefrontOptions{}, cc);
  storefront_->AddRoutes(router_);
  http::EngineApiOptions eo;
  eo.history = &engine_->history();
  eo.store = store_.get();
  eo.registry = &registry_;
  eo.admin_token = o.admin_token;
  engine_api_ = std::make_unique<http::EngineApi>(eo);
  engine_api_->AddRoutes(router_);
  commerce::Shop* shop = shop_.get();
  router_.Add(http::bhttp::verb::get, "/healthz", [](const http::ApiRequest&) {
    return http::JsonResponse(200, json::object{{"status", "ok"}});
  });
  router_.Add(http::bhttp::verb::get, "/readyz", [shop](const http::ApiRequest&) {
    auto n = shop->catalog().Count();
    if (!n.ok()) return http::StatusResponse(n.status());
    return http::JsonResponse(200, json::object{{"status", "ready"}});
  });
  KEEL_ASSIGN_OR_RETURN(server_, ServeRouter(o.http, &router_, o.http_threads));
  api_url_ = UrlOf(o.http, *server_);
  shop_->StartBackground();
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
