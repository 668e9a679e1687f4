#include "activities/commerce_activities.h"

#include "engine/errors.h"
#include "http/client.h"
#include "workflows/commerce_workflows.h"

namespace keel::activities {
namespace {

const json::object& Obj(const json::value& v) {
  if (!v.is_object())
    throw ApplicationError("InvalidInput", "activity input must be an object", true);
  return v.as_object();
}
std::string Str(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  if (!v || !v->is_string()) {
    throw ApplicationError("InvalidInput", std::string("missing string field ") + k, true);
  }
  return std::string(v->as_string());
}
int64_t Int(const json::object& o, const char* k) {
  const json::value* v = o.if_contains(k);
  if (!v || !v->is_int64()) {
    throw ApplicationError("InvalidInput", std::string("missing integer field ") + k, true);
  }
  return v->as_int64();
}
std::vector<std::string> Strings(const json::object& o, const char* k) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(k);
  if (!v || !v->is_array()) {
    throw ApplicationError("InvalidInput", std::string("missing array field ") + k, true);
  }
  for (const auto& s : v->as_array()) out.emplace_back(s.as_string());
  return out;
}

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

json::value Reserve(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  commerce::HoldRequest h{Str(o, "hold_id"), Str(o, "sku"), Int(o, "quantity")};
  commerce::BuyerLimits buyer;
  if (const json::value* lim = o.if_contains("buyer_limits"); lim && lim->is_object()) {
    buyer.buyer_id = Str(o, "buyer_id");
    buyer.max_units = Int(lim->as_object(), "max_held_units");
    buyer.max_orders = Int(lim->as_object(), "max_pending_orders");
  }
  Status s = d->shop->inventory().Reserve({h}, Str(o, "order_id"), Int(o, "ttl_ms"), buyer);
  if (s.reason() == "buyer_limit") throw ApplicationError("BuyerLimit", s.message(), true);
  if (!s.ok()) {
    Fail(s, "InsufficientStock",
         {"insufficient_stock", "hold_not_active", "not_found", "validation_failed"});
  }
  return json::object{{"hold_id", h.hold_id}};
}

json::value Release(const CommerceDeps* d, const json::value& in) {
  for (const auto& id : Strings(Obj(in), "hold_ids")) {
    Status s = d->shop->inventory().Release(id);
    if (!s.ok()) Fail(s, "Transient", {});
  }
  return json::object{{"released", true}};
}

json::value Commit(const CommerceDeps* d, const json::value& in) {
  for (const auto& id : Strings(Obj(in), "hold_ids")) {
    Status s = d->shop->inventory().Commit(id);
    if (!s.ok()) Fail(s, "HoldLost", {"hold_expired", "hold_not_active", "not_found"});
  }
  return json::object{{"committed", true}};
}

// ---- orders ------------------------------------------------------------------------

commerce::Order OrderOf(const json::object& o) {
  commerce::Order order;
  order.order_id = Str(o, "order_id");
  order.buyer_id = Str(o, "buyer_id");
  order.currency = Str(o, "currency");
  order.cart_id = Str(o, "cart_id");
  order.idempotency_key = Str(o, "idempotency_key");
  order.workflow_id = workflows::CheckoutWorkflowId(order.order_id);
  order.shipping_address = json::serialize(o.at("shipping_address"));
  order.subtotal = Int(o, "subtotal");
  order.shipping = Int(o, "shipping");
  order.tax = Int(o, "tax");
  order.total = Int(o, "total");
  for (const auto& l : o.at("lines").as_array()) {
    const auto& lo = l.as_object();
    order.lines.push_back({Str(lo, "item_id"), Int(lo, "quantity"), Int(lo, "unit_price")});
  }
  return order;
}

json::value CreateOrder(const CommerceDeps* d, const json::value& in) {
  auto r = d->shop->orders().Create(OrderOf(Obj(in)));
  if (!r.ok()) Fail(r.status(), "InvalidOrder", {"validation_failed", "constraint"});
  return json::object{{"order_id", r->order_id}, {"status", r->status}};
}

// A checkout refused before it held anything, kept as an order in `rejected` so the
// buyer who was given its id can see why. Input: the checkout's, plus "reason".
json::value RejectOrder(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  commerce::Order order;
  try {
    order = OrderOf(o);
  } catch (const std::exception&) {
    // A snapshot too malformed to read: keep who and why, nothing else.
    order.order_id = Str(o, "order_id");
    order.buyer_id = Str(o, "buyer_id");
    order.workflow_id = workflows::CheckoutWorkflowId(order.order_id);
    order.currency = "";
    order.lines.clear();
  }
  auto r = d->shop->orders().Reject(std::move(order), Str(o, "reason"));
  if (!r.ok()) Fail(r.status(), "InvalidOrder", {"validation_failed", "constraint"});
  return json::object{{"order_id", r->order_id}, {"status", r->status}};
}

json::value Transition(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  Status s = d->shop->orders().Transition(Str(o, "order_id"), Str(o, "from"), Str(o, "to"),
                                          Str(o, "reason"));
  if (!s.ok()) Fail(s, "IllegalTransition", {"illegal_transition", "not_found"});
  return json::object{{"status", Str(o, "to")}};
}

// Takes the order's lines out of the cart (lines added since stay). Sagas recorded
// before orders carried their lines here empty the whole cart, as they did then.
json::value ClearCart(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  Status s;
  if (const json::value* lines = o.if_contains("lines"); lines && lines->is_array()) {
    std::vector<commerce::Carts::OrderedLine> ordered;
    for (const auto& l : lines->as_array()) {
      const auto& lo = Obj(l);
      ordered.push_back({Str(lo, "item_id"), Int(lo, "quantity")});
    }
    s = d->shop->carts().RemoveOrdered(Str(o, "cart_id"), Str(o, "order_id"), ordered);
  } else {
    s = d->shop->carts().Clear(Str(o, "cart_id"));
  }
  if (!s.ok() && s.code() != StatusCode::kNotFound) Fail(s, "Transient", {});
  return json::object{{"cleared", true}};
}

// Starts shipment_tracking for a confirmed order (once: a second start finds the run).
json::value StartTracking(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  StartWorkflowRequest req;
  req.workflow_id = workflows::ShipmentWorkflowId(Str(o, "order_id"));
  req.workflow_type = workflows::kShipmentWorkflow;
  req.input = in;
  req.reuse_policy = proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE;
  auto r = d->history->StartWorkflow(req);
  if (!r.ok() && r.status().reason() != "workflow_id_reuse_rejected")
    Fail(r.status(), "Transient", {});
  return json::object{{"workflow_id", req.workflow_id}};
}

// Delivers a signal to another workflow; once per request_id.
json::value SignalWorkflow(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  Status s = d->history->SignalWorkflow(Str(o, "workflow_id"), Str(o, "signal"), o.at("input"),
                                        "checkout_saga", Str(o, "request_id"));
  if (!s.ok()) Fail(s, "SignalFailed", {"workflow_not_found", "workflow_closed"});
  return json::object{{"signalled", true}};
}

// ---- payment -----------------------------------------------------------------------

json::value CreateIntent(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  const std::string order_id = Str(o, "order_id");
  json::object body{{"amount", Int(o, "amount")},
                    {"currency", Str(o, "currency")},
                    {"capture_method", "automatic"},
                    {"metadata", json::object{{"order_id", order_id}}}};
  auto r = Call(d->payments_url, "POST", "/v1/payment_intents", body, Key(order_id, "intent"));
  json::value b = Body(r);
  if (r.status != 200) {
    throw ApplicationError("PaymentRejected", "creating the payment: " + r.body.substr(0, 300),
                           true);
  }
  return json::object{{"intent_id", b.at("id")}, {"status", b.at("status")}};
}

json::value Confirm(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  const std::string order_id = Str(o, "order_id");
  const std::string intent = Str(o, "intent_id");
  auto r =
      Call(d->payments_url, "POST", "/v1/payment_intents/" + intent + "/confirm",
           json::object{{"payment_method", Str(o, "payment_method")}}, Key(order_id, "confirm"));
  json::value b = Body(r);
  if (r.status == 402) throw ApplicationError("CardDeclined", "the card was declined", true);
  if (r.status != 200) {
    throw ApplicationError("PaymentRejected", "confirming the payment: " + r.body.substr(0, 300),
                           true);
  }
  return json::object{{"intent_id", intent}, {"status", b.at("status")}};
}

json::value GetIntent(const CommerceDeps* d, const json::value& in) {
  const std::string intent = Str(Obj(in), "intent_id");
  auto r = Call(d->payments_url, "GET", "/v1/payment_intents/" + intent, nullptr, "");
  json::value b = Body(r);
  if (r.status != 200) throw ApplicationError("PaymentRejected", r.body.substr(0, 300), true);
  json::object out{{"intent_id", intent},
                   {"status", b.at("status")},
                   {"amount_received", b.at("amount_received")},
                   {"amount_refunded", b.at("amount_refunded")}};
  if (const json::value* cur = b.as_object().if_contains("currency")) out["currency"] = *cur;
  return out;
}

// The compensation of a payment: a charge that went through is refunded in full, one
// that did not is cancelled. Safe to repeat, and safe against the race with a 3DS
// completing at the same moment (a refused cancel is retried, and then refunds).
json::value VoidPayment(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  const std::string order_id = Str(o, "order_id");
  const std::string intent = Str(o, "intent_id");
  auto g = Call(d->payments_url, "GET", "/v1/payment_intents/" + intent, nullptr, "");
  json::value pi = Body(g);
  if (g.status == 404) return json::object{{"action", "none"}, {"amount", 0}};
  if (g.status != 200) throw ApplicationError("Unavailable", g.body.substr(0, 300));
  const std::string status(pi.at("status").as_string());
  if (status == "succeeded") {
    int64_t left = pi.at("amount_received").as_int64() - pi.at("amount_refunded").as_int64();
    if (left <= 0) return json::object{{"action", "refunded"}, {"amount", 0}};
    auto r =
        Call(d->payments_url, "POST", "/v1/refunds",
             json::object{{"payment_intent", intent}, {"amount", left}}, Key(order_id, "refund"));
    if (r.status != 200) {
      throw ApplicationError("Unavailable", "refund refused: " + r.body.substr(0, 300));
    }
    return json::object{{"action", "refunded"}, {"amount", left}};
  }
  if (status == "canceled") return json::object{{"action", "cancelled"}, {"amount", 0}};
  auto r = Call(d->payments_url, "POST", "/v1/payment_intents/" + intent + "/cancel",
                json::object{}, Key(order_id, "cancel"));
  if (r.status != 200) {
    // It moved on (3DS completed) between the read and the cancel: look again.
    throw ApplicationError("Unavailable", "cancel refused: " + r.body.substr(0, 300));
  }
  return json::object{{"action", "cancelled"}, {"amount", 0}};
}

// ---- shipping ----------------------------------------------------------------------

json::value CreateShipment(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  const std::string order_id = Str(o, "order_id");
  json::object body{{"reference", order_id},
                    {"address", o.at("shipping_address")},
                    {"metadata", json::object{{"order_id", order_id}}}};
  auto r = Call(d->carrier_url, "POST", "/v1/shipments", body, Key(order_id, "shipment"));
  json::value b = Body(r);
  if (r.status != 200 && r.status != 201) {
    throw ApplicationError("ShipmentRejected", r.body.substr(0, 300), true);
  }
  return json::object{{"shipment_id", b.at("shipment_id")},
                      {"tracking_number", b.at("tracking_number")}};
}

json::value CancelShipment(const CommerceDeps* d, const json::value& in) {
  const std::string id = Str(Obj(in), "shipment_id");
  auto r = Call(d->carrier_url, "POST", "/v1/shipments/" + id + "/cancel", json::object{}, "");
  if (r.status == 409 || ErrorCode(Body(r)) == "shipment_in_transit") {
    throw ApplicationError("AlreadyShipped", "the parcel has left: " + r.body.substr(0, 200), true);
  }
  if (r.status != 200) throw ApplicationError("ShipmentRejected", r.body.substr(0, 300), true);
  return json::object{{"cancelled", true}};
}

// ---- notifications -----------------------------------------------------------------

json::value Notify(const CommerceDeps* d, const json::value& in) {
  const auto& o = Obj(in);
  commerce::Notification n{Str(o, "event_id"), Str(o, "user_id"), Str(o, "order_id"),
                           Str(o, "type"),     Str(o, "message"), 0};
  Status s = d->shop->notifications().Add(n);
  if (!s.ok()) Fail(s, "InvalidNotification", {"validation_failed"});
  return json::object{{"event_id", n.event_id}};
}

}  // namespace

