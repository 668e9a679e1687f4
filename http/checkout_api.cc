// Checkout, order cancel and return, the webhooks of the gateway and the carrier, and
// notifications: the storefront routes that start and signal workflows.

#include <spdlog/spdlog.h>

#include "commerce/test_cards.h"
#include "commerce/validation.h"
#include "common/hex.h"
#include "common/ids.h"
#include "engine/payload.h"
#include "http/api_util.h"
#include "http/idempotency.h"
#include "http/storefront_api.h"
#include "http/webhook_signature.h"
#include "workflows/commerce_workflows.h"

namespace keel::http {
namespace {

using commerce::Principal;
using commerce::Role;
using persistence::SqlRows;
using persistence::SqlTxn;

constexpr const char* kCheckoutCartsSchema =
    "CREATE TABLE IF NOT EXISTS checkout_carts(cart_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, "
    "created_at BIGINT NOT NULL)";

// How long a cart claim whose saga cannot be found is still believed to be starting.
constexpr Millis kClaimStartGraceMs = 60'000;

bool Closed(const Status& s) {
  return s.reason() == "workflow_closed" || s.reason() == "workflow_not_found";
}

// A field of an object that must be a non-empty string of at most `max` bytes.
Result<std::string> Text(const json::object& o, std::string_view name, size_t max,
                         const std::string& path) {
  const json::value* v = o.if_contains(name);
  if (!v || !v->is_string() || v->as_string().empty() || v->as_string().size() > max) {
    return commerce::FieldError(path + std::string(name),
                                "is required, 1.." + std::to_string(max) + " characters");
  }
  return std::string(v->as_string());
}

// paymentInfo -> a gateway payment method token. A raw card number is accepted only as
// a gateway test number, tokenized here and never stored.
Result<std::string> PaymentMethod(const json::object& body) {
  const json::value* pi = body.if_contains("paymentInfo");
  if (!pi || !pi->is_object()) return commerce::FieldError("paymentInfo", "must be an object");
  const json::object& p = pi->as_object();
  if (const json::value* t = p.if_contains("paymentType");
      t && (!t->is_string() || t->as_string() != "CARD")) {
    return commerce::FieldError("paymentInfo.paymentType", "must be CARD");
  }
  if (const json::value* card = p.if_contains("cardNo")) {
    std::string token = card->is_string() ? commerce::TestCardToken(card->as_string()) : "";
    if (token.empty()) {
      return commerce::FieldError("paymentInfo.cardNo",
                                  "only gateway test cards are accepted (" +
                                      commerce::TestCardNumbers() +
                                      "); send a paymentMethod token otherwise");
    }
    return token;
  }
  KEEL_ASSIGN_OR_RETURN(std::string pm, Text(p, "paymentMethod", 100, "paymentInfo."));
  if (pm.rfind("pm_", 0) != 0) {
    return commerce::FieldError("paymentInfo.paymentMethod", "must be a gateway token (pm_...)");
  }
  return pm;
}

Result<json::object> Address(const json::object& body) {
  const json::value* a = body.if_contains("shippingAddress");
  if (!a) return commerce::FieldError("shippingAddress", "must be an object");
  return commerce::Users::ValidateAddress(*a, "shippingAddress.");
}

// The engine could not take the request (a busy store): the sender retries. The
// server logs the detail under the request id and sends a generic body.
Response WorkflowError(const Status& s) {
  return ErrorResponse(503, "workflow_unavailable", s.ToString());
}

}  // namespace

Status StorefrontApi::EnsureClaimSchema() {
  if (claim_schema_ready_) return Status::Ok();
  persistence::SqlDatabase& db = shop_->api_db();
  KEEL_RETURN_IF_ERROR(db.Transact([&](SqlTxn& t) -> Status {
    if (db.postgres()) {  // concurrent CREATE ... IF NOT EXISTS can still collide
      KEEL_RETURN_IF_ERROR(
          t.Query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.checkout_carts'))")
              .status());
    }
    return t.Exec(kCheckoutCartsSchema).status();
  }));
  claim_schema_ready_ = true;
  return Status::Ok();
}

Status StorefrontApi::ClaimCart(const std::string& cart_id, const std::string& order_id) {
  KEEL_RETURN_IF_ERROR(EnsureClaimSchema());
  persistence::SqlDatabase& db = shop_->api_db();
  return db.Transact([&](SqlTxn& t) -> Status {
    if (db.postgres()) {
      // Claims of one cart take turns (SQLite's writers always do); claims of other
      // carts do not wait for them.
      KEEL_RETURN_IF_ERROR(
          t.Query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.cart.' || $1))",
                  {cart_id})
              .status());
    }
    KEEL_ASSIGN_OR_RETURN(
        SqlRows rows,
        t.Query("SELECT order_id, created_at FROM checkout_carts WHERE cart_id = $1", {cart_id}));
    if (rows.empty()) {
      return t
          .Exec("INSERT INTO checkout_carts(cart_id, order_id, created_at) VALUES($1,$2,$3)",
                {cart_id, order_id, shop_->clock()->Now()})
          .status();
    }
    const std::string prev = rows[0].Text(0);
    if (prev == order_id) return Status::Ok();
    // The earlier checkout holds the cart until its order leaves pending_payment
    // (the saga empties the cart just before confirming) or the saga ends. A claim
    // whose saga does not exist is taken over only once it is old: a fresh one's
    // saga may be starting this very moment.
    auto in_progress = [&] {
      return Status::FailedPrecondition(
          "a checkout of this cart is still running (order " + prev + "); wait for it to end",
          "checkout_in_progress");
    };
    auto d = checkout_.history->Describe(workflows::CheckoutWorkflowId(prev));
    if (!d.ok() && d.status().reason() != "workflow_not_found") return d.status();
    if (!d.ok() && shop_->clock()->Now() - rows[0].Int(1) < kClaimStartGraceMs) {
      return in_progress();
    }
    auto prev_order = shop_->orders().Get(prev);
    const bool settled = prev_order.ok() && prev_order->status != "pending_payment";
    if (d.ok() && d->execution.status == persistence::ExecutionStatus::kRunning && !settled) {
      return in_progress();
    }
    return t
        .Exec("UPDATE checkout_carts SET order_id = $2, created_at = $3 WHERE cart_id = $1",
              {cart_id, order_id, shop_->clock()->Now()})
        .status();
  });
}

