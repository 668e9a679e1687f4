#include "workflows/commerce_workflows.h"

namespace keel::workflows {

void RegisterCheckoutSaga(Registry& registry);      // checkout_saga.cc
void RegisterShipmentTracking(Registry& registry);  // shipment_tracking.cc
void RegisterCartReminder(Registry& registry);      // cart_reminder.cc

void RegisterCommerceWorkflows(Registry& registry) {
  RegisterCheckoutSaga(registry);
  RegisterShipmentTracking(registry);
  RegisterCartReminder(registry);
}

}  // namespace keel::workflows
