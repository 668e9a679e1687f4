// The cart's rules over HTTP: promotions (sellers and operators create them, buyers
// apply one to their cart; commerce/promotions.h), the tax and shipping tables
// (commerce/charges.h), and the destination a cart's tax is computed for. docs/cart.md
// has the contract.

#include "commerce/validation.h"
#include "http/api_util.h"
#include "http/storefront_api.h"
#include "workflows/commerce_workflows.h"

namespace keel::http {
namespace {

using commerce::Principal;
using commerce::Role;
namespace bhttp = boost::beast::http;

json::object PromotionJson(const commerce::Promotion& p) {
  return json::object{
      {"code", p.code},
      {"seller_id", p.seller_id.empty() ? json::value(nullptr) : json::value(p.seller_id)},
      {"percent_off", p.percent_off},
      {"amount_off", p.amount_off},
      {"currency", p.currency},
      {"min_subtotal", p.min_subtotal},
      {"starts_at", p.starts_at},
      {"ends_at", p.ends_at == 0 ? json::value(nullptr) : json::value(p.ends_at)},
      {"max_redemptions", p.max_redemptions},
      {"per_buyer_limit", p.per_buyer_limit},
      {"redeemed", p.redeemed},
      {"created_at", p.created_at}};
}

Result<commerce::Promotion> ReadPromotion(const json::object& body) {
  KEEL_RETURN_IF_ERROR(
      commerce::CheckKnownFields(body, "",
                                 {"code", "percent_off", "amount_off", "currency", "min_subtotal",
                                  "starts_at", "ends_at", "max_redemptions", "per_buyer_limit"},
                                 "a promotion field"));
  commerce::Promotion p;
  KEEL_ASSIGN_OR_RETURN(p.code, StringField(body, "code", true));
  KEEL_ASSIGN_OR_RETURN(p.currency, StringField(body, "currency", false));
  struct IntTarget {
    const char* name;
    int64_t* to;
  };
  for (auto [name, to] : {IntTarget{"percent_off", &p.percent_off},
                          {"amount_off", &p.amount_off},
                          {"min_subtotal", &p.min_subtotal},
                          {"starts_at", &p.starts_at},
                          {"ends_at", &p.ends_at},
                          {"max_redemptions", &p.max_redemptions},
                          {"per_buyer_limit", &p.per_buyer_limit}}) {
    KEEL_ASSIGN_OR_RETURN(std::optional<int64_t> v, IntField(body, name, false));
    *to = v.value_or(0);
  }
  return p;
}

}  // namespace

commerce::Destination DestinationOf(const json::object& address) {
  commerce::Destination d;
  if (const json::value* c = address.if_contains("country"); c && c->is_string()) {
    d.country = std::string(c->as_string());
  }
  if (const json::value* r = address.if_contains("region"); r && r->is_string()) {
    d.region = std::string(r->as_string());
  }
  auto checked = commerce::CheckDestination(d);
  return checked.ok() ? *checked : commerce::Destination{};
}

Result<commerce::Destination> StorefrontApi::CartDestination(const ApiRequest& req,
                                                             const CallerCart& cart) const {
  const std::string saved = req.Query("shippingAddressId");
  if (!saved.empty()) {
    if (!req.Query("country").empty()) {
      return commerce::FieldError("country", "give country or shippingAddressId, not both");
    }
    if (cart.user_id.empty()) {
      return Status::InvalidArgument("a saved address needs a signed-in buyer", "unauthenticated");
    }
    auto found = shop_->users().Address(cart.user_id, saved);
    if (!found.ok() && found.status().code() == StatusCode::kNotFound) {
      return commerce::FieldError("shippingAddressId", "no saved address of yours");
    }
    KEEL_ASSIGN_OR_RETURN(json::object address, std::move(found));
    return DestinationOf(address);
  }
  if (req.Query("country").empty() && !req.Query("region").empty()) {
    return commerce::FieldError("region", "needs a country");
  }
  return commerce::CheckDestination({req.Query("country"), req.Query("region")});
}

Reply StorefrontApi::CartReply(const ApiRequest& req, const CallerCart& cart) {
  HTTP_ASSIGN(commerce::Destination to, CartDestination(req, cart));
  HTTP_ASSIGN(commerce::CartView v, shop_->carts().Get(cart.cart_id, to));
  return JsonResponse(200, CartJson(v));
}

void StorefrontApi::CartChanged(const CallerCart& cart) {
  const Millis after = checkout_.cart_reminder_after_ms;
  if (!checkout_.history || after <= 0 || cart.user_id.empty()) return;
  const std::string& cart_id = cart.cart_id;
  const std::string& user_id = cart.user_id;
  const Millis now = shop_->clock()->Now();
  {
    std::lock_guard<std::mutex> l(reminders_mu_);
    auto [it, fresh] = reminders_started_.try_emplace(cart_id, now);
    if (!fresh && now - it->second < std::min<Millis>(60'000, after / 2)) return;
    it->second = now;
    if (reminders_started_.size() > 100'000) reminders_started_.clear();  // bounded
  }
  StartWorkflowRequest start;
  start.workflow_id = workflows::CartReminderWorkflowId(cart_id);
  start.workflow_type = workflows::kCartReminderWorkflow;
  start.reuse_policy = proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE;  // after a reminder, anew
  start.identity = "api";
  start.input = Encode(workflows::CartReminderInput{cart_id, user_id, after});
  auto run = checkout_.history->StartWorkflow(start);
  // A running one is left as it is (started false); a failure is retried on the next change.
  if (!run.ok()) {
    std::lock_guard<std::mutex> l(reminders_mu_);
    reminders_started_.erase(cart_id);
  }
}

std::map<std::string, int64_t> StorefrontApi::HotSkus() {
  const Millis now = shop_->clock()->Now();
  std::lock_guard<std::mutex> l(hot_mu_);
  if (now - hot_read_at_ >= 1000) {
    auto hot = shop_->inventory().HotSkus();
    if (hot.ok()) hot_ = std::move(hot).value();  // else the last known, tried again next time
    hot_read_at_ = now;
  }
  return hot_;
}

std::optional<Response> StorefrontApi::Admit(const std::string& buyer,
                                             const commerce::CartView& cart) {
  std::map<std::string, int64_t> hot;
  for (const auto& l : cart.lines) {
    if (hot.empty()) hot = HotSkus();
    if (!hot.count(l.item_id)) continue;
    Admission a = admission_.Enter(l.item_id, buyer, shop_->clock()->Now());
    if (a.admitted) continue;
    const int64_t seconds = std::max<int64_t>(1, (a.retry_after_ms + 999) / 1000);
    Response res =
        a.full
            ? ErrorResponse(429, "queue_full",
                            "too many buyers wait for item " + l.item_id + "; try again soon",
                            json::object{{"item_id", l.item_id}, {"retry_after_s", seconds}})
            : ErrorResponse(
                  429, "queued",
                  "item " + l.item_id + " is in demand: you are number " + std::to_string(a.place) +
                      " in line; check out again after Retry-After to keep it",
                  json::object{
                      {"item_id", l.item_id}, {"place", a.place}, {"retry_after_s", seconds}});
    res.set(bhttp::field::retry_after, std::to_string(seconds));
    return res;
  }
  return std::nullopt;
}

// Who creates a promotion: the operator (the admin token) or an admin for the whole
// shop (seller ""), a seller for their own items. Buyers may not.
Result<std::pair<std::string, std::string>> StorefrontApi::PromotionOwner(
    const ApiRequest& req) const {
  if (!opts_.admin_token.empty() && CheckAdminToken(req, opts_.admin_token).ok()) {
    return std::pair<std::string, std::string>{"", "operator"};
  }
  KEEL_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
  if (p.role == Role::kBuyer) {
    return Status::FailedPrecondition("only sellers and operators make promotions", "forbidden");
  }
  return std::pair<std::string, std::string>{p.role == Role::kAdmin ? "" : p.user_id, p.user_id};
}

void StorefrontApi::AddCartRuleRoutes(Router& router) {
  using V = bhttp::verb;
  router.Add(V::post, "/promotions", [this](const ApiRequest& req) -> Reply {
    HTTP_ASSIGN(auto owner, PromotionOwner(req));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(commerce::Promotion p, ReadPromotion(body));
    p.seller_id = owner.first;
    p.created_by = owner.second;
    return WithIdempotency(req, owner.second + " POST /promotions", [&] {
      HTTP_ASSIGN(commerce::Promotion made, shop_->promotions().Create(p));
      return JsonResponse(201, PromotionJson(made));
    });
  });

  router.Add(V::get, "/promotions", [this](const ApiRequest& req) -> Reply {
    HTTP_ASSIGN(auto owner, PromotionOwner(req));
    // The operator and admins see every promotion; a seller their own.
    const bool all = owner.first.empty();
    HTTP_ASSIGN(auto list, shop_->promotions().List(all ? "*" : owner.first));
    json::array out;
    for (const auto& p : list) out.push_back(PromotionJson(p));
    return JsonResponse(200, json::object{{"promotions", out}});
  });

  router.Add(V::post, "/cart/promo", [this](const ApiRequest& req) -> Reply {
    HTTP_ASSIGN(CallerCart cart, CartOf(req));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(std::string code, StringField(body, "code", true));
    HTTP_CHECK(commerce::CheckText("code", code, 1, 64));
    HTTP_ASSIGN(commerce::Promotion promo, shop_->promotions().Get(code));
    if (!cart.user_id.empty() && promo.per_buyer_limit > 0) {
      HTTP_ASSIGN(int64_t used, shop_->promotions().RedeemedBy(promo.code, cart.user_id));
      if (used >= promo.per_buyer_limit) {
        return ErrorResponse(409, "promo_buyer_limit",
                             "you have used " + promo.code + " as often as it allows",
                             json::object{{"per_buyer_limit", promo.per_buyer_limit}});
      }
    }
    Status set = shop_->carts().SetPromo(cart.cart_id, promo);
    if (set.reason() == "promo_not_applicable") {
      return ErrorResponse(
          422, "promo_not_applicable",
          "promotion " + promo.code + " takes nothing off this cart: " + set.message(),
          json::object{{"why_not", set.message()}});
    }
    HTTP_CHECK(set);
    CartChanged(cart);
    return CartReply(req, cart);
  });

  router.Add(V::delete_, "/cart/promo", [this](const ApiRequest& req) -> Reply {
    HTTP_ASSIGN(CallerCart cart, CartOf(req));
    HTTP_CHECK(shop_->carts().ClearPromo(cart.cart_id));
    return CartReply(req, cart);
  });

  // Hot SKUs, for operators (the admin token): split stock, and the admission gate.
  router.Add(V::put, "/v1/stock/{sku}/shards", [this](const ApiRequest& req) -> Reply {
    HTTP_CHECK(CheckAdminToken(req, opts_.admin_token));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(std::optional<int64_t> shards, IntField(body, "shards", true));
    const std::string& sku = req.path.at("sku");
    HTTP_CHECK(shop_->inventory().SetShards(sku, *shards));
    {
      std::lock_guard<std::mutex> l(hot_mu_);
      hot_read_at_ = -1'000'000;  // this process gates it at once
    }
    HTTP_ASSIGN(commerce::StockLevel level, shop_->inventory().Level(sku));
    return JsonResponse(200, json::object{{"sku", sku},
                                          {"shards", *shards < 2 ? 0 : *shards},
                                          {"available", level.available}});
  });
  router.Add(V::get, "/v1/stock/hot", [this](const ApiRequest& req) -> Reply {
    HTTP_CHECK(CheckAdminToken(req, opts_.admin_token));
    HTTP_ASSIGN(auto hot, shop_->inventory().HotSkus());
    json::array out;
    for (const auto& [sku, shards] : hot) {
      HTTP_ASSIGN(commerce::StockLevel level, shop_->inventory().Level(sku));
      out.push_back(json::object{{"sku", sku}, {"shards", shards}, {"available", level.available}});
    }
    return JsonResponse(200, json::object{{"skus", out}});
  });

  // Tax and shipping tables, for operators (the admin token).
  router.Add(V::get, "/v1/charges", [this](const ApiRequest& req) -> Reply {
    HTTP_CHECK(CheckAdminToken(req, opts_.admin_token));
    HTTP_ASSIGN(commerce::ChargeTables t, shop_->carts().charges().Get());
    return JsonResponse(200, commerce::ChargeTablesJson(t));
  });
  router.Add(V::put, "/v1/charges", [this](const ApiRequest& req) -> Reply {
    HTTP_CHECK(CheckAdminToken(req, opts_.admin_token));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    HTTP_ASSIGN(commerce::ChargeTables t, commerce::ParseChargeTables(body));
    HTTP_CHECK(shop_->carts().charges().Set(t));
    return JsonResponse(200, commerce::ChargeTablesJson(t));
  });
}

}  // namespace keel::http
