#include "http/storefront_api.h"

#include <openssl/crypto.h>

#include <cmath>

#include "commerce/order_state.h"
#include "commerce/validation.h"
#include "common/ids.h"
#include "common/metrics.h"
#include "http/api_util.h"

namespace keel::http {
namespace {

using commerce::Principal;
using commerce::Role;
using persistence::SqlRows;
using persistence::SqlTxn;

Status Unauthenticated(const std::string& why) {
  return Status::InvalidArgument(why, "unauthenticated");
}
Status Forbidden(const std::string& why) { return Status::FailedPrecondition(why, "forbidden"); }

Status CheckEmail(const std::string& email) {
  KEEL_RETURN_IF_ERROR(commerce::CheckText("email", email, 3, 254));
  size_t at = email.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= email.size() ||
      email.find('@', at + 1) != std::string::npos || email.find(' ') != std::string::npos) {
    return commerce::FieldError("email", "must be an email address");
  }
  return Status::Ok();
}

}  // namespace

Status CheckAdminToken(const ApiRequest& req, const std::string& token) {
  if (token.empty()) {
    return Status::FailedPrecondition(
        "the engine API is off: start keel serve with --admin-token (or KEEL_ADMIN_TOKEN)",
        "forbidden");
  }
  std::string auth = req.Header("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.rfind(prefix, 0) != 0) {
    return Status::InvalidArgument("Authorization: Bearer <admin token> is required",
                                   "unauthenticated");
  }
  std::string given = auth.substr(prefix.size());
  if (given.size() != token.size() ||
      CRYPTO_memcmp(given.data(), token.data(), token.size()) != 0) {
    return Status::FailedPrecondition("wrong admin token", "forbidden");
  }
  return Status::Ok();
}

Result<int64_t> QueryInt(const ApiRequest& req, const std::string& name, int64_t fallback) {
  std::string v = req.Query(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) return commerce::FieldError(name, "must be an integer");
  return static_cast<int64_t>(n);
}

json::object CartJson(const commerce::CartView& c) {
  json::array lines;
  for (const auto& l : c.lines) {
    lines.push_back(json::object{{"item_id", l.item_id},
                                 {"name", l.name},
                                 {"quantity", l.quantity},
                                 {"unit_price", l.unit_price},
                                 {"current_price", l.current_price},
                                 {"currency", l.currency},
                                 {"price_changed", l.price_changed},
                                 {"available", l.available},
                                 {"line_total", l.quantity * l.unit_price}});
  }
  json::object j{{"cart_id", c.cart_id},   {"lines", lines},
                 {"subtotal", c.subtotal}, {"discount", c.discount},
                 {"shipping", c.shipping}, {"tax", c.tax},
                 {"total", c.total},       {"currency", c.currency},
                 {"promo", nullptr},       {"tax_rate_bp", c.tax_rate_bp},
                 {"destination", nullptr}};
  if (!c.destination.country.empty()) {
    j["destination"] =
        json::object{{"country", c.destination.country}, {"region", c.destination.region}};
  }
  if (!c.promo_code.empty()) {
    j["promo"] = json::object{
        {"code", c.promo_code},
        {"applied", c.promo_why_not.empty()},
        {"why_not", c.promo_why_not.empty() ? json::value(nullptr) : json::value(c.promo_why_not)}};
  }
  return j;
}

json::object OrderJson(const commerce::Order& o, bool detail) {
  json::object j{{"order_id", o.order_id},     {"buyer_id", o.buyer_id},
                 {"status", o.status},         {"reason", o.reason},
                 {"currency", o.currency},     {"subtotal", o.subtotal},
                 {"discount", o.discount},     {"promo_code", o.promo_code},
                 {"shipping", o.shipping},     {"tax", o.tax},
                 {"total", o.total},           {"created_at", o.created_at},
                 {"updated_at", o.updated_at}, {"workflow_id", o.workflow_id}};
  if (detail) {
    json::array lines, history;
    for (const auto& l : o.lines) {
      lines.push_back(json::object{
          {"item_id", l.item_id}, {"quantity", l.quantity}, {"unit_price", l.unit_price}});
    }
    for (const auto& e : o.history) {
      history.push_back(
          json::object{{"from", e.from}, {"to", e.to}, {"reason", e.reason}, {"at", e.at}});
    }
    j["lines"] = lines;
    j["status_history"] = history;
    auto addr = ParseJson(o.shipping_address);
    j["shipping_address"] = addr.ok() ? addr.value() : json::value(json::object{});
  }
  return j;
}

