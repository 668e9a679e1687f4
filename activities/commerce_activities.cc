#include "activities/commerce_activities.h"

#include "commerce/workflow_ids.h"
#include "engine/errors.h"
#include "http/client.h"

namespace keel::activities {
namespace {

// A failed Status as an activity failure: the reasons listed are refusals (no retry);
// anything else (a busy or unreachable database) is retried.
[[noreturn]] void Fail(const Status& s, const std::string& type,
                       std::initializer_list<const char*> refusals) {
  for (const char* r : refusals) {
    if (s.reason() == r) throw ApplicationError(type, s.ToString(), true);
  }
  throw ApplicationError("Transient", s.ToString());
}

// One call to the gateway or the carrier. Network failures, timeouts, 5xx, 409
// (the same key still in flight) and 429 are retried by the activity's policy.
http::ClientResponse Call(const std::string& base, const std::string& method,
                          const std::string& target, const json::value& body,
                          const std::string& idempotency_key) {
  auto url = http::ParseHttpUrl(base);
  if (!url.ok()) throw ApplicationError("Misconfigured", url.status().ToString(), true);
  std::map<std::string, std::string> headers{{"Content-Type", "application/json"}};
  if (!idempotency_key.empty()) headers["Idempotency-Key"] = idempotency_key;
  auto r = http::HttpCall(url.value(), method, target, body.is_null() ? "" : json::serialize(body),
                          headers, {.connect_timeout_ms = 2000, .timeout_ms = 10'000});
  if (!r.ok()) throw ApplicationError("Unavailable", r.status().ToString());
  const int st = r.value().status;
  if (st >= 500 || st == 409 || st == 429) {
    throw ApplicationError("Unavailable", method + " " + target + ": HTTP " + std::to_string(st) +
                                              " " + r.value().body.substr(0, 300));
  }
  return std::move(r).value();
}

json::value Body(const http::ClientResponse& r) {
  auto v = ParseJson(r.body);
  if (!v.ok()) throw ApplicationError("Unavailable", "unreadable reply: " + r.body.substr(0, 200));
  return std::move(v).value();
}
std::string ErrorCode(const json::value& body) {
  const json::value* e = body.is_object() ? body.as_object().if_contains("error") : nullptr;
  if (!e || !e->is_object()) return "";
  const json::value* c = e->as_object().if_contains("code");
  return c && c->is_string() ? std::string(c->as_string()) : "";
}

std::string Key(const std::string& order_id, const char* what) {
  return "keel-" + order_id + "-" + what;
}

// ---- inventory ---------------------------------------------------------------------

HoldOut Reserve(const CommerceDeps* d, const ReserveIn& in) {
  commerce::HoldRequest h{in.hold_id, in.sku, in.quantity};
  commerce::BuyerLimits buyer;
  if (in.buyer_limits) {
    buyer.buyer_id = in.buyer_id;
    buyer.max_units = in.buyer_limits->max_held_units;
    buyer.max_orders = in.buyer_limits->max_pending_orders;
  }
  Status s = d->shop->inventory().Reserve({h}, in.order_id, in.ttl_ms, buyer);
  if (s.reason() == "buyer_limit") throw ApplicationError("BuyerLimit", s.message(), true);
  if (!s.ok()) {
    Fail(s, "InsufficientStock",
         {"insufficient_stock", "hold_not_active", "not_found", "validation_failed"});
  }
  return {h.hold_id};
}

ReleasedOut Release(const CommerceDeps* d, const HoldsIn& in) {
  for (const auto& id : in.hold_ids) {
    Status s = d->shop->inventory().Release(id);
    if (!s.ok()) Fail(s, "Transient", {});
  }
  return {true};
}

CommittedOut Commit(const CommerceDeps* d, const HoldsIn& in) {
  for (const auto& id : in.hold_ids) {
    Status s = d->shop->inventory().Commit(id);
    if (!s.ok()) Fail(s, "HoldLost", {"hold_expired", "hold_not_active", "not_found"});
  }
  return {true};
}

// ---- orders ------------------------------------------------------------------------

// The order a checkout makes. Without an idempotency key or an address (a snapshot
// not made by the API) there is none: nullopt.
std::optional<commerce::Order> OrderOf(const commerce::CheckoutInput& c) {
  if (!c.idempotency_key || !c.shipping_address) return std::nullopt;
  commerce::Order order;
  order.order_id = c.order_id;
  order.buyer_id = c.buyer_id;
  order.currency = c.currency;
  order.cart_id = c.cart_id;
  order.idempotency_key = *c.idempotency_key;
  order.workflow_id = commerce::CheckoutWorkflowId(order.order_id);
  order.shipping_address = json::serialize(*c.shipping_address);
  order.subtotal = c.subtotal;
  order.shipping = c.shipping;
  order.tax = c.tax;
  order.total = c.total;
  order.discount = c.discount.value_or(0);
  order.promo_code = c.promo_code.value_or("");
  for (const auto& l : c.lines) {
    order.lines.push_back({l.item_id, l.quantity, l.unit_price, l.seller_id.value_or("")});
  }
  return order;
}

OrderOut CreateOrder(const CommerceDeps* d, const commerce::CheckoutInput& in) {
  auto order = OrderOf(in);
  if (!order) {
    throw ApplicationError("InvalidInput", "the checkout has no idempotency key or address", true);
  }
  auto r = d->shop->orders().Create(std::move(*order));
  if (!r.ok()) Fail(r.status(), "InvalidOrder", {"validation_failed", "constraint"});
  return {r->order_id, r->status};
}

// A checkout refused before it held anything, kept as an order in `rejected` so the
// buyer who was given its id can see why.
OrderOut RejectOrder(const CommerceDeps* d, const RejectIn& in) {
  commerce::Order order;
  if (auto o = OrderOf(in)) {
    order = std::move(*o);
  } else {  // a snapshot too incomplete for an order: keep who and why, nothing else
    order.order_id = in.order_id;
    order.buyer_id = in.buyer_id;
    order.workflow_id = commerce::CheckoutWorkflowId(order.order_id);
  }
  auto r = d->shop->orders().Reject(std::move(order), in.reason);
  if (!r.ok()) Fail(r.status(), "InvalidOrder", {"validation_failed", "constraint"});
  return {r->order_id, r->status};
}

// ---- carts ---------------------------------------------------------------------------

CartStateOut CartState(const CommerceDeps* d, const CartIn& in) {
  auto a = d->shop->carts().LastActivity(in.cart_id);
  if (!a.ok()) Fail(a.status(), "Transient", {});
  return {a->units, a->updated_at};
}

// ---- promotions ----------------------------------------------------------------------

PromoOut ReservePromo(const CommerceDeps* d, const PromoIn& in) {
  Status s = d->shop->promotions().Reserve(in.order_id, in.code, in.buyer_id, in.amount);
  if (!s.ok()) {
    Fail(s, "PromoUnavailable",
         {"promo_not_found", "promo_unavailable", "promo_exhausted", "promo_buyer_limit",
          "validation_failed"});
  }
  return {true};
}

PromoOut ReleasePromo(const CommerceDeps* d, const PromoReleaseIn& in) {
  Status s = d->shop->promotions().Release(in.order_id);
  if (!s.ok()) Fail(s, "Transient", {});
  return {true};
}

StatusOut Transition(const CommerceDeps* d, const TransitionIn& in) {
  Status s = d->shop->orders().Transition(in.order_id, in.from, in.to, in.reason);
  if (!s.ok()) Fail(s, "IllegalTransition", {"illegal_transition", "not_found"});
  return {in.to};
}

ClearedOut ClearCart(const CommerceDeps* d, const ClearCartIn& in) {
  Status s;
  if (in.lines) {
    std::vector<commerce::Carts::OrderedLine> ordered;
    for (const auto& l : *in.lines) ordered.push_back({l.item_id, l.quantity});
    s = d->shop->carts().RemoveOrdered(in.cart_id, in.order_id, ordered);
  } else {
    s = d->shop->carts().Clear(in.cart_id);
  }
  if (!s.ok() && s.code() != StatusCode::kNotFound) Fail(s, "Transient", {});
  return {true};
}

// Starts shipment_tracking for a confirmed order (once: a second start finds the run).
WorkflowIdOut StartTracking(const CommerceDeps* d, const TrackingIn& in) {
  StartWorkflowRequest req;
  req.workflow_id = commerce::ShipmentWorkflowId(in.order_id);
  req.workflow_type = commerce::kShipmentWorkflow;
  req.input = Encode(in);
  req.reuse_policy = proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE;
  auto r = d->history->StartWorkflow(req);
  if (!r.ok() && r.status().reason() != "workflow_id_reuse_rejected")
    Fail(r.status(), "Transient", {});
  return {req.workflow_id};
}

// Delivers a signal to another workflow; once per request_id.
SignalledOut SignalWorkflow(const CommerceDeps* d, const SignalIn& in) {
  Status s = d->history->SignalWorkflow(in.workflow_id, in.signal, in.input, "checkout_saga",
                                        in.request_id);
  if (!s.ok()) Fail(s, "SignalFailed", {"workflow_not_found", "workflow_closed"});
  return {true};
}

// ---- payment -----------------------------------------------------------------------

// The gateway's answers, as far as Keel reads them.
struct GatewayIntent {
  std::string id, status;
  int64_t amount_received = 0, amount_refunded = 0;
  std::optional<std::string> currency;
};
BOOST_DESCRIBE_STRUCT(GatewayIntent, (), (id, status, amount_received, amount_refunded, currency))

template <typename T>
T Reply(const http::ClientResponse& r) {
  try {
    return Decode<T>(Body(r), "reply");
  } catch (const JsonShapeError& e) {
    throw ApplicationError("Unavailable", std::string("unexpected reply: ") + e.what());
  }
}

IntentOut CreateIntent(const CommerceDeps* d, const IntentIn& in) {
  json::object body{{"amount", in.amount},
                    {"currency", in.currency},
                    {"capture_method", "automatic"},
                    {"metadata", json::object{{"order_id", in.order_id}}}};
  auto r = Call(d->payments_url, "POST", "/v1/payment_intents", body, Key(in.order_id, "intent"));
  if (r.status != 200) {
    throw ApplicationError("PaymentRejected", "creating the payment: " + r.body.substr(0, 300),
                           true);
  }
  auto pi = Reply<GatewayIntent>(r);
  return {pi.id, pi.status};
}

IntentOut Confirm(const CommerceDeps* d, const ConfirmIn& in) {
  auto r = Call(d->payments_url, "POST", "/v1/payment_intents/" + in.intent_id + "/confirm",
                json::object{{"payment_method", in.payment_method}}, Key(in.order_id, "confirm"));
  if (r.status == 402) throw ApplicationError("CardDeclined", "the card was declined", true);
  if (r.status != 200) {
    throw ApplicationError("PaymentRejected", "confirming the payment: " + r.body.substr(0, 300),
                           true);
  }
  return {in.intent_id, Reply<GatewayIntent>(r).status};
}

IntentState GetIntent(const CommerceDeps* d, const PaymentIn& in) {
  auto r = Call(d->payments_url, "GET", "/v1/payment_intents/" + in.intent_id, nullptr, "");
  if (r.status != 200) throw ApplicationError("PaymentRejected", r.body.substr(0, 300), true);
  auto pi = Reply<GatewayIntent>(r);
  return {in.intent_id, pi.status, pi.amount_received, pi.amount_refunded, pi.currency};
}

// The compensation of a payment: a charge that went through is refunded in full, one
// that did not is cancelled. Safe to repeat, and safe against the race with a 3DS
// completing at the same moment (a refused cancel is retried, and then refunds).
VoidOut VoidPayment(const CommerceDeps* d, const PaymentIn& in) {
  const std::string& intent = in.intent_id;
  auto g = Call(d->payments_url, "GET", "/v1/payment_intents/" + intent, nullptr, "");
  if (g.status == 404) return {"none", 0};
  if (g.status != 200) throw ApplicationError("Unavailable", g.body.substr(0, 300));
  auto pi = Reply<GatewayIntent>(g);
  if (pi.status == "succeeded") {
    int64_t left = pi.amount_received - pi.amount_refunded;
    if (left <= 0) return {"refunded", 0};
    auto r = Call(d->payments_url, "POST", "/v1/refunds",
                  json::object{{"payment_intent", intent}, {"amount", left}},
                  Key(in.order_id, "refund"));
    if (r.status != 200) {
      throw ApplicationError("Unavailable", "refund refused: " + r.body.substr(0, 300));
    }
    return {"refunded", left};
  }
  if (pi.status == "canceled") return {"cancelled", 0};
  auto r = Call(d->payments_url, "POST", "/v1/payment_intents/" + intent + "/cancel",
                json::object{}, Key(in.order_id, "cancel"));
  if (r.status != 200) {
    // It moved on (3DS completed) between the read and the cancel: look again.
    throw ApplicationError("Unavailable", "cancel refused: " + r.body.substr(0, 300));
  }
  return {"cancelled", 0};
}

// ---- shipping ----------------------------------------------------------------------

ShipmentOut CreateShipment(const CommerceDeps* d, const ShipmentIn& in) {
  json::object body{{"reference", in.order_id},
                    {"address", in.shipping_address},
                    {"metadata", json::object{{"order_id", in.order_id}}}};
  auto r = Call(d->carrier_url, "POST", "/v1/shipments", body, Key(in.order_id, "shipment"));
  if (r.status != 200 && r.status != 201) {
    throw ApplicationError("ShipmentRejected", r.body.substr(0, 300), true);
  }
  return Reply<ShipmentOut>(r);
}

CancelledOut CancelShipment(const CommerceDeps* d, const CancelShipmentIn& in) {
  auto r = Call(d->carrier_url, "POST", "/v1/shipments/" + in.shipment_id + "/cancel",
                json::object{}, "");
  if (r.status == 409 || ErrorCode(Body(r)) == "shipment_in_transit") {
    throw ApplicationError("AlreadyShipped", "the parcel has left: " + r.body.substr(0, 200), true);
  }
  if (r.status != 200) throw ApplicationError("ShipmentRejected", r.body.substr(0, 300), true);
  return {true};
}

// ---- notifications -----------------------------------------------------------------

EventOut Notify(const CommerceDeps* d, const NotifyIn& in) {
  commerce::Notification n{in.event_id, in.user_id, in.order_id, in.type, in.message, 0};
  Status s = d->shop->notifications().Add(n);
  if (!s.ok()) Fail(s, "InvalidNotification", {"validation_failed"});
  return {n.event_id};
}

template <typename In, typename Out>
void Reg(Registry& registry, const CommerceDeps* deps, ActivityRef<In, Out> ref,
         Out (*fn)(const CommerceDeps*, const In&)) {
  Register(registry, ref, [deps, fn](ActivityContext&, const In& in) { return fn(deps, in); });
}

}  // namespace

void RegisterCommerceActivities(Registry& registry, const CommerceDeps* deps) {
  Reg(registry, deps, kReserve, Reserve);
  Reg(registry, deps, kRelease, Release);
  Reg(registry, deps, kCommit, Commit);
  Reg(registry, deps, kCreateOrder, CreateOrder);
  Reg(registry, deps, kRejectOrder, RejectOrder);
  Reg(registry, deps, kTransitionOrder, Transition);
  Reg(registry, deps, kClearCart, ClearCart);
  Reg(registry, deps, kCartState, CartState);
  Reg(registry, deps, kReservePromo, ReservePromo);
  Reg(registry, deps, kReleasePromo, ReleasePromo);
  Reg(registry, deps, kStartTracking, StartTracking);
  Reg(registry, deps, kSignal, SignalWorkflow);
  Reg(registry, deps, kCreateIntent, CreateIntent);
  Reg(registry, deps, kConfirm, Confirm);
  Reg(registry, deps, kGetIntent, GetIntent);
  Reg(registry, deps, kVoidPayment, VoidPayment);
  Reg(registry, deps, kCreateShipment, CreateShipment);
  Reg(registry, deps, kCancelShipment, CancelShipment);
  Reg(registry, deps, kNotify, Notify);
}

}  // namespace keel::activities