void StorefrontApi::UnclaimCart(const std::string& cart_id, const std::string& order_id) {
  Status s = shop_->api_db().Transact([&](SqlTxn& t) {
    return t
        .Exec("DELETE FROM checkout_carts WHERE cart_id = $1 AND order_id = $2",
              {cart_id, order_id})
        .status();
  });
  // A claim left behind only delays the cart's next checkout until its saga is found
  // missing (ClaimCart takes over a claim whose workflow does not exist).
  if (!s.ok())
    spdlog::warn("cart {}: claim of {} not released: {}", cart_id, order_id, s.ToString());
}

Result<json::object> StorefrontApi::CheckoutWithoutOrder(const std::string& order_id,
                                                         const Principal* p) {
  const std::string wf = workflows::CheckoutWorkflowId(order_id);
  Status missing = Status::NotFound("no order " + order_id, "not_found");
  auto d = checkout_.history->Describe(wf);
  if (!d.ok()) return d.status().reason() == "workflow_not_found" ? missing : d.status();
  KEEL_ASSIGN_OR_RETURN(proto::History h, checkout_.history->ReadRunHistory(wf));
  if (h.events_size() == 0 || !h.events(0).has_workflow_execution_started()) return missing;
  KEEL_ASSIGN_OR_RETURN(json::value in,
                        FromPayload(h.events(0).workflow_execution_started().input()));
  const json::object* input = in.is_object() ? &in.as_object() : nullptr;
  const json::value* buyer = input ? input->if_contains("buyer_id") : nullptr;
  if (!buyer || !buyer->is_string()) return missing;
  if (p && p->role != Role::kAdmin && buyer->as_string() != p->user_id) return missing;
  json::object j{{"order_id", order_id}, {"buyer_id", *buyer}, {"workflow_id", wf}};
  j["discount"] = 0;
  j["promo_code"] = "";
  for (const char* k :
       {"currency", "subtotal", "discount", "promo_code", "shipping", "tax", "total", "lines"}) {
    if (const json::value* v = input->if_contains(k); v && !v->is_null()) j[k] = *v;
  }
  if (d->execution.status == persistence::ExecutionStatus::kRunning) {
    j["status"] = "pending_payment";
    j["reason"] = "the checkout is starting";
    return j;
  }
  proto::Payload payload;
  payload.ParseFromString(d->execution.result);
  auto result = FromPayload(payload);
  const json::object* r = result.ok() && result->is_object() ? &result->as_object() : nullptr;
  if (!r || !r->contains("status") || r->at("status") != "rejected") {
    return Status::Internal("checkout " + wf + " ended without an order", "checkout_failed");
  }
  j["status"] = "rejected";
  j["reason"] = r->contains("reason") ? r->at("reason") : json::value("rejected");
  if (r->contains("detail")) j["detail"] = r->at("detail");
  return j;
}