json::value RatingJson(int64_t rating_x100, int64_t review_count) {
  if (review_count == 0) return nullptr;
  return std::round(static_cast<double>(rating_x100) / 10.0) / 10.0;  // one decimal
}

json::object ItemJson(const commerce::Item& item, int64_t available) {
  auto attrs = ParseJson(item.attributes);
  return json::object{{"id", item.id},
                      {"seller_id", item.seller_id},
                      {"name", item.name},
                      {"description", item.description},
                      {"price", item.price},
                      {"currency", item.currency},
                      {"category", item.category},
                      {"brand", item.brand},
                      {"attributes", attrs.ok() ? attrs.value() : json::value(json::object{})},
                      {"status", item.status},
                      {"available", available},
                      {"rating", RatingJson(item.rating_x100(), item.review_count)},
                      {"review_count", item.review_count},
                      {"version", item.version},
                      {"created_at", item.created_at},
                      {"updated_at", item.updated_at}};
}

StorefrontApi::StorefrontApi(commerce::Shop* shop, StorefrontOptions o, CheckoutConfig checkout)
    : shop_(shop),
      opts_(o),
      checkout_(std::move(checkout)),
      auth_(o.auth_per_address, shop->clock()),
      logins_(o.login_backoff, shop->clock()),
      idempotency_(&shop->api_db(), shop->clock()),
      hashing_(o.hash_threads, o.hash_queue),
      admission_(checkout_.admission) {
  if (checkout_.history && checkout_.waiters) {
    // Waits on an order end as soon as this process moves it; other processes'
    // moves are seen by the waiters' poll.
    Waiters* w = checkout_.waiters;
    shop_->orders().SetChangeHook(
        [w](const std::string& order_id) { w->Notify(OrderWaitKey(order_id)); });
  }
}

StorefrontApi::~StorefrontApi() {
  hashing_.Stop();
  if (checkout_.history && checkout_.waiters) shop_->orders().SetChangeHook(nullptr);
}

Result<StorefrontApi::CallerCart> StorefrontApi::CartOf(const ApiRequest& req) {
  if (!req.Header("Authorization").empty()) {
    KEEL_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    KEEL_ASSIGN_OR_RETURN(std::string cart, shop_->carts().CartOfUser(p.user_id));
    return CallerCart{cart, p.user_id};
  }
  std::string guest = req.Header("X-Cart-Id");
  if (guest.empty()) {
    return Unauthenticated("log in, or pass a guest cart id in X-Cart-Id (POST /carts)");
  }
  KEEL_RETURN_IF_ERROR(shop_->carts().CheckGuestCart(guest));
  return CallerCart{guest, ""};
}

Result<Principal> StorefrontApi::Authenticate(const ApiRequest& req) const {
  std::string h = req.Header("Authorization");
  if (h.empty()) return Unauthenticated("this endpoint needs Authorization: Bearer <token>");
  if (h.rfind("Bearer ", 0) != 0) return Unauthenticated("Authorization must be Bearer <token>");
  return shop_->users().Authenticate(h.substr(7));
}

Response StorefrontApi::WithIdempotency(const ApiRequest& req, const std::string& scope,
                                        const std::function<Response()>& run) {
  return idempotency_.Run(scope, req.Header("Idempotency-Key"), req.raw.body(), run);
}

Status StorefrontApi::Prune(Millis guest_cart_idle_ms) {
  Status keys = idempotency_.Prune().status();
  auto carts = shop_->carts().PruneGuestCarts(guest_cart_idle_ms);
  if (carts.ok()) CountPruned("guest_carts", "carts", *carts);
  // Restock ids deduplicate retried restocks; they are kept as long as guest carts.
  auto restocks = shop_->inventory().PruneRestocks(guest_cart_idle_ms);
  if (restocks.ok()) CountPruned("restock_ids", "inventory", *restocks);
  // Outbox events live for their retention window, whoever has read them.
  const Millis before = shop_->clock()->Now() - commerce::Outbox::kRetentionMs;
  auto items = shop_->catalog().outbox().Prune(before);
  if (items.ok()) CountPruned("outbox_events", "catalog", *items);
  auto stock = shop_->inventory().outbox().Prune(before);
  if (stock.ok()) CountPruned("outbox_events", "inventory", *stock);
  for (const Status* s : {static_cast<const Status*>(&keys), &carts.status(), &restocks.status(),
                          &items.status(), &stock.status()}) {
    if (!s->ok()) return *s;
  }
  return Status::Ok();
}

