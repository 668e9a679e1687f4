// cart_reminder: see workflows/commerce_workflows.h for the contract.

#include "activities/contracts.h"
#include "workflows/commerce_workflows.h"
#include "workflows/steps.h"

namespace keel::workflows {
namespace {

// Checks before the run continues as new, so a cart changed every day for years keeps
// a short history.
constexpr int kChecksPerRun = 32;

Workflow<CartReminderResult> CartReminder(WorkflowContext& ctx, CartReminderInput in) {
  for (int check = 0; check < kChecksPerRun; ++check) {
    const activities::CartIn cart{in.cart_id};
    activities::CartStateOut s =
        co_await Call(ctx, activities::kCartState, cart, StepOptions(activities::kOrdersQueue));
    if (s.items == 0) co_return CartReminderResult{"empty"};
    const Millis idle = ctx.Now() - s.updated_at;
    if (idle < in.after_ms) {
      co_await ctx.Sleep(in.after_ms - idle);  // activity meanwhile moves updated_at on
      continue;
    }
    // One per abandonment: the event id names the change the cart was left at.
    const activities::NotifyIn note{
        "cart-reminder/" + in.cart_id + "/" + std::to_string(s.updated_at), in.user_id, "",
        "cart_reminder",
        "You left " + std::to_string(s.items) + (s.items == 1 ? " item" : " items") +
            " in your cart"};
    co_await Call(ctx, activities::kNotify, note, StepOptions(activities::kNotificationsQueue));
    co_return CartReminderResult{"reminded"};
  }
  ctx.ContinueAsNew(Encode(in));
}

}  // namespace

void RegisterCartReminder(Registry& registry) { Register(registry, kCartReminder, CartReminder); }

}  // namespace keel::workflows