Reply StorefrontApi::WaitForCheckout(const std::string& owner, const std::string& order_id,
                                     int64_t wait_s) {
  const std::string wf = workflows::CheckoutWorkflowId(order_id);
  auto check = [this, order_id, wf](bool final) -> std::optional<Response> {
    auto o = shop_->orders().Get(order_id);
    if (o.ok() && o->status != "pending_payment") return JsonResponse(200, OrderJson(*o, true));
    if (!o.ok() && o.status().code() != StatusCode::kNotFound) {
      if (final) return StatusResponse(o.status());
      return std::nullopt;  // a busy database: look again at the next poll
    }
    if (!o.ok()) {
      // No order row yet: the saga has not made it, or (recorded before orders came
      // first) it was rejected without one.
      auto j = CheckoutWithoutOrder(order_id, nullptr);
      if (!j.ok() && (final || j.status().reason() == "checkout_failed")) {
        return StatusResponse(j.status());
      }
      if (j.ok() && j->at("status") != "pending_payment") return JsonResponse(200, *j);
    }
    if (!final) return std::nullopt;
    return JsonResponse(202, json::object{{"order_id", order_id},
                                          {"workflow_id", wf},
                                          {"status", o.ok() ? o->status : "pending_payment"}});
  };
  return checkout_.waiters->Park({OrderWaitKey(order_id), RunWaitKey(wf)}, owner, wait_s * 1000,
                                 std::move(check));
}

Reply StorefrontApi::WaitForChange(const std::string& owner, const std::string& order_id,
                                   const std::string& from, int64_t wait_s) {
  auto check = [this, order_id, from](bool final) -> std::optional<Response> {
    auto o = shop_->orders().Get(order_id);
    if (!o.ok()) return final ? std::optional<Response>(StatusResponse(o.status())) : std::nullopt;
    if (o->status != from) return JsonResponse(200, OrderJson(*o, true));
    if (!final) return std::nullopt;
    json::object j = OrderJson(*o, false);
    j["request_accepted"] = true;
    return JsonResponse(202, j);
  };
  return checkout_.waiters->Park({OrderWaitKey(order_id)}, owner, wait_s * 1000, std::move(check));
}

