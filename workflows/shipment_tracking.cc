// shipment_tracking: see workflows/commerce_workflows.h for the contract.

#include "activities/contracts.h"
#include "engine/combinators.h"
#include "engine/errors.h"
#include "workflows/commerce_workflows.h"
#include "workflows/steps.h"

namespace keel::workflows {
namespace {

using activities::kInventoryQueue;
using activities::kPaymentQueue;
using activities::kShippingQueue;

using activities::TrackingIn;

// Money back and units back on the shelf, then `from` -> `to` -> refunded.
Workflow<Unit> RefundAndRestock(WorkflowContext* ctx, TrackingIn s, std::string from,
                                std::string to, std::string reason, std::string notice) {
  const activities::PaymentIn payment{s.order_id, s.intent_id};
  co_await Call(*ctx, activities::kVoidPayment, payment, CompensationOptions(kPaymentQueue));
  const activities::HoldsIn release{s.hold_ids};
  co_await Call(*ctx, activities::kRelease, release, CompensationOptions(kInventoryQueue));
  co_await TransitionOrder(ctx, s.order_id, from, to, reason);
  co_await TransitionOrder(ctx, s.order_id, to, "refunded", "payment refunded");
  co_await NotifyBuyer(ctx, s.buyer_id, s.order_id, notice,
                       "Order " + s.order_id + ": " + reason + "; your payment was refunded");
  co_return Unit{};
}

Workflow<ShipmentResult> ShipmentTracking(WorkflowContext& ctx, TrackingIn s) {
  const Millis return_window_ms = s.return_window_ms.value_or(kDefaultReturnWindowMs);
  co_await TransitionOrder(&ctx, s.order_id, "confirmed", "fulfilling", "shipment requested");
  const activities::ShipmentIn ship{s.order_id, s.shipping_address};
  const activities::ShipmentOut shipment =
      co_await Call(ctx, activities::kCreateShipment, ship, StepOptions(kShippingQueue));
  const std::string& shipment_id = shipment.shipment_id;

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
    return ShipmentResult{s.order_id, status, shipment_id, shipment.tracking_number};
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
        return_window = ctx.NewTimer(return_window_ms);
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
        const activities::CancelShipmentIn stop{shipment_id};
        co_await Call(ctx, activities::kCancelShipment, stop, StepOptions(kShippingQueue));
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
  Register(registry, kShipmentTracking, ShipmentTracking);
}

}  // namespace keel::workflows
