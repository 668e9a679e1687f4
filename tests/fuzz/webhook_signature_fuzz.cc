// Webhook signatures: a Keel-Signature header and a body from the bytes, checked
// against a fixed secret and clock. A forged header must never verify.

#include "http/webhook_signature.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = in.find('\n');
  std::string_view header = in.substr(0, split);
  std::string_view body = split == std::string_view::npos ? "" : in.substr(split + 1);
  keel::Status s = keel::http::VerifyWebhook("whsec_fuzz", header, body, 1'795'000'000);
  if (s.ok()) {
    // Only the right MAC verifies: the header must be exactly what we would sign.
    const std::string want = keel::http::SignWebhook("whsec_fuzz", 1'795'000'000, body);
    const bool plausible = header.find(want.substr(want.find("v1="))) != std::string_view::npos;
    if (!plausible) __builtin_trap();
  }
  return 0;
}