Response StorefrontApi::StartCheckout(const ApiRequest& req, const Principal& p,
                                      const std::string& key) {
  HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
  HTTP_ASSIGN(std::string own_cart, shop_->carts().CartOfUser(p.user_id));
  const std::string cart_id = own_cart;
  if (const json::value* c = body.if_contains("cartId"); c && !c->is_null()) {
    if (!c->is_string()) return StatusResponse(commerce::FieldError("cartId", "must be a string"));
    if (c->as_string() != own_cart) {
      return ErrorResponse(404, "not_found",
                           "no cart " + std::string(c->as_string()) +
                               " of yours; merge a guest cart first (POST /cart/merge)");
    }
  }
  HTTP_ASSIGN(std::optional<int64_t> amount, IntField(body, "amount", true));
  HTTP_ASSIGN(std::string pm, PaymentMethod(body));
  json::object address;
  if (const json::value* saved = body.if_contains("shippingAddressId");
      saved && !saved->is_null()) {
    if (!saved->is_string()) {
      return StatusResponse(commerce::FieldError("shippingAddressId", "must be a string"));
    }
    if (body.contains("shippingAddress")) {
      return StatusResponse(commerce::FieldError(
          "shippingAddress", "give shippingAddress or shippingAddressId, not both"));
    }
    // The order keeps a copy: editing or deleting the saved address later changes nothing.
    auto found = shop_->users().Address(p.user_id, std::string(saved->as_string()));
    if (!found.ok() && found.status().code() == StatusCode::kNotFound) {
      return StatusResponse(commerce::FieldError("shippingAddressId", "no saved address of yours"));
    }
    HTTP_ASSIGN(address, std::move(found));
    address.erase("address_id");
    address.erase("created_at");
  } else {
    HTTP_ASSIGN(address, Address(body));
  }
  // With a key, the order id is derived from it, so even a retry after this process
  // died starts the same workflow (idempotent start) and not a second order.
  const std::string scoped_key = key.empty() ? "" : p.user_id + ":" + key;
  const std::string order_id =
      key.empty() ? "ord_" + NewSecretHex(12) : "ord_" + Sha256Hex(scoped_key).substr(0, 24);
  // Claim the cart first, then read it: a checkout that read the lines before an
  // earlier order emptied them could order them twice (invariant 7).
  if (Status claimed = ClaimCart(cart_id, order_id); !claimed.ok()) {
    Response res = StatusResponse(claimed);
    // Another checkout of this cart is still running: retry this one (with the same
    // Idempotency-Key) once it ends.
    if (claimed.reason() == "checkout_in_progress") res.set(bhttp::field::retry_after, "1");
    return res;
  }
  bool started = false;
  struct Unclaim {
    StorefrontApi* api;
    const std::string &cart, &order;
    const bool& keep;
    ~Unclaim() {
      if (!keep) api->UnclaimCart(cart, order);
    }
  } unclaim{this, cart_id, order_id, started};
  HTTP_ASSIGN(commerce::CartView cart, shop_->carts().Get(cart_id, DestinationOf(address)));
  if (cart.lines.empty()) return ErrorResponse(422, "cart_empty", "the cart is empty");
  commerce::CheckoutInput in;
  int64_t units = 0;
  for (const auto& l : cart.lines) {
    if (!l.available) {
      return ErrorResponse(409, "item_unavailable",
                           "item " + l.item_id + " is no longer sold; remove it from the cart",
                           json::object{{"item_id", l.item_id}});
    }
    units += l.quantity;
    in.lines.push_back({l.item_id, l.quantity, l.unit_price, l.seller_id});
  }
  if (auto queued = Admit(p.user_id, cart)) return *queued;  // hot SKUs: first come, first served
  if (*amount != cart.total) {
    return ErrorResponse(409, "amount_mismatch",
                         "the amount does not match the cart's total; read GET /cart again",
                         json::object{{"expected", cart.total}, {"currency", cart.currency}});
  }
  if (checkout_.max_held_units_per_buyer > 0 && units > checkout_.max_held_units_per_buyer) {
    return ErrorResponse(409, "hold_limit",
                         "one buyer may hold at most " +
                             std::to_string(checkout_.max_held_units_per_buyer) +
                             " units in unpaid orders; this cart has " + std::to_string(units),
                         json::object{{"max_units", checkout_.max_held_units_per_buyer}});
  }
  StartWorkflowRequest start;
  start.workflow_id = workflows::CheckoutWorkflowId(order_id);
  start.workflow_type = workflows::kCheckoutWorkflow;
  start.reuse_policy = proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE;
  start.identity = "api";
  in.order_id = order_id;
  in.buyer_id = p.user_id;
  in.cart_id = cart_id;
  in.idempotency_key = scoped_key;
  in.currency = cart.currency;
  in.subtotal = cart.subtotal;
  if (cart.discount > 0) {
    in.discount = cart.discount;
    in.promo_code = cart.promo_code;
  }
  in.shipping = cart.shipping;
  in.tax = cart.tax;
  in.total = cart.total;
  in.amount = *amount;
  in.payment_method = pm;
  in.shipping_address = address;
  in.payment_window_ms = checkout_.payment_window_ms;
  in.action_window_ms = checkout_.action_window_ms;
  in.hold_ttl_ms = checkout_.payment_window_ms + workflows::kHoldGraceMs;
  in.return_window_ms = checkout_.return_window_ms;
  in.buyer_limits = commerce::CheckoutBuyerLimits{checkout_.max_held_units_per_buyer,
                                                  checkout_.max_pending_orders_per_buyer};
  start.input = Encode(in);
  // From here the claim stays even if the start fails: the start may have committed
  // unseen, and a claim whose saga never appears is taken over later (ClaimCart).
  started = true;
  auto run = checkout_.history->StartWorkflow(start);
  if (!run.ok() && run.status().reason() != "workflow_id_reuse_rejected") {
    return WorkflowError(run.status());
  }
  return JsonResponse(
      202, json::object{
               {"order_id", order_id}, {"workflow_id", start.workflow_id}, {"status", "pending"}});
}