void RegisterCommerceActivities(Registry& registry, const CommerceDeps* deps) {
  auto reg = [&](const char* name, json::value (*fn)(const CommerceDeps*, const json::value&),
                 const char* queue) {
    registry.RegisterActivity(
        name, [deps, fn](ActivityContext&, const json::value& in) { return fn(deps, in); }, queue);
  };
  reg("inventory.reserve", Reserve, kInventoryQueue);
  reg("inventory.release", Release, kInventoryQueue);
  reg("inventory.commit", Commit, kInventoryQueue);
  reg("orders.create", CreateOrder, kOrdersQueue);
  reg("orders.reject", RejectOrder, kOrdersQueue);
  reg("orders.transition", Transition, kOrdersQueue);
  reg("orders.clear_cart", ClearCart, kOrdersQueue);
  reg("orders.start_tracking", StartTracking, kOrdersQueue);
  reg("orders.signal", SignalWorkflow, kOrdersQueue);
  reg("payment.create_intent", CreateIntent, kPaymentQueue);
  reg("payment.confirm", Confirm, kPaymentQueue);
  reg("payment.get", GetIntent, kPaymentQueue);
  reg("payment.void", VoidPayment, kPaymentQueue);
  reg("shipping.create_shipment", CreateShipment, kShippingQueue);
  reg("shipping.cancel_shipment", CancelShipment, kShippingQueue);
  reg("notify", Notify, kNotificationsQueue);
}

}  // namespace keel::activities
