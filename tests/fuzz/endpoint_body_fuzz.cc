// Every endpoint's JSON body: the first byte picks a route of the shop's table, the
// second who calls (anonymous, buyer, seller, admin), the rest is the body. Path
// parameters name the fuzz shop's item (or a made-up id).

#include "tests/fuzz/shop_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& h = keel::fuzz::ShopHarness::Get();
  static const auto routes = h.router.Routes();
  if (size < 2 || routes.empty()) return 0;
  const auto& [verb, pattern] = routes[data[0] % routes.size()];
  std::string target;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      target += pattern[i];
      continue;
    }
    const size_t end = pattern.find('}', i);
    const std::string name = pattern.substr(i + 1, end - i - 1);
    target += name == "id" ? h.item_id : "state";
    i = end;
  }
  keel::http::Request req{verb, target, 11};
  switch (data[1] % 4) {
    case 1:
      req.set(keel::http::bhttp::field::authorization, "Bearer " + h.buyer_token);
      break;
    case 2:
      req.set(keel::http::bhttp::field::authorization, "Bearer " + h.seller_token);
      break;
    case 3:
      req.set(keel::http::bhttp::field::authorization, "Bearer " + h.admin_token);
      break;
    default:
      break;
  }
  req.body().assign(reinterpret_cast<const char*>(data + 2), size - 2);
  req.prepare_payload();
  keel::http::Response res = h.Handle(req);
  if (res.result_int() < 100 || res.result_int() > 599) __builtin_trap();
  return 0;
}
