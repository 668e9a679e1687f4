#include "commerce/order_state.h"

#include <array>
#include <utility>

namespace keel::commerce {
namespace {

constexpr std::array<std::string_view, 11> kStatuses = {
    "pending_payment", "confirmed", "fulfilling", "shipped",  "delivered", "payment_failed",
    "expired",         "cancelled", "refunded",   "returned", "rejected"};

constexpr std::array<std::string_view, 2> kInitial = {"pending_payment", "rejected"};

constexpr std::array<std::pair<std::string_view, std::string_view>, 13> kTransitions = {{
    {"pending_payment", "rejected"},
    {"pending_payment", "confirmed"},
    {"pending_payment", "payment_failed"},
    {"pending_payment", "expired"},
    {"pending_payment", "cancelled"},
    {"confirmed", "fulfilling"},
    {"confirmed", "cancelled"},
    {"fulfilling", "shipped"},
    {"fulfilling", "cancelled"},
    {"shipped", "delivered"},
    {"delivered", "returned"},
    {"returned", "refunded"},
    {"cancelled", "refunded"},
}};

}  // namespace

bool IsOrderStatus(std::string_view s) {
  for (auto k : kStatuses) {
    if (k == s) return true;
  }
  return false;
}

bool IsLegalTransition(std::string_view from, std::string_view to) {
  for (const auto& [f, t] : kTransitions) {
    if (f == from && t == to) return true;
  }
  return false;
}

bool IsInitialStatus(std::string_view s) {
  for (auto k : kInitial) {
    if (k == s) return true;
  }
  return false;
}

bool IsTerminal(std::string_view status) {
  for (const auto& [f, t] : kTransitions) {
    if (f == status) return false;
  }
  return IsOrderStatus(status);
}

}  // namespace keel::commerce
