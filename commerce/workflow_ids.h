#pragma once
// The names and ids the shop's workflows go by. The API that starts them, the
// activities that start and signal them, the workflows themselves and the audit all
// read them from here.

#include <string>

namespace keel::commerce {

inline constexpr const char* kCheckoutWorkflow = "checkout_saga";
inline constexpr const char* kShipmentWorkflow = "shipment_tracking";
// The unwind of a checkout whose saga is gone (`keel audit --repair` starts it).
inline constexpr const char* kOrderExpiryWorkflow = "order_expiry";

inline std::string CheckoutWorkflowId(const std::string& order_id) {
  return "checkout-" + order_id;
}
inline std::string ShipmentWorkflowId(const std::string& order_id) {
  return "shipment-" + order_id;
}
inline std::string OrderExpiryWorkflowId(const std::string& order_id) {
  return "expire-" + order_id;
}
// The reminder of an abandoned cart (one run at a time per cart).
inline constexpr const char* kCartReminderWorkflow = "cart_reminder";
inline std::string CartReminderWorkflowId(const std::string& cart_id) {
  return "cart-reminder-" + cart_id;
}
// The hold the checkout of `order_id` takes for `item_id`.
inline std::string HoldId(const std::string& order_id, const std::string& item_id) {
  return order_id + "/" + item_id;
}

}  // namespace keel::commerce
