#pragma once
// The shop's whole HTTP route table over real SQLite stores in a temp dir, for the
// fuzz targets: storefront, checkout, webhooks and the engine API, with a buyer's,
// a seller's and the admin's credentials. Built once per process.

#include <memory>
#include <string>

#include "commerce/shop.h"
#include "common/temp_dir.h"
#include "engine/engine.h"
#include "http/engine_api.h"
#include "http/router.h"
#include "http/storefront_api.h"
#include "http/waiters.h"

namespace keel::fuzz {

struct ShopHarness {
  static ShopHarness& Get();

  // Routes `req` and answers a Deferred reply at once (parked waits end now).
  http::Response Handle(const http::Request& req);

  std::unique_ptr<TempDir> dir;
  std::unique_ptr<persistence::Store> store;
  std::unique_ptr<commerce::Shop> shop;
  Registry registry;
  std::unique_ptr<Engine> engine;  // client only: no workers run fuzzed workflows
  std::unique_ptr<http::Waiters> waiters;
  std::unique_ptr<http::StorefrontApi> storefront;
  std::unique_ptr<http::EngineApi> engine_api;
  http::Router router;
  std::string buyer_token, seller_token, admin_token = "fuzz-admin-token", item_id;
};

}  // namespace keel::fuzz
