#pragma once
// What the shop's workflows may ask of its activities: each activity's name, task
// queue, input and result, as typed references (engine/typed.h). The workflows call
// them; activities/commerce_activities.cc implements them. Inputs and results are
// kept in histories for ever: a field added later must be a std::optional.
//
// Queues (SPEC section 3): inventory, payment, orders, shipping, notifications.

#include <boost/describe.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commerce/checkout_input.h"
#include "engine/typed.h"

namespace keel::activities {

inline constexpr const char* kInventoryQueue = "inventory";
inline constexpr const char* kPaymentQueue = "payment";
inline constexpr const char* kOrdersQueue = "orders";
inline constexpr const char* kShippingQueue = "shipping";
inline constexpr const char* kNotificationsQueue = "notifications";

// ---- inventory -----------------------------------------------------------------------
struct ReserveIn {
  std::string order_id, hold_id, sku;
  int64_t quantity = 0, ttl_ms = 0;
  std::string buyer_id;
  std::optional<commerce::CheckoutBuyerLimits> buyer_limits;
};
BOOST_DESCRIBE_STRUCT(ReserveIn, (),
                      (order_id, hold_id, sku, quantity, ttl_ms, buyer_id, buyer_limits))
struct HoldOut {
  std::string hold_id;
};
BOOST_DESCRIBE_STRUCT(HoldOut, (), (hold_id))
struct HoldsIn {
  std::vector<std::string> hold_ids;
};
BOOST_DESCRIBE_STRUCT(HoldsIn, (), (hold_ids))
struct ReleasedOut {
  bool released = false;
};
BOOST_DESCRIBE_STRUCT(ReleasedOut, (), (released))
struct CommittedOut {
  bool committed = false;
};
BOOST_DESCRIBE_STRUCT(CommittedOut, (), (committed))

// Refusals: InsufficientStock, BuyerLimit.
inline constexpr ActivityRef<ReserveIn, HoldOut> kReserve{"inventory.reserve", kInventoryQueue};
inline constexpr ActivityRef<HoldsIn, ReleasedOut> kRelease{"inventory.release", kInventoryQueue};
// Refusal: HoldLost.
inline constexpr ActivityRef<HoldsIn, CommittedOut> kCommit{"inventory.commit", kInventoryQueue};

// ---- orders --------------------------------------------------------------------------
struct OrderOut {
  std::string order_id, status;
};
BOOST_DESCRIBE_STRUCT(OrderOut, (), (order_id, status))
struct RejectIn : commerce::CheckoutInput {
  std::string reason;
};
BOOST_DESCRIBE_STRUCT(RejectIn, (commerce::CheckoutInput), (reason))
struct TransitionIn {
  std::string order_id, from, to, reason;
};
BOOST_DESCRIBE_STRUCT(TransitionIn, (), (order_id, from, to, reason))
struct StatusOut {
  std::string status;
};
BOOST_DESCRIBE_STRUCT(StatusOut, (), (status))
struct OrderedLine {
  std::string item_id;
  int64_t quantity = 0;
};
BOOST_DESCRIBE_STRUCT(OrderedLine, (), (item_id, quantity))
struct ClearCartIn {
  std::string cart_id, order_id;
  // The order's lines, taken out of the cart (lines added since stay). Absent in
  // sagas recorded before: the whole cart is emptied, as it was then.
  std::optional<std::vector<OrderedLine>> lines;
};
BOOST_DESCRIBE_STRUCT(ClearCartIn, (), (cart_id, order_id, lines))
struct ClearedOut {
  bool cleared = false;
};
BOOST_DESCRIBE_STRUCT(ClearedOut, (), (cleared))
// shipment_tracking's input, too.
struct TrackingIn {
  std::string order_id, buyer_id, intent_id;
  std::vector<std::string> hold_ids;
  json::value shipping_address;
  std::optional<int64_t> return_window_ms;
};
BOOST_DESCRIBE_STRUCT(TrackingIn, (),
                      (order_id, buyer_id, intent_id, hold_ids, shipping_address, return_window_ms))
struct WorkflowIdOut {
  std::string workflow_id;
};
BOOST_DESCRIBE_STRUCT(WorkflowIdOut, (), (workflow_id))
struct SignalIn {
  std::string workflow_id, signal;
  json::value input;
  std::string request_id;  // the signal is delivered once per request id
};
BOOST_DESCRIBE_STRUCT(SignalIn, (), (workflow_id, signal, input, request_id))
struct SignalledOut {
  bool signalled = false;
};
BOOST_DESCRIBE_STRUCT(SignalledOut, (), (signalled))

// Refusal: InvalidOrder.
inline constexpr ActivityRef<commerce::CheckoutInput, OrderOut> kCreateOrder{"orders.create",
                                                                             kOrdersQueue};
inline constexpr ActivityRef<RejectIn, OrderOut> kRejectOrder{"orders.reject", kOrdersQueue};
// Refusal: IllegalTransition.
inline constexpr ActivityRef<TransitionIn, StatusOut> kTransitionOrder{"orders.transition",
                                                                       kOrdersQueue};
inline constexpr ActivityRef<ClearCartIn, ClearedOut> kClearCart{"orders.clear_cart", kOrdersQueue};
// Sagas recorded before tracking became a child workflow start it with this.
inline constexpr ActivityRef<TrackingIn, WorkflowIdOut> kStartTracking{"orders.start_tracking",
                                                                       kOrdersQueue};
// Refusal: SignalFailed.
inline constexpr ActivityRef<SignalIn, SignalledOut> kSignal{"orders.signal", kOrdersQueue};

// ---- carts (on the orders queue) -----------------------------------------------------
struct CartIn {
  std::string cart_id;
};
BOOST_DESCRIBE_STRUCT(CartIn, (), (cart_id))
struct CartStateOut {
  int64_t items = 0;       // units in the cart (0 also when it is gone)
  int64_t updated_at = 0;  // its last change, ms since the epoch
};
BOOST_DESCRIBE_STRUCT(CartStateOut, (), (items, updated_at))
inline constexpr ActivityRef<CartIn, CartStateOut> kCartState{"carts.state", kOrdersQueue};

// ---- promotions (on the orders queue) ------------------------------------------------
struct PromoIn {
  std::string order_id, code, buyer_id;
  int64_t amount = 0;
};
BOOST_DESCRIBE_STRUCT(PromoIn, (), (order_id, code, buyer_id, amount))
struct PromoOut {
  bool done = false;
};
BOOST_DESCRIBE_STRUCT(PromoOut, (), (done))
struct PromoReleaseIn {
  std::string order_id;
};
BOOST_DESCRIBE_STRUCT(PromoReleaseIn, (), (order_id))

// Refusal: PromoUnavailable (unknown, not running, used up, or the buyer's limit).
inline constexpr ActivityRef<PromoIn, PromoOut> kReservePromo{"promotions.reserve", kOrdersQueue};
inline constexpr ActivityRef<PromoReleaseIn, PromoOut> kReleasePromo{"promotions.release",
                                                                     kOrdersQueue};

// ---- payment -------------------------------------------------------------------------
struct IntentIn {
  std::string order_id;
  int64_t amount = 0;
  std::string currency;
};
BOOST_DESCRIBE_STRUCT(IntentIn, (), (order_id, amount, currency))
struct IntentOut {
  std::string intent_id, status;
};
BOOST_DESCRIBE_STRUCT(IntentOut, (), (intent_id, status))
struct ConfirmIn {
  std::string order_id, intent_id, payment_method;
};
BOOST_DESCRIBE_STRUCT(ConfirmIn, (), (order_id, intent_id, payment_method))
struct PaymentIn {
  std::string order_id, intent_id;
};
BOOST_DESCRIBE_STRUCT(PaymentIn, (), (order_id, intent_id))
// The gateway's record of an intent.
struct IntentState {
  std::string intent_id, status;
  int64_t amount_received = 0, amount_refunded = 0;
  std::optional<std::string> currency;
};
BOOST_DESCRIBE_STRUCT(IntentState, (),
                      (intent_id, status, amount_received, amount_refunded, currency))
struct VoidOut {
  std::string action;  // "refunded", "cancelled" or "none"
  int64_t amount = 0;  // refunded now
};
BOOST_DESCRIBE_STRUCT(VoidOut, (), (action, amount))

// Refusal: PaymentRejected.
inline constexpr ActivityRef<IntentIn, IntentOut> kCreateIntent{"payment.create_intent",
                                                                kPaymentQueue};
// Refusals: CardDeclined, PaymentRejected. status "requires_action" means 3-D Secure.
inline constexpr ActivityRef<ConfirmIn, IntentOut> kConfirm{"payment.confirm", kPaymentQueue};
inline constexpr ActivityRef<PaymentIn, IntentState> kGetIntent{"payment.get", kPaymentQueue};
// Refunds what was taken, or cancels the intent. Safe to repeat.
inline constexpr ActivityRef<PaymentIn, VoidOut> kVoidPayment{"payment.void", kPaymentQueue};

// ---- shipping ------------------------------------------------------------------------
struct ShipmentIn {
  std::string order_id;
  json::value shipping_address;
};
BOOST_DESCRIBE_STRUCT(ShipmentIn, (), (order_id, shipping_address))
struct ShipmentOut {
  std::string shipment_id, tracking_number;
};
BOOST_DESCRIBE_STRUCT(ShipmentOut, (), (shipment_id, tracking_number))
struct CancelShipmentIn {
  std::string shipment_id;
};
BOOST_DESCRIBE_STRUCT(CancelShipmentIn, (), (shipment_id))
struct CancelledOut {
  bool cancelled = false;
};
BOOST_DESCRIBE_STRUCT(CancelledOut, (), (cancelled))

// Refusal: ShipmentRejected.
inline constexpr ActivityRef<ShipmentIn, ShipmentOut> kCreateShipment{"shipping.create_shipment",
                                                                      kShippingQueue};
// Refusals: AlreadyShipped (the parcel has left), ShipmentRejected.
inline constexpr ActivityRef<CancelShipmentIn, CancelledOut> kCancelShipment{
    "shipping.cancel_shipment", kShippingQueue};

// ---- notifications -------------------------------------------------------------------
struct NotifyIn {
  std::string event_id;  // one notification per event id
  std::string user_id, order_id, type, message;
};
BOOST_DESCRIBE_STRUCT(NotifyIn, (), (event_id, user_id, order_id, type, message))
struct EventOut {
  std::string event_id;
};
BOOST_DESCRIBE_STRUCT(EventOut, (), (event_id))

inline constexpr ActivityRef<NotifyIn, EventOut> kNotify{"notify", kNotificationsQueue};

}  // namespace keel::activities