void StorefrontApi::AddAuthRoutes(Router& router) {
  using V = bhttp::verb;
  // Both routes hash a password (argon2id: tens of ms, 64 MiB), so the work runs on
  // the hashing pool; the closures copy what they need from the request.
  router.Add(V::post, "/auth/register", [this](const ApiRequest& req) -> Reply {
    if (Millis wait = auth_.Admit(req.info.client_ip)) {
      return TooManyRequests(wait, "too many sign-ups from this address; slow down");
    }
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(std::string email, StringField(body, "email", true));
    HTTP_ASSIGN(std::string password, StringField(body, "password", true));
    HTTP_ASSIGN(std::string role_name, StringField(body, "role", false));
    HTTP_CHECK(CheckEmail(email));
    HTTP_CHECK(commerce::CheckText("password", password, 8, 128));
    if (role_name.empty()) role_name = "buyer";
    if (role_name != "buyer" && role_name != "seller") {
      return StatusResponse(commerce::FieldError("role", "must be buyer or seller"));
    }
    return hashing_.Offload([this, scope = "ip:" + req.info.client_ip + " register",
                             key = req.Header("Idempotency-Key"), fingerprint = req.raw.body(),
                             email, password, role_name] {
      return idempotency_.Run(scope, key, fingerprint, [&] {
        HTTP_ASSIGN(commerce::User u,
                    shop_->users().Register(email, password, *commerce::ParseRole(role_name)));
        return JsonResponse(201, json::object{{"user_id", u.id},
                                              {"email", u.email},
                                              {"role", std::string(commerce::RoleName(u.role))}});
      });
    });
  });

  router.Add(V::post, "/auth/login", [this](const ApiRequest& req) -> Reply {
    if (Millis wait = auth_.Admit(req.info.client_ip)) {
      return TooManyRequests(wait, "too many sign-ins from this address; slow down");
    }
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(std::string email, StringField(body, "email", true));
    HTTP_ASSIGN(std::string password, StringField(body, "password", true));
    HTTP_CHECK(commerce::CheckText("email", email, 1, 254));
    HTTP_CHECK(commerce::CheckText("password", password, 1, 128));
    std::string account = email;
    for (char& c : account) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (Millis wait = logins_.Wait(account)) {
      return TooManyRequests(wait, "too many failed sign-ins for this account; wait and retry",
                             "login_backoff");
    }
    return hashing_.Offload([this, email, password, account] {
      commerce::User u;
      auto token = shop_->users().Login(email, password, &u);
      if (!token.ok()) {
        if (token.status().reason() == "invalid_credentials") logins_.Failed(account);
        return StatusResponse(token.status());
      }
      logins_.Succeeded(account);
      return JsonResponse(200, json::object{{"token", *token},
                                            {"user_id", u.id},
                                            {"role", std::string(commerce::RoleName(u.role))}});
    });
  });
}

