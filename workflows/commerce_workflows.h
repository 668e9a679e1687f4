#pragma once
// The shop's workflows (SPEC sections 4 and 7; docs/architecture.md has the pictures).
//
// checkout_saga (id "checkout-<order_id>"), input: the cart snapshot the API took
//   (commerce::CheckoutInput)
//   1. validate the snapshot and the amount the client expects; create the order
//      (pending_payment), or, when the snapshot is refused, the order in rejected;
//   2. reserve the promotion's redemption, if the cart had one (refused: the order
//      is rejected, promo_unavailable); reserve a hold per line, in parallel, all or
//      none, within the buyer's caps; a refusal releases them (and the redemption)
//      and moves the order to rejected with its reason;
//   3. the payment window starts;
//   4. create the PaymentIntent and confirm it (Idempotency-Keys from the order id);
//   5. on 3DS, wait for the gateway's webhook (signal "payment") raced against the
//      3DS window (action_window_ms) or the payment window, whose end expires the
//      order; a webhook counts only once the intent, read back from the gateway,
//      agrees (succeeded for exactly the total);
//   6. commit the holds, take the ordered lines out of the cart, confirm, notify;
//   7. start shipment_tracking as a child workflow (parent close policy ABANDON: it
//      outlives the saga) and hand it the order.
//   Every failure compensates: void the payment (cancel, or refund what was taken),
//   release the holds and the redemption, move the order to payment_failed / expired / cancelled,
//   notify. Signal "cancel" before confirmation cancels; after it, the cancel is forwarded. Result:
//   {order_id, status, reason?}; status "rejected" when the checkout was refused before any hold
//   (sagas recorded before kOrderFirstChange made no order).
//
// cart_reminder (id "cart-reminder-<cart_id>"), input CartReminderInput: waits until
//   the cart has been left alone for after_ms (each check sleeps until then from the
//   cart's last change, so activity pushes it back), then sends its buyer one
//   "cart_reminder" notification (event id from the cart and that change) and
//   completes; an empty or vanished cart ends it silently. The API starts it when a
//   signed-in buyer's cart changes, unless one is running; after a reminder, the next
//   change starts a new one.
//
// shipment_tracking (id "shipment-<order_id>"): confirmed -> fulfilling, creates the
//   shipment, and follows signal "carrier" (the carrier's webhooks, duplicates and
//   reordering harmless) to shipped and delivered. Signal "cancel" before the parcel
//   leaves cancels it, refunds and restocks; signal "return" after delivery (within
//   return_window_ms) refunds and restocks.

#include <boost/describe.hpp>
#include <optional>
#include <string>
#include <vector>

#include "activities/contracts.h"
#include "commerce/checkout_input.h"
#include "commerce/workflow_ids.h"
#include "common/clock.h"
#include "engine/registry.h"
#include "engine/typed.h"

namespace keel::workflows {

// The workflows' names and ids (commerce/workflow_ids.h).
using commerce::CartReminderWorkflowId;
using commerce::CheckoutWorkflowId;
using commerce::HoldId;
using commerce::kCartReminderWorkflow;
using commerce::kCheckoutWorkflow;
using commerce::kOrderExpiryWorkflow;
using commerce::kShipmentWorkflow;
using commerce::OrderExpiryWorkflowId;
using commerce::ShipmentWorkflowId;

// get_version change ids (a run recorded before a change replays its old path).
// Version 1: the saga starts shipment_tracking as a child workflow, not from the
// orders.start_tracking activity.
inline constexpr const char* kTrackingAsChildChange = "shipment_tracking_as_child";
// Version 1: a workflow cancel request cancels the saga like signal "cancel" until the
// order is confirmed.
inline constexpr const char* kCancelRequestChange = "workflow_cancel_request";
// Version 1: a payment webhook is checked against the gateway (the intent read back)
// before the saga acts on it, and 3-D Secure may have a shorter window
// (input action_window_ms).
inline constexpr const char* kPaymentGuardsChange = "payment_guards";
// Version 1: the order is created before the holds (pending_payment), and a checkout
// refused before any hold ends as an order in `rejected` with its reason.
inline constexpr const char* kOrderFirstChange = "order_first";

// checkout_saga's result (order_expiry's too).
struct CheckoutResult {
  std::string order_id, status;
  std::optional<std::string> reason, detail;
  std::optional<std::string> payment_intent;  // confirmed checkouts
};
BOOST_DESCRIBE_STRUCT(CheckoutResult, (), (order_id, status, reason, detail, payment_intent))

struct OrderExpiryInput {
  std::string order_id, buyer_id, intent_id;
  std::vector<std::string> hold_ids;
  std::string reason;
  std::optional<std::string> promo_code;  // its redemption is given back
};
BOOST_DESCRIBE_STRUCT(OrderExpiryInput, (),
                      (order_id, buyer_id, intent_id, hold_ids, reason, promo_code))

struct CartReminderInput {
  std::string cart_id, user_id;
  int64_t after_ms = 0;
};
BOOST_DESCRIBE_STRUCT(CartReminderInput, (), (cart_id, user_id, after_ms))
struct CartReminderResult {
  std::string outcome;  // reminded | empty
};
BOOST_DESCRIBE_STRUCT(CartReminderResult, (), (outcome))

struct ShipmentResult {
  std::string order_id, status, shipment_id, tracking_number;
};
BOOST_DESCRIBE_STRUCT(ShipmentResult, (), (order_id, status, shipment_id, tracking_number))

inline constexpr WorkflowRef<commerce::CheckoutInput, CheckoutResult> kCheckoutSaga{
    kCheckoutWorkflow};
inline constexpr WorkflowRef<OrderExpiryInput, CheckoutResult> kOrderExpiry{kOrderExpiryWorkflow};
inline constexpr WorkflowRef<CartReminderInput, CartReminderResult> kCartReminder{
    commerce::kCartReminderWorkflow};
inline constexpr WorkflowRef<activities::TrackingIn, ShipmentResult> kShipmentTracking{
    kShipmentWorkflow};

// Defaults the API puts into each checkout's input.
inline constexpr Millis kDefaultPaymentWindowMs = 15 * 60 * 1000;
// Holds outlive the payment window by this much, so a saga that is slow to confirm
// (a worker restarting) still finds its holds.
inline constexpr Millis kHoldGraceMs = 10 * 60 * 1000;
inline constexpr Millis kDefaultReturnWindowMs = 30LL * 24 * 3600 * 1000;

void RegisterCommerceWorkflows(Registry& registry);

}  // namespace keel::workflows
