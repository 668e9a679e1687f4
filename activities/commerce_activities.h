#pragma once
// The activities of the checkout and shipment workflows, one per effect, each safe to
// run twice: inventory and order changes are idempotent by hold and order id, and
// every call to the gateway or the carrier carries an Idempotency-Key derived from
// the order id, so a retry after a timeout or a dropped reply never charges, refunds
// or ships twice.
//
// Names, queues, inputs and results: activities/contracts.h.
// Failures: a business refusal is a non-retryable ApplicationError whose type names it
// (InsufficientStock, CardDeclined, PaymentRejected, HoldLost, IllegalTransition,
// AlreadyShipped); anything transient (a 5xx, a timeout, a busy database) is retryable.

#include <string>

#include "activities/contracts.h"
#include "commerce/shop.h"
#include "engine/history_service.h"
#include "engine/registry.h"

namespace keel::activities {

struct CommerceDeps {
  commerce::Shop* shop = nullptr;
  HistoryService* history = nullptr;  // starts and signals workflows
  std::string payments_url;           // the gateway, e.g. http://127.0.0.1:8081
  std::string carrier_url;            // the carrier
};

// Registers every activity; `deps` must outlive the workers that run them.
void RegisterCommerceActivities(Registry& registry, const CommerceDeps* deps);

}  // namespace keel::activities
