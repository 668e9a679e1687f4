#include "tests/fuzz/shop_harness.h"

#include <spdlog/spdlog.h>

#include <future>

#include "persistence/open_store.h"
#include "workflows/commerce_workflows.h"

namespace keel::fuzz {

ShopHarness& ShopHarness::Get() {
  static ShopHarness* h = [] {
    spdlog::set_level(spdlog::level::off);
    auto* s = new ShopHarness();
    s->dir = std::make_unique<TempDir>(TempDir::Create("keel-fuzz").value());
    const std::string url = "sqlite:" + s->dir->path();
    s->store = persistence::OpenStore(url, {}).value();
    s->shop = commerce::Shop::Open(url, SystemClock::Default()).value();
    workflows::RegisterCommerceWorkflows(s->registry);
    s->engine = MakeClientEngine(s->store.get(), &s->registry);
    s->waiters = std::make_unique<http::Waiters>(http::WaitersOptions{
        .max_total = 8, .max_per_owner = 8, .first_poll_ms = 1, .max_poll_ms = 1});
    http::StorefrontOptions so;
    so.auth_per_address = {0, 0};
    http::CheckoutConfig cc;
    cc.history = &s->engine->history();
    cc.waiters = s->waiters.get();
    cc.max_wait_s = 0;  // no parked waits: every reply comes at once
    cc.payments_webhook_secret = cc.carrier_webhook_secret = "whsec_fuzz";
    s->storefront = std::make_unique<http::StorefrontApi>(s->shop.get(), so, cc);
    s->storefront->AddRoutes(s->router);
    http::EngineApiOptions eo;
    eo.history = &s->engine->history();
    eo.store = s->store.get();
    eo.registry = &s->registry;
    eo.admin_token = s->admin_token;
    eo.max_wait_s = 0;
    s->engine_api = std::make_unique<http::EngineApi>(eo);
    s->engine_api->AddRoutes(s->router);
    auto& users = s->shop->users();
    auto buyer = users.Register("buyer@fuzz.test", "fuzz password", commerce::Role::kBuyer);
    auto seller = users.Register("seller@fuzz.test", "fuzz password", commerce::Role::kSeller);
    s->buyer_token = users.IssueToken(buyer.value());
    s->seller_token = users.IssueToken(seller.value());
    commerce::Item item;
    item.id = "item-1";
    item.seller_id = seller->id;
    item.name = "Fuzz lamp";
    item.price = 1000;
    item.currency = "USD";
    item.category = "home";
    (void)s->shop->CreateItem(item, 1000);
    s->item_id = item.id;
    return s;
  }();
  return *h;
}

http::Response ShopHarness::Handle(const http::Request& req) {
  http::RequestInfo info{"127.0.0.1", "fuzz"};
  http::Reply reply = router.Handle(req, info);
  if (auto* r = std::get_if<http::Response>(&reply)) return std::move(*r);
  auto p = std::make_shared<std::promise<http::Response>>();
  auto f = p->get_future();
  std::get<http::Deferred>(reply).start([p](http::Response r) { p->set_value(std::move(r)); });
  return f.get();
}

}  // namespace keel::fuzz
