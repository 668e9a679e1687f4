#pragma once
// What the shop's workflows share: activity options per kind of step, and the two
// steps every path takes (an order transition, a notification).

#include <string>

#include "common/json.h"
#include "engine/options.h"
#include "engine/workflow.h"
#include "engine/workflow_context.h"

namespace keel::workflows {

// A forward step: retried with backoff (0.2 s doubling to 5 s) until it succeeds or
// refuses; a refusal is a non-retryable ApplicationError from the activity.
ActivityOptions StepOptions(const char* queue);
// A gateway call: as a step, but it gives up when the payment window ends.
ActivityOptions PaymentOptions(Millis window_left_ms);
// An undo: retried until it succeeds (backoff capped at 30 s).
ActivityOptions CompensationOptions(const char* queue);

// from -> to on the order (a repeat is fine; an illegal move fails the workflow).
Workflow<Unit> TransitionOrder(WorkflowContext* ctx, std::string order_id, std::string from,
                               std::string to, std::string reason);
// One notification per (order, type): the event id is "<order_id>/<type>".
Workflow<Unit> NotifyBuyer(WorkflowContext* ctx, std::string user_id, std::string order_id,
                           std::string type, std::string message);

}  // namespace keel::workflows
