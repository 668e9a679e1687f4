#pragma once
// The payment gateway's test cards: the only raw card numbers the shop accepts
// (tokenized at once, never stored), and the payment method each stands for. The
// gateway (sims/payments) and the checkout API both read them here.

#include <array>
#include <string>
#include <string_view>

namespace keel::commerce {

struct TestCard {
  const char* number;
  const char* payment_method;
};

inline constexpr std::array<TestCard, 3> kTestCards = {{
    {"4242424242424242", "pm_card_visa"},
    {"4000000000000002", "pm_card_chargeDeclined"},
    {"4000000000003220", "pm_card_threeDSecure"},
}};

// The payment method a test card number stands for (spaces and dashes ignored), or ""
// when it is not one.
inline std::string TestCardToken(std::string_view card_number) {
  std::string digits;
  for (char c : card_number) {
    if (c >= '0' && c <= '9') digits.push_back(c);
  }
  for (const auto& card : kTestCards) {
    if (digits == card.number) return card.payment_method;
  }
  return "";
}

// "4242424242424242, 4000000000000002, 4000000000003220", for error messages.
inline std::string TestCardNumbers() {
  std::string out;
  for (const auto& card : kTestCards) out += (out.empty() ? "" : ", ") + std::string(card.number);
  return out;
}

}  // namespace keel::commerce