void StorefrontApi::AddCheckoutRoutes(Router& router) {
  using V = bhttp::verb;
  auto wait_of = [this](const ApiRequest& req) -> Result<int64_t> {
    KEEL_ASSIGN_OR_RETURN(int64_t w, QueryInt(req, "wait", 0));
    KEEL_RETURN_IF_ERROR(commerce::CheckRange("wait", w, 0, checkout_.max_wait_s));
    return w;
  };

  router.Add(V::post, "/checkout", [this, wait_of](const ApiRequest& req) -> Reply {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(int64_t wait_s, wait_of(req));
    const std::string key = req.Header("Idempotency-Key");
    if (key.size() > 255) {
      return ErrorResponse(400, "idempotency_error", "Idempotency-Key is at most 255 characters");
    }
    Response started = WithIdempotency(req, "user:" + p.user_id,
                                       [&]() -> Response { return StartCheckout(req, p, key); });
    if (started.result_int() != 202 || wait_s == 0) return started;
    auto v = ParseJson(started.body());
    if (!v.ok()) return started;
    return WaitForCheckout(p.user_id, std::string(v->at("order_id").as_string()), wait_s);
  });

  // Cancel and return are signals to the order's workflow; the reply says the request
  // was taken (202), or with ?wait= the order once its state moved.
  auto own_order = [this](const ApiRequest& req, const Principal& p) -> Result<commerce::Order> {
    auto o = shop_->orders().Get(req.path.at("id"));
    if (o.ok() && p.role != Role::kAdmin && o->buyer_id != p.user_id) {
      return Status::NotFound("no order " + req.path.at("id"), "not_found");
    }
    return o;
  };

  router.Add(
      V::post, "/orders/{id}/cancel", [this, own_order, wait_of](const ApiRequest& req) -> Reply {
        HTTP_ASSIGN(Principal p, Authenticate(req));
        HTTP_ASSIGN(int64_t wait_s, wait_of(req));
        HTTP_ASSIGN(commerce::Order o, own_order(req, p));
        if (o.status != "pending_payment" && o.status != "confirmed" && o.status != "fulfilling") {
          return ErrorResponse(409, "order_not_cancellable",
                               "the order is " + o.status +
                                   "; only an order not yet shipped can be "
                                   "cancelled (a delivered one can be returned)");
        }
        const std::string request_id =
            "cancel/" + (req.Header("Idempotency-Key").empty()
                             ? NewRandomUuid()
                             : p.user_id + ":" + req.Header("Idempotency-Key"));
        json::object why{{"reason", "buyer"}, {"by", p.user_id}};
        // The checkout owns the order until it hands it to shipment tracking.
        Status s = checkout_.history->SignalWorkflow(workflows::CheckoutWorkflowId(o.order_id),
                                                     "cancel", why, "api", request_id);
        if (!s.ok() && Closed(s)) {
          s = checkout_.history->SignalWorkflow(workflows::ShipmentWorkflowId(o.order_id), "cancel",
                                                why, "api", request_id);
        }
        if (!s.ok() && Closed(s)) {
          return ErrorResponse(409, "order_not_cancellable", "the order's workflow has ended");
        }
        if (!s.ok()) return WorkflowError(s);
        if (wait_s > 0) return WaitForChange(p.user_id, o.order_id, o.status, wait_s);
        json::object j = OrderJson(o, false);
        j["request_accepted"] = true;
        return JsonResponse(202, j);
      });

  router.Add(
      V::post, "/orders/{id}/return", [this, own_order, wait_of](const ApiRequest& req) -> Reply {
        HTTP_ASSIGN(Principal p, Authenticate(req));
        HTTP_ASSIGN(int64_t wait_s, wait_of(req));
        HTTP_ASSIGN(commerce::Order o, own_order(req, p));
        if (o.status != "delivered") {
          return ErrorResponse(
              409, "order_not_returnable",
              "the order is " + o.status + "; only a delivered order can be returned");
        }
        const std::string request_id =
            "return/" + (req.Header("Idempotency-Key").empty()
                             ? NewRandomUuid()
                             : p.user_id + ":" + req.Header("Idempotency-Key"));
        Status s =
            checkout_.history->SignalWorkflow(workflows::ShipmentWorkflowId(o.order_id), "return",
                                              json::object{{"by", p.user_id}}, "api", request_id);
        if (!s.ok() && Closed(s)) {
          return ErrorResponse(409, "order_not_returnable", "the return window has closed");
        }
        if (!s.ok()) return WorkflowError(s);
        if (wait_s > 0) return WaitForChange(p.user_id, o.order_id, o.status, wait_s);
        json::object j = OrderJson(o, false);
        j["request_accepted"] = true;
        return JsonResponse(202, j);
      });

  // Webhooks: verified, then delivered to the order's workflow as a signal whose
  // request id is the event id, so a duplicate delivery applies once. An event for a
  // workflow that has ended is acknowledged and dropped (the saga reconciles with the
  // gateway itself when it ends). A 503 makes the sender retry.
  auto webhook =
      [this](const ApiRequest& req, const std::string& secret, const char* prefix,
             const std::function<Status(const std::string& event_id, const std::string& type,
                                        const json::object& object)>& deliver) {
        const Millis now_s = shop_->clock()->Now() / 1000;
        if (Status v = VerifyWebhook(secret, req.Header(kSignatureHeader), req.raw.body(), now_s);
            secret.empty() || !v.ok()) {
          return ErrorResponse(400, "invalid_signature",
                               secret.empty() ? "no webhook secret is configured" : v.message());
        }
        HTTP_ASSIGN(json::object event, ParseBodyObject(req.raw));
        const json::value* id = event.if_contains("id");
        const json::value* type = event.if_contains("type");
        const json::value* data = event.if_contains("data");
        if (!id || !id->is_string() || !type || !type->is_string() || !data || !data->is_object() ||
            !data->as_object().contains("object") || !data->as_object().at("object").is_object()) {
          return ErrorResponse(422, "validation_failed", "an event needs id, type and data.object");
        }
        const std::string t(type->as_string());
        if (t.rfind(prefix, 0) != 0) {
          return JsonResponse(200, json::object{{"received", true}, {"ignored", "event type"}});
        }
        Status s =
            deliver(std::string(id->as_string()), t, data->as_object().at("object").as_object());
        if (!s.ok() && Closed(s)) {
          return JsonResponse(200, json::object{{"received", true}, {"ignored", s.message()}});
        }
        if (!s.ok()) return WorkflowError(s);
        return JsonResponse(200, json::object{{"received", true}});
      };

  router.Add(V::post, "/webhooks/payments", [this, webhook](const ApiRequest& req) {
    return webhook(
        req, checkout_.payments_webhook_secret, "payment_intent.",
        [this](const std::string& id, const std::string& type, const json::object& pi) {
          const json::value* meta = pi.if_contains("metadata");
          const json::value* order =
              meta && meta->is_object() ? meta->as_object().if_contains("order_id") : nullptr;
          if (!order || !order->is_string() || !pi.contains("id")) {
            return Status::NotFound("the intent names no order", "workflow_not_found");
          }
          json::object sig{{"event_id", id},
                           {"type", type},
                           {"intent_id", pi.at("id")},
                           {"status", pi.contains("status") ? pi.at("status") : nullptr}};
          return checkout_.history->SignalWorkflow(
              workflows::CheckoutWorkflowId(std::string(order->as_string())), "payment", sig,
              "payments-webhook", "payments/" + id);
        });
  });

  router.Add(V::post, "/webhooks/carrier", [this, webhook](const ApiRequest& req) {
    return webhook(req, checkout_.carrier_webhook_secret, "shipment.",
                   [this](const std::string& id, const std::string& type, const json::object& sh) {
                     const json::value* ref = sh.if_contains("reference");
                     if (!ref || !ref->is_string() || !sh.contains("status")) {
                       return Status::NotFound("the shipment names no order", "workflow_not_found");
                     }
                     json::object sig{{"event_id", id},
                                      {"type", type},
                                      {"status", sh.at("status")},
                                      {"shipment_id", sh.contains("id") ? sh.at("id") : nullptr}};
                     return checkout_.history->SignalWorkflow(
                         workflows::ShipmentWorkflowId(std::string(ref->as_string())), "carrier",
                         sig, "carrier-webhook", "carrier/" + id);
                   });
  });

  router.Add(V::get, "/notifications", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 20));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, 100));
    HTTP_ASSIGN(int64_t cursor, QueryInt(req, "cursor", 0));
    HTTP_CHECK(commerce::CheckRange("cursor", cursor, 0, INT64_MAX));
    HTTP_ASSIGN(auto page, shop_->notifications().List(p.user_id, cursor, static_cast<int>(size)));
    json::array items;
    for (const auto& n : page.first) {
      items.push_back(json::object{{"event_id", n.event_id},
                                   {"order_id", n.order_id},
                                   {"type", n.type},
                                   {"message", n.message},
                                   {"created_at", n.created_at}});
    }
    return JsonResponse(
        200, json::object{{"notifications", items},
                          {"next_cursor", page.second > 0 ? json::value(std::to_string(page.second))
                                                          : json::value(nullptr)}});
  });
}

}  // namespace keel::http
