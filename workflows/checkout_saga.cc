// checkout_saga: see workflows/commerce_workflows.h for the steps and the contract.

#include "activities/contracts.h"
#include "engine/combinators.h"
#include "engine/errors.h"
#include "engine/saga.h"
#include "workflows/commerce_workflows.h"
#include "workflows/steps.h"

namespace keel::workflows {
namespace {

using activities::kInventoryQueue;
using activities::kOrdersQueue;
using activities::kPaymentQueue;
using commerce::CheckoutInput;

// Why the snapshot cannot be checked out, or "".
std::string Invalid(const CheckoutInput& c) {
  if (c.lines.empty()) return "the cart is empty";
  int64_t subtotal = 0;
  for (const auto& l : c.lines) {
    if (l.quantity < 1 || l.unit_price < 0) return "line " + l.item_id + " is malformed";
    subtotal += l.quantity * l.unit_price;
  }
  const int64_t discount = c.discount.value_or(0);
  if (discount < 0 || discount > subtotal || (discount > 0) != c.promo_code.has_value()) {
    return "the discount is malformed";
  }
  if (subtotal != c.subtotal || c.total != c.subtotal - discount + c.shipping + c.tax) {
    return "the totals do not add up";
  }
  if (c.payment_window_ms < 1 || c.hold_ttl_ms < c.payment_window_ms) return "bad windows";
  return "";
}

CheckoutResult Result(const CheckoutInput& c, const std::string& status,
                      const std::string& reason = "", const std::string& detail = "") {
  CheckoutResult r{c.order_id, status};
  if (!reason.empty()) r.reason = reason;
  if (!detail.empty()) r.detail = detail;
  return r;
}

// How a checkout that made an order ends when it fails: the payment voided, the holds
// released, the order moved to `status` (and on to refunded when money came back
// from a paid order the buyer cancelled), the buyer told.
Workflow<CheckoutResult> Unwind(WorkflowContext* ctx, CheckoutInput c,
                                std::vector<std::string> holds, std::string intent_id,
                                std::string status, std::string reason, std::string detail) {
  int64_t refunded = 0;
  if (!intent_id.empty()) {
    const activities::PaymentIn payment{c.order_id, intent_id};
    activities::VoidOut v =
        co_await Call(*ctx, activities::kVoidPayment, payment, CompensationOptions(kPaymentQueue));
    refunded = v.amount;
  }
  const activities::HoldsIn release{holds};
  co_await Call(*ctx, activities::kRelease, release, CompensationOptions(kInventoryQueue));
  if (c.promo_code) {
    const activities::PromoReleaseIn promo{c.order_id};
    co_await Call(*ctx, activities::kReleasePromo, promo, CompensationOptions(kOrdersQueue));
  }
  co_await TransitionOrder(ctx, c.order_id, "pending_payment", status, reason);
  if (refunded > 0) {
    co_await TransitionOrder(ctx, c.order_id, status, "refunded", "payment refunded");
  }
  const char* type = status == "payment_failed" ? "payment_failed"
                     : status == "expired"      ? "order_expired"
                                                : "order_cancelled";
  co_await NotifyBuyer(
      ctx, c.buyer_id, c.order_id, type,
      "Order " + c.order_id + ": " + reason + (refunded > 0 ? "; your payment was refunded" : ""));
  co_return Result(c, refunded > 0 ? "refunded" : status, reason, detail);
}

// What the gateway itself says of the intent a webhook spoke of, as an event type:
// "payment_intent.succeeded" (for exactly the order's total), ".payment_failed",
// ".canceled", "payment_error" (succeeded for another amount), or "" when it is
// still pending (a forged or early webhook). A gateway that cannot be read before
// the window ends is a payment error.
Workflow<std::string> VerifiedOutcome(WorkflowContext* ctx, CheckoutInput c, std::string intent_id,
                                      Millis window_left_ms) {
  activities::IntentState pi;
  try {
    const activities::PaymentIn payment{c.order_id, intent_id};
    pi = co_await Call(*ctx, activities::kGetIntent, payment, PaymentOptions(window_left_ms));
  } catch (const ActivityError&) {
    co_return "payment_error";
  }
  const std::string& status = pi.status;
  if (status == "succeeded") {
    auto lower = [](std::string s) {
      for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return s;
    };
    const bool exact =
        pi.amount_received == c.total && (!pi.currency || lower(*pi.currency) == lower(c.currency));
    co_return exact ? "payment_intent.succeeded" : "payment_error";
  }
  if (status == "canceled") co_return "payment_intent.canceled";
  if (status == "requires_payment_method") co_return "payment_intent.payment_failed";
  co_return "";
}

// A checkout refused before it held anything becomes an order in `rejected`, so the
// buyer who was given its id can see why (sagas recorded before the order came first
// ended with no order).
Workflow<CheckoutResult> Rejected(WorkflowContext* ctx, CheckoutInput c, bool keep_order,
                                  std::string reason, std::string detail) {
  if (keep_order) {
    activities::RejectIn in;
    static_cast<CheckoutInput&>(in) = c;
    in.reason = reason;
    co_await Call(*ctx, activities::kRejectOrder, in, StepOptions(kOrdersQueue));
  }
  co_return Result(c, "rejected", reason, detail);
}

Workflow<CheckoutResult> CheckoutSaga(WorkflowContext& ctx, CheckoutInput c) {
  // Version 1: the order is made first (pending_payment, or rejected when the snapshot
  // is refused), so every order id the API hands out has an order behind it.
  const bool order_first =
      ctx.GetVersion(kOrderFirstChange, WorkflowContext::kDefaultVersion, 1) == 1;
  // Query "state": where the saga is, for operators (`keel workflow query`).
  std::string step = "validating";
  std::string fail_status, reason, detail, intent_id;
  ctx.SetQueryHandler("state", [&](const json::value&) -> json::value {
    return json::object{{"order_id", c.order_id},
                        {"step", step},
                        {"payment_intent", intent_id},
                        {"failing", fail_status}};
  });
  // 1. The snapshot and the amount the client was shown.
  if (std::string why = Invalid(c); !why.empty()) {
    co_return co_await Rejected(&ctx, c, order_first, "invalid_checkout", why);
  }
  if (c.amount != c.total) {
    co_return co_await Rejected(&ctx, c, order_first, "amount_mismatch",
                                "the client expected " + std::to_string(c.amount) +
                                    " but the total is " + std::to_string(c.total));
  }
  if (order_first) {
    step = "creating_order";
    co_await Call(ctx, activities::kCreateOrder, c, StepOptions(kOrdersQueue));
  }
  SignalChannel& cancel = ctx.GetSignalChannel("cancel");
  SignalChannel& payment = ctx.GetSignalChannel("payment");
  // A workflow cancel request (`keel workflow cancel`, POST /v1/.../cancel) counts as
  // the buyer's cancel until the order is confirmed. (Sagas recorded before this
  // change ignored it, and replay keeps them so.)
  const bool honour_cancel_request =
      ctx.GetVersion(kCancelRequestChange, WorkflowContext::kDefaultVersion, 1) == 1;
  auto cancelled = [&]() {
    return cancel.TryReceive().has_value() || (honour_cancel_request && ctx.IsCancelRequested());
  };

  // 2. The promotion's redemption (given back by every unwind), then holds for every
  // line, in parallel; all or none.
  Saga saga(ctx);
  if (c.promo_code) {
    step = "redeeming";
    std::string refused_promo;
    try {
      const activities::PromoIn promo{c.order_id, *c.promo_code, c.buyer_id,
                                      c.discount.value_or(0)};
      co_await Call(ctx, activities::kReservePromo, promo, StepOptions(kOrdersQueue));
    } catch (const ActivityError& e) {
      refused_promo = e.what();
    }
    if (!refused_promo.empty()) {
      co_await TransitionOrder(&ctx, c.order_id, "pending_payment", "rejected",
                               "promo_unavailable");
      co_return Result(c, "rejected", "promo_unavailable", refused_promo);
    }
    AddCompensation(saga, activities::kReleasePromo, {c.order_id},
                    CompensationOptions(kOrdersQueue));
  }
  step = "reserving";
  std::vector<std::string> holds;
  std::vector<Future<activities::HoldOut>> reserving;
  for (const auto& l : c.lines) {
    holds.push_back(HoldId(c.order_id, l.item_id));
    const activities::ReserveIn reserve{c.order_id,    holds.back(), l.item_id,     l.quantity,
                                        c.hold_ttl_ms, c.buyer_id,   c.buyer_limits};
    reserving.push_back(Call(ctx, activities::kReserve, reserve, StepOptions(kInventoryQueue)));
  }
  AddCompensation(saga, activities::kRelease, {holds}, CompensationOptions(kInventoryQueue));
  std::string refused, refused_type;
  try {
    co_await WhenAll(reserving);
  } catch (const ActivityError& e) {
    refused = e.what();
    refused_type = e.type();
  }
  if (!refused.empty()) {
    co_await saga.Compensate();
    const char* why = refused_type == "InsufficientStock" ? "insufficient_stock"
                      : refused_type == "BuyerLimit"      ? "buyer_limit"
                                                          : "reservation_failed";
    if (order_first) co_await TransitionOrder(&ctx, c.order_id, "pending_payment", "rejected", why);
    co_return Result(c, "rejected", why, refused);
  }

  // 3. The order (made before the holds since version 1).
  if (!order_first) {
    step = "creating_order";
    co_await Call(ctx, activities::kCreateOrder, c, StepOptions(kOrdersQueue));
  }
  Timer window = ctx.NewTimer(c.payment_window_ms);
  const Millis pay_by = ctx.Now() + c.payment_window_ms;
  auto left = [&]() { return std::max<Millis>(1, pay_by - ctx.Now()); };

  if (cancelled()) {
    fail_status = "cancelled";
    reason = "cancelled by the buyer";
  }

  step = "charging";
  // 4. Charge: create the intent, then confirm it. 5xx and timeouts are retried with
  // the same keys until the window ends; a decline is final.
  std::string pay_status;
  if (fail_status.empty()) {
    try {
      const activities::IntentIn create{c.order_id, c.total, c.currency};
      activities::IntentOut r =
          co_await Call(ctx, activities::kCreateIntent, create, PaymentOptions(left()));
      intent_id = r.intent_id;
    } catch (const ActivityError& e) {
      fail_status = "payment_failed";
      reason = "the payment could not be started";
      detail = e.what();
    }
  }
  if (fail_status.empty()) {
    try {
      const activities::ConfirmIn confirm{c.order_id, intent_id, c.payment_method};
      activities::IntentOut r =
          co_await Call(ctx, activities::kConfirm, confirm, PaymentOptions(left()));
      pay_status = r.status;
    } catch (const ActivityError& e) {
      fail_status = "payment_failed";
      reason = e.type() == "CardDeclined" ? "card_declined" : "payment_error";
      detail = e.what();
    }
  }

  // 5. 3DS: the gateway's webhook (signal "payment") against the window and a cancel.
  // A webhook is a claim, not proof: the saga reads the intent back from the gateway
  // before it believes one, and 3DS may have a shorter window of its own. (Sagas
  // recorded before these guards replay without them.)
  if (fail_status.empty() && pay_status == "requires_action") {
    step = "awaiting_3ds";
    const bool guarded =
        ctx.GetVersion(kPaymentGuardsChange, WorkflowContext::kDefaultVersion, 1) == 1;
    Timer action_window;
    const Millis action_window_ms = c.action_window_ms.value_or(0);
    const bool short_action = guarded && action_window_ms > 0 && action_window_ms < left();
    if (short_action) action_window = ctx.NewTimer(action_window_ms);
    const Future<bool>& deadline = short_action ? action_window.fired() : window.fired();
    Future<json::value> next_payment = payment.Receive();
    Future<json::value> next_cancel = cancel.Receive();
    while (pay_status == "requires_action") {
      size_t which;
      if (honour_cancel_request) {
        Future<Unit> cancel_request = ctx.CancelRequested();
        which = co_await WhenAny(next_payment, next_cancel, deadline, cancel_request);
        if (which == 3) which = 1;  // a cancel request is a cancel
      } else {
        which = co_await WhenAny(next_payment, next_cancel, deadline);
      }
      if (which == 0) {
        json::value ev = next_payment.Get();
        next_payment = payment.Receive();
        if (ev.at("intent_id").as_string() != intent_id) continue;
        std::string type(ev.at("type").as_string());
        if (guarded &&
            (type == "payment_intent.succeeded" || type == "payment_intent.payment_failed" ||
             type == "payment_intent.canceled")) {
          type = co_await VerifiedOutcome(&ctx, c, intent_id, left());
          if (type.empty()) continue;  // the gateway does not agree (yet): keep waiting
        }
        if (type == "payment_intent.succeeded") pay_status = "succeeded";
        if (type == "payment_intent.payment_failed" || type == "payment_intent.canceled") {
          pay_status = "failed";
          fail_status = "payment_failed";
          reason = "authentication_failed";
        }
        if (type == "payment_error") {
          pay_status = "failed";
          fail_status = "payment_failed";
          reason = "payment_error";
          detail = "the gateway's record of the payment does not match the order";
        }
      } else if (which == 1) {
        fail_status = "cancelled";
        reason = "cancelled by the buyer";
        break;
      } else {
        fail_status = "expired";
        reason = short_action ? "3-D Secure was not completed in time" : "the payment window ended";
        break;
      }
    }
    action_window.Cancel();
  }
  if (fail_status.empty() && pay_status != "succeeded") {
    fail_status = "payment_failed";
    reason = "payment_error";
    detail = "the gateway answered " + pay_status;
  }
  if (fail_status.empty() && cancelled()) {
    fail_status = "cancelled";
    reason = "cancelled by the buyer";
  }

  step = "confirming";
  // 6. Commit the holds, then confirm. A hold lost meanwhile (it cannot, while the
  // saga runs within hold_ttl_ms) cancels the order and refunds it.
  if (fail_status.empty()) {
    try {
      const activities::HoldsIn commit{holds};
      co_await Call(ctx, activities::kCommit, commit, StepOptions(kInventoryQueue));
    } catch (const ActivityError& e) {
      fail_status = "cancelled";
      reason = "stock_lost";
      detail = e.what();
    }
  }
  if (!fail_status.empty()) {
    window.Cancel();
    step = "compensating";
    co_return co_await Unwind(&ctx, c, holds, intent_id, fail_status, reason, detail);
  }
  window.Cancel();
  // The cart is emptied before the order leaves pending_payment: the API lets the
  // cart check out again from then on.
  std::vector<activities::OrderedLine> ordered;
  for (const auto& l : c.lines) ordered.push_back({l.item_id, l.quantity});
  const activities::ClearCartIn clear{c.cart_id, c.order_id, ordered};
  co_await Call(ctx, activities::kClearCart, clear, StepOptions(kOrdersQueue));
  co_await TransitionOrder(&ctx, c.order_id, "pending_payment", "confirmed",
                           "payment " + intent_id + " succeeded");
  co_await NotifyBuyer(&ctx, c.buyer_id, c.order_id, "order_confirmed",
                       "Order " + c.order_id + " is confirmed");

  step = "handing_over";
  // 7. Shipment tracking takes over the order, as a child workflow that outlives the
  // saga (it is created in the same transaction as this step's command, so a kill
  // cannot lose it). A cancel that came after the confirmation is handed to it.
  const activities::TrackingIn tracking{
      c.order_id, c.buyer_id, intent_id, holds, c.shipping_address.value(), c.return_window_ms};
  if (ctx.GetVersion(kTrackingAsChildChange, WorkflowContext::kDefaultVersion, 1) == 1) {
    ChildWorkflowOptions track;
    track.workflow_id = ShipmentWorkflowId(c.order_id);
    track.parent_close_policy = proto::PARENT_CLOSE_POLICY_ABANDON;
    track.reuse_policy = proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE;
    ctx.StartChildWorkflow(kShipmentWorkflow, Encode(tracking), track);
  } else {
    // Sagas recorded before the change started tracking from an activity.
    co_await Call(ctx, activities::kStartTracking, tracking, StepOptions(kOrdersQueue));
  }
  int forwarded = 0;
  while (auto sig = cancel.TryReceive()) {
    const activities::SignalIn forward{ShipmentWorkflowId(c.order_id), "cancel", *sig,
                                       c.order_id + "/cancel/" + std::to_string(forwarded++)};
    co_await Call(ctx, activities::kSignal, forward, StepOptions(kOrdersQueue));
  }
  CheckoutResult done = Result(c, "confirmed");
  done.payment_intent = intent_id;
  co_return done;
}

// order_expiry: the unwind of a checkout whose saga is gone (terminated by an
// operator, say) while its order still waits for money: void the payment, release
// the holds, pending_payment -> expired (-> refunded if money came back), tell the
// buyer. Started by `keel audit --repair`.
Workflow<CheckoutResult> OrderExpiry(WorkflowContext& ctx, OrderExpiryInput in) {
  CheckoutInput c;
  c.order_id = in.order_id;
  c.buyer_id = in.buyer_id;
  c.promo_code = in.promo_code;
  co_return co_await Unwind(&ctx, c, in.hold_ids, in.intent_id, "expired", in.reason, "");
}

}  // namespace

void RegisterCheckoutSaga(Registry& registry) {
  Register(registry, kCheckoutSaga, CheckoutSaga);
  Register(registry, kOrderExpiry, OrderExpiry);
}

}  // namespace keel::workflows