void StorefrontApi::AddRoutes(Router& router) {
  using V = bhttp::verb;

  AddAuthRoutes(router);
  AddDiscoveryRoutes(router);  // first: /items/suggest before /items/{id}

  // ---- catalog -------------------------------------------------------------------
  router.Add(V::post, "/items", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    if (p.role == Role::kBuyer) return StatusResponse(Forbidden("only sellers list items"));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    commerce::Item item;
    item.seller_id = p.user_id;
    HTTP_ASSIGN(item.name, StringField(body, "name", true));
    HTTP_ASSIGN(item.description, StringField(body, "description", false));
    HTTP_ASSIGN(std::optional<int64_t> price, IntField(body, "price", true));
    item.price = *price;
    HTTP_ASSIGN(item.currency, StringField(body, "currency", true));
    HTTP_ASSIGN(item.category, StringField(body, "category", true));
    HTTP_ASSIGN(item.brand, StringField(body, "brand", false));
    HTTP_ASSIGN(std::optional<int64_t> quantity, IntField(body, "quantity", false));
    if (const json::value* a = body.if_contains("attributes"); a && !a->is_null()) {
      if (!a->is_object()) {
        return StatusResponse(commerce::FieldError("attributes", "must be a JSON object"));
      }
      item.attributes = json::serialize(*a);
    }
    int64_t qty = quantity.value_or(0);
    HTTP_CHECK(commerce::CheckRange("quantity", qty, 0, commerce::kMaxQuantity));
    return WithIdempotency(req, p.user_id + " POST /items", [&] {
      item.id = NewTimeOrderedUuid(shop_->clock()->Now());
      HTTP_ASSIGN(commerce::Item made, shop_->CreateItem(item, qty));
      return JsonResponse(201, ItemJson(made, qty));
    });
  });

  router.Add(V::patch, "/items/{id}", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    if (p.role == Role::kBuyer) return StatusResponse(Forbidden("only sellers change items"));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    commerce::ItemPatch patch;
    for (const char* f : {"name", "description", "category", "brand", "status"}) {
      if (body.contains(f)) {
        HTTP_ASSIGN(std::string v, StringField(body, f, true));
        std::string name = f;
        if (name == "name") patch.name = v;
        if (name == "description") patch.description = v;
        if (name == "category") patch.category = v;
        if (name == "brand") patch.brand = v;
        if (name == "status") patch.status = v;
      }
    }
    HTTP_ASSIGN(std::optional<int64_t> price, IntField(body, "price", false));
    patch.price = price;
    HTTP_ASSIGN(std::optional<int64_t> restock, IntField(body, "quantity", false));
    if (restock) HTTP_CHECK(commerce::CheckRange("quantity", *restock, 1, commerce::kMaxQuantity));
    if (const json::value* a = body.if_contains("attributes")) {
      if (!a->is_object()) {
        return StatusResponse(commerce::FieldError("attributes", "must be a JSON object"));
      }
      patch.attributes = json::serialize(*a);
    }
    if (body.contains("currency")) {
      return StatusResponse(commerce::FieldError("currency", "cannot change after listing"));
    }
    const std::string id = req.path.at("id");
    const std::string owner = p.role == Role::kAdmin ? "" : p.user_id;
    // Check ownership before any stock moves.
    HTTP_ASSIGN(commerce::Item current, shop_->catalog().Get(id));
    if (!owner.empty() && current.seller_id != owner) {
      return StatusResponse(Forbidden("only the item's seller may change it"));
    }
    std::string restock_id = req.Header("Idempotency-Key");
    restock_id = "restock:" + id + ":" + (restock_id.empty() ? NewRandomUuid() : restock_id);
    commerce::Item item = current;
    if (patch.name || patch.description || patch.category || patch.brand || patch.status ||
        patch.price || patch.attributes) {
      HTTP_ASSIGN(item, shop_->catalog().Update(id, owner, patch));
    }
    if (restock) HTTP_CHECK(shop_->inventory().Restock(id, *restock, restock_id));
    HTTP_ASSIGN(commerce::StockLevel level, shop_->inventory().Level(id));
    return JsonResponse(200, ItemJson(item, level.available));
  });

  router.Add(V::get, "/items/{id}", [this](const ApiRequest& req) {
    HTTP_ASSIGN(commerce::Item item, shop_->catalog().Get(req.path.at("id")));
    HTTP_ASSIGN(commerce::StockLevel level, shop_->inventory().Level(item.id));
    // The view is recorded off this path (commerce/signals.h), with the buyer when
    // signed in; a bad token does not stop a public page.
    std::string viewer;
    if (!req.Header("Authorization").empty()) {
      if (auto p = Authenticate(req); p.ok() && p->role == Role::kBuyer) viewer = p->user_id;
    }
    shop_->signals().RecordView(viewer, item.id);
    return JsonResponse(200, ItemJson(item, level.available));
  });

  router.Add(V::get, "/items/{id}/recommendations", [this](const ApiRequest& req) {
    const std::string id = req.path.at("id");
    HTTP_CHECK(shop_->catalog().Get(id).status());
    HTTP_ASSIGN(auto pairs, shop_->orders().BoughtTogether(id, 10));
    std::vector<std::string> ids;
    for (const auto& [other, count] : pairs) ids.push_back(other);
    HTTP_ASSIGN(std::vector<commerce::Item> items, shop_->catalog().GetMany(ids));
    json::array out;
    for (const auto& item : items) {
      int64_t count = 0;
      for (const auto& [other, c] : pairs) {
        if (other == item.id) count = c;
      }
      json::object j{{"id", item.id},
                     {"name", item.name},
                     {"price", item.price},
                     {"currency", item.currency},
                     {"bought_together", count}};
      out.push_back(j);
    }
    return JsonResponse(200, json::object{{"item_id", id}, {"items", out}});
  });

  // ---- carts ---------------------------------------------------------------------
  router.Add(V::post, "/carts", [this](const ApiRequest& req) {
    HTTP_ASSIGN(std::string id, shop_->carts().CreateGuestCart());
    return JsonResponse(201, json::object{{"cart_id", id}});
  });

  router.Add(V::get, "/cart", [this](const ApiRequest& req) -> Reply {
    HTTP_ASSIGN(CallerCart cart, CartOf(req));
    return CartReply(req, cart);
  });

  router.Add(V::patch, "/cart", [this](const ApiRequest& req) {
    HTTP_ASSIGN(CallerCart cart, CartOf(req));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(std::string item_id, StringField(body, "itemId", true));
    HTTP_ASSIGN(std::optional<int64_t> quantity, IntField(body, "quantity", true));
    HTTP_ASSIGN(commerce::Destination to, CartDestination(req, cart));
    HTTP_ASSIGN(commerce::LineChange change,
                shop_->carts().SetLine(cart.cart_id, item_id, *quantity));
    CartChanged(cart);
    HTTP_ASSIGN(commerce::CartView v, shop_->carts().Get(cart.cart_id, to));
    json::object j = CartJson(v);
    if (change.repriced) {
      // Raising a quantity buys the new units at today's price: the line's snapshot
      // moved, and the client is told so.
      j["repriced"] = json::array{json::object{{"item_id", item_id},
                                               {"previous_unit_price", change.previous_unit_price},
                                               {"unit_price", change.unit_price}}};
    }
    return JsonResponse(200, j);
  });

  router.Add(V::delete_, "/cart", [this](const ApiRequest& req) -> Reply {
    HTTP_ASSIGN(CallerCart cart, CartOf(req));
    HTTP_CHECK(shop_->carts().Clear(cart.cart_id));
    return CartReply(req, cart);
  });

  router.Add(V::post, "/cart/merge", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(std::string guest, StringField(body, "guest_cart_id", true));
    HTTP_CHECK(commerce::CheckText("guest_cart_id", guest, 1, 64));
    return WithIdempotency(req, p.user_id + " POST /cart/merge", [&] {
      HTTP_ASSIGN(commerce::CartView v, shop_->carts().Merge(guest, p.user_id));
      CartChanged({v.cart_id, p.user_id});
      return JsonResponse(200, CartJson(v));
    });
  });

  // ---- wishlist ------------------------------------------------------------------
  auto wishlist_json = [this](const std::string& user_id) -> Result<json::object> {
    KEEL_ASSIGN_OR_RETURN(std::vector<std::string> ids, shop_->carts().Wishlist(user_id));
    KEEL_ASSIGN_OR_RETURN(std::vector<commerce::Item> items, shop_->catalog().GetMany(ids));
    json::array out;
    for (const auto& i : items) {
      out.push_back(json::object{
          {"id", i.id}, {"name", i.name}, {"price", i.price}, {"currency", i.currency}});
    }
    return json::object{{"items", out}};
  };
  // ---- saved addresses -----------------------------------------------------------
  auto addresses_json = [this](const std::string& user_id) -> Result<json::object> {
    KEEL_ASSIGN_OR_RETURN(auto list, shop_->users().Addresses(user_id));
    json::array out;
    for (auto& a : list) out.push_back(std::move(a));
    return json::object{{"addresses", out}};
  };
  router.Add(V::get, "/me/addresses", [this, addresses_json](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(json::object j, addresses_json(p.user_id));
    return JsonResponse(200, j);
  });
  router.Add(V::post, "/me/addresses", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_CHECK(commerce::Users::ValidateAddress(body, "").status());
    return WithIdempotency(req, p.user_id + " POST /me/addresses", [&] {
      HTTP_ASSIGN(std::string id, shop_->users().AddAddress(p.user_id, body));
      HTTP_ASSIGN(json::object made, shop_->users().Address(p.user_id, id));
      return JsonResponse(201, made);
    });
  });
  router.Add(V::delete_, "/me/addresses/{id}", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_CHECK(shop_->users().DeleteAddress(p.user_id, req.path.at("id")));
    return JsonResponse(200, json::object{{"deleted", req.path.at("id")}});
  });

  router.Add(V::get, "/wishlist", [this, wishlist_json](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(json::object j, wishlist_json(p.user_id));
    return JsonResponse(200, j);
  });
  router.Add(V::post, "/wishlist", [this, wishlist_json](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(std::string item_id, StringField(body, "itemId", true));
    HTTP_CHECK(shop_->carts().AddToWishlist(p.user_id, item_id));
    HTTP_ASSIGN(json::object j, wishlist_json(p.user_id));
    return JsonResponse(200, j);
  });
  router.Add(V::delete_, "/wishlist", [this, wishlist_json](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    std::string item_id = req.Query("itemId");
    if (item_id.empty() && !req.raw.body().empty()) {
      HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
      HTTP_ASSIGN(item_id, StringField(body, "itemId", true));
    }
    if (item_id.empty()) return StatusResponse(commerce::FieldError("itemId", "is required"));
    HTTP_CHECK(shop_->carts().RemoveFromWishlist(p.user_id, item_id));
    HTTP_ASSIGN(json::object j, wishlist_json(p.user_id));
    return JsonResponse(200, j);
  });

  // ---- orders --------------------------------------------------------------------
  // A buyer's orders, newest first: {orders, next_cursor}.
  auto orders_of = [this](const std::string& buyer_id, const ApiRequest& req) {
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 20));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, 100));
    HTTP_ASSIGN(commerce::OrderPage page,
                shop_->orders().List(buyer_id, req.Query("status"), req.Query("cursor"),
                                     static_cast<int>(size)));
    json::array orders;
    for (const auto& o : page.orders) orders.push_back(OrderJson(o, false));
    json::value next =
        page.next_cursor.empty() ? json::value(nullptr) : json::value(page.next_cursor);
    return JsonResponse(200, json::object{{"orders", orders}, {"next_cursor", next}});
  };
  router.Add(V::get, "/orders", [this, orders_of](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    return orders_of(p.user_id, req);
  });

  // Operators (the engine API's admin token): any order by id, any buyer's orders.
  router.Add(V::get, "/v1/orders", [this, orders_of](const ApiRequest& req) {
    HTTP_CHECK(CheckAdminToken(req, opts_.admin_token));
    const std::string buyer = req.Query("buyer_id");
    HTTP_CHECK(commerce::CheckText("buyer_id", buyer, 1, 200));
    return orders_of(buyer, req);
  });
  router.Add(V::get, "/v1/orders/{id}", [this](const ApiRequest& req) {
    HTTP_CHECK(CheckAdminToken(req, opts_.admin_token));
    HTTP_ASSIGN(commerce::Order o, shop_->orders().Get(req.path.at("id")));
    return JsonResponse(200, OrderJson(o, true));
  });

  router.Add(V::get, "/orders/{id}", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    const std::string id = req.path.at("id");
    auto order = shop_->orders().Get(id);
    // Someone else's order answers exactly like a missing one.
    if (order.ok() && p.role != Role::kAdmin && order->buyer_id != p.user_id) {
      return StatusResponse(Status::NotFound("no order " + id, "not_found"));
    }
    if (!order.ok() && order.status().code() == StatusCode::kNotFound && checkout_.history) {
      // A checkout whose saga has not made the order yet (or, recorded before orders
      // came first, was rejected without one) still answers.
      HTTP_ASSIGN(json::object j, CheckoutWithoutOrder(id, &p));
      return JsonResponse(200, j);
    }
    HTTP_ASSIGN(commerce::Order o, std::move(order));
    return JsonResponse(200, OrderJson(o, true));
  });

  AddCartRuleRoutes(router);
  if (checkout_.history) AddCheckoutRoutes(router);
}

}  // namespace keel::http
