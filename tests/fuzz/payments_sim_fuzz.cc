// The gateway simulator's API: the first byte picks a route, the second an
// Idempotency-Key (or none), the rest is the body; path ids are the last intent made.
// Money rules must hold whatever comes: refunds never pass what was received.

#include <spdlog/spdlog.h>

#include <future>

#include "common/temp_dir.h"
#include "sims/payments/payments_sim.h"

namespace {

struct Sim {
  std::unique_ptr<keel::TempDir> dir;
  std::unique_ptr<keel::sims::PaymentsSim> sim;
  keel::http::Router router;
  std::string last_intent = "pi_none";
};

Sim& Get() {
  static Sim* s = [] {
    spdlog::set_level(spdlog::level::off);
    auto* x = new Sim();
    x->dir = std::make_unique<keel::TempDir>(keel::TempDir::Create("keel-fuzz-pay").value());
    auto db = keel::persistence::OpenSqlDatabase("sqlite:" + x->dir->path(), "payments_sim", {});
    keel::sims::PaymentsSimOptions o;
    o.control_token = "fuzz-control";
    x->sim = keel::sims::PaymentsSim::Open(std::move(db).value(), keel::SystemClock::Default(), o)
                 .value();
    x->sim->AddRoutes(x->router);
    return x;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Sim& s = Get();
  static const auto routes = s.router.Routes();
  if (size < 2) return 0;
  const auto& [verb, pattern] = routes[data[0] % routes.size()];
  std::string target = pattern;
  if (size_t p = target.find("{id}"); p != std::string::npos) {
    target.replace(p, 4, s.last_intent);
  }
  keel::http::Request req{verb, target, 11};
  if (data[1] % 3 != 0) req.set("Idempotency-Key", "k" + std::to_string(data[1] % 7));
  if (data[1] % 5 == 0) req.set(keel::http::bhttp::field::authorization, "Bearer fuzz-control");
  req.body().assign(reinterpret_cast<const char*>(data + 2), size - 2);
  req.prepare_payload();
  keel::http::Reply reply = s.router.Handle(req, {"127.0.0.1", "fuzz"});
  auto* res = std::get_if<keel::http::Response>(&reply);
  if (!res) return 0;
  if (res->result_int() == 200 && target == "/v1/payment_intents" &&
      verb == keel::http::bhttp::verb::post) {
    auto v = keel::ParseJson(res->body());
    if (v.ok() && v->is_object() && v->as_object().contains("id")) {
      s.last_intent = std::string(v->at("id").as_string());
    }
  }
  if (res->result_int() == 200) {
    auto v = keel::ParseJson(res->body());
    if (v.ok() && v->is_object() && v->as_object().contains("amount_received") &&
        v->at("amount_refunded").as_int64() > v->at("amount_received").as_int64()) {
      __builtin_trap();  // refunded more than was received
    }
  }
  return 0;
}
