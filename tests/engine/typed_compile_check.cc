// Compiled (never linked) by the ctests typed.*: the typed activity API must refuse,
// at compile time, the wrong input struct, a result read as the wrong type, and an
// input written as a temporary (which GCC 12 would destroy twice in a co_await).
// Without any KEEL_* macro it must compile: the control that the check itself works.

#include "activities/contracts.h"

namespace keel {

Workflow<Unit> Check(WorkflowContext& ctx) {
#if defined(KEEL_BRACED_INPUT)
  co_await Call(ctx, activities::kRelease, {std::vector<std::string>{"h"}}, ActivityOptions{});
#elif defined(KEEL_WRONG_INPUT)
  const activities::PaymentIn in{"o", "pi"};
  co_await Call(ctx, activities::kRelease, in, ActivityOptions{});
#elif defined(KEEL_WRONG_RESULT)
  const activities::HoldsIn in{{"h"}};
  activities::VoidOut out = co_await Call(ctx, activities::kRelease, in, ActivityOptions{});
  (void)out;
#else
  const activities::HoldsIn in{{"h"}};
  activities::ReleasedOut out = co_await Call(ctx, activities::kRelease, in, ActivityOptions{});
  (void)out;
#endif
  co_return Unit{};
}

}  // namespace keel
