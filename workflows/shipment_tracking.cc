// shipment_tracking: see workflows/commerce_workflows.h for the contract.

#include "activities/commerce_activities.h"
#include "engine/combinators.h"
#include "engine/errors.h"
#include "workflows/commerce_workflows.h"
#include "workflows/steps.h"

namespace keel::workflows {
namespace {

using activities::kInventoryQueue;
using activities::kPaymentQueue;
using activities::kShippingQueue;

struct Shipment {
  std::string order_id, buyer_id, intent_id;
  std::vector<std::string> holds;
  json::value address;
  Millis return_window_ms = 0;
};

// Money back and units back on the shelf, then `from` -> `to` -> refunded.
Workflow<Unit> RefundAndRestock(WorkflowContext* ctx, Shipment s, std::string from, std::string to,
                                std::string reason, std::string notice) {
  json::object in0 = json::object{{"order_id", s.order_id}, {"intent_id", s.intent_id}};
  co_await ctx->ExecuteActivity("payment.void", in0, CompensationOptions(kPaymentQueue));
  json::object in1 = json::object{{"hold_ids", ToJson(s.holds)}};
  co_await ctx->ExecuteActivity("inventory.release", in1, CompensationOptions(kInventoryQueue));
  co_await TransitionOrder(ctx, s.order_id, from, to, reason);
  co_await TransitionOrder(ctx, s.order_id, to, "refunded", "payment refunded");
  co_await NotifyBuyer(ctx, s.buyer_id, s.order_id, notice,
                       "Order " + s.order_id + ": " + reason + "; your payment was refunded");
  co_return Unit{};
}

Workflow<json::value> ShipmentTracking(WorkflowContext& ctx, json::value input) {
  InputReader r(input, "shipment_tracking");
  Shipment s;
  s.order_id = r.Str("order_id");
  s.buyer_id = r.Str("buyer_id");
  s.intent_id = r.Str("intent_id");
  s.holds = StringsOf(r.Array("hold_ids"));
  s.address = input.at("shipping_address");
  s.return_window_ms = r.Int("return_window_ms", kDefaultReturnWindowMs);

  co_await TransitionOrder(&ctx, s.order_id, "confirmed", "fulfilling", "shipment requested");
  json::object in2 = json::object{{"order_id", s.order_id}, {"shipping_address", s.address}};
  json::value shipment =
      co_await ctx.ExecuteActivity("shipping.create_shipment", in2, StepOptions(kShippingQueue));
  const std::string shipment_id(shipment.at("shipment_id").as_string());

  SignalChannel& carrier = ctx.GetSignalChannel("carrier");
  SignalChannel& cancel = ctx.GetSignalChannel("cancel");
  SignalChannel& ret = ctx.GetSignalChannel("return");
  Future<json::value> next_carrier = carrier.Receive();
  Future<json::value> next_cancel = cancel.Receive();
  Future<json::value> next_return = ret.Receive();
  std::string stage = "fulfilling";
  ctx.SetQueryHandler("state", [&](const json::value&) -> json::value {
    return json::object{{"order_id", s.order_id}, {"stage", stage}, {"shipment_id", shipment_id}};
  });
  Timer return_window;
  int refused = 0;
  auto done = [&](const std::string& status) {
    return json::object{{"order_id", s.order_id},
                        {"status", status},
                        {"shipment_id", shipment_id},
                        {"tracking_number", shipment.at("tracking_number")}};
  };

  while (true) {
    size_t which = stage == "delivered" ? co_await WhenAny(next_carrier, next_cancel, next_return,
                                                           return_window.fired())
                                        : co_await WhenAny(next_carrier, next_cancel, next_return);
    if (which == 0) {
      // Carrier events arrive at least once and in any order: act on progress only.
      json::value ev = next_carrier.Get();
      next_carrier = carrier.Receive();
      // An event about another parcel (or none named) is not about this order's.
      const json::value* about = ev.as_object().if_contains("shipment_id");
      if (!about || !about->is_string() || about->as_string() != shipment_id) continue;
      const std::string status(ev.at("status").as_string());
      const bool moving = status == "in_transit" || status == "out_for_delivery";
      if ((moving || status == "delivered") && stage == "fulfilling") {
        co_await TransitionOrder(&ctx, s.order_id, "fulfilling", "shipped", "carrier: " + status);
        co_await NotifyBuyer(&ctx, s.buyer_id, s.order_id, "order_shipped",
                             "Order " + s.order_id + " is on its way");
        stage = "shipped";
      }
      if (status == "delivered" && stage == "shipped") {
        co_await TransitionOrder(&ctx, s.order_id, "shipped", "delivered", "carrier: delivered");
        co_await NotifyBuyer(&ctx, s.buyer_id, s.order_id, "order_delivered",
                             "Order " + s.order_id + " was delivered");
        stage = "delivered";
        return_window = ctx.NewTimer(s.return_window_ms);
      }
      if (status == "exception") {
        // The carrier gave up on the parcel: an operator takes it from here.
        co_await NotifyBuyer(&ctx, s.buyer_id, s.order_id, "shipment_exception",
                             "Order " + s.order_id + ": the carrier reported a problem");
        co_return done("exception");
      }
    } else if (which == 1) {
      next_cancel = cancel.Receive();
      if (stage != "fulfilling") continue;  // the API refuses these; a late one is moot
      bool left = false;
      try {
        json::object in3 = json::object{{"shipment_id", shipment_id}};
        co_await ctx.ExecuteActivity("shipping.cancel_shipment", in3, StepOptions(kShippingQueue));
      } catch (const ActivityError& e) {
        if (e.type() != "AlreadyShipped") throw;
        left = true;
      }
      if (left) {
        co_await NotifyBuyer(&ctx, s.buyer_id, s.order_id,
                             "cancel_refused_" + std::to_string(++refused),
                             "Order " + s.order_id + " has already left the warehouse");
        continue;
      }
      co_await RefundAndRestock(&ctx, s, "fulfilling", "cancelled", "cancelled by the buyer",
                                "order_cancelled");
      co_return done("refunded");
    } else if (which == 2) {
      next_return = ret.Receive();
      if (stage != "delivered") continue;
      return_window.Cancel();
      co_await RefundAndRestock(&ctx, s, "delivered", "returned", "returned by the buyer",
                                "order_returned");
      co_return done("refunded");
    } else {
      co_return done("delivered");
    }
  }
}

}  // namespace

void RegisterShipmentTracking(Registry& registry) {
  registry.RegisterWorkflow(kShipmentWorkflow, ShipmentTracking);
}

}  // namespace keel::workflows
