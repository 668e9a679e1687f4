// The HTTP layer's per-request costs, without sockets: routing a request to a
// trivial handler with and without the rate-limit gate, the gate alone, and the
// UTF-8 check every request passes.
//   build/bench/keel_http_bench

#include <benchmark/benchmark.h>

#include "common/utf8.h"
#include "http/request_limits.h"
#include "http/router.h"

namespace keel::http {
namespace {

Router MakeRouter() {
  Router r;
  for (const char* p : {"/items", "/items/{id}", "/items/{id}/recommendations", "/cart",
                        "/checkout", "/orders", "/orders/{id}", "/orders/{id}/cancel",
                        "/v1/workflows", "/v1/workflows/{id}", "/healthz", "/metrics"}) {
    r.Add(bhttp::verb::get, p, [](const ApiRequest&) { return JsonResponse(200, json::object{}); });
  }
  return r;
}

Request ItemRequest() {
  Request req{bhttp::verb::get, "/items/item-4242", 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::user_agent, "wrk");
  return req;
}

void BM_RouteWithoutGate(benchmark::State& state) {
  Router r = MakeRouter();
  Request req = ItemRequest();
  RequestInfo info{"127.0.0.1", "0123456789abcdef"};
  for (auto _ : state) benchmark::DoNotOptimize(r.Handle(req, info));
}
BENCHMARK(BM_RouteWithoutGate);

void BM_RouteWithLimits(benchmark::State& state) {
  Router r = MakeRouter();
  RequestLimitOptions o;
  o.address_reads = o.account_reads = {1e12, 2e12};
  RequestLimits limits(o, SystemClock::Default(), [](std::string_view) { return ""; });
  r.SetGate(limits.AsGate());
  Request req = ItemRequest();
  RequestInfo info{"127.0.0.1", "0123456789abcdef"};
  for (auto _ : state) benchmark::DoNotOptimize(r.Handle(req, info));
}
BENCHMARK(BM_RouteWithLimits);

// The gate for a signed-in buyer: the address bucket and the account bucket, with
// the token read by a stand-in for the HMAC check.
void BM_GateForAnAccount(benchmark::State& state) {
  RequestLimitOptions o;
  o.address_reads = o.account_reads = {1e12, 2e12};
  RequestLimits limits(o, SystemClock::Default(),
                       [](std::string_view auth) { return std::string(auth.substr(7, 8)); });
  Request raw = ItemRequest();
  raw.set(bhttp::field::authorization, "Bearer user-123.signature");
  RequestInfo info{"127.0.0.1", "rid"};
  ApiRequest req{raw, info, {}, {}};
  for (auto _ : state) benchmark::DoNotOptimize(limits.Check(req, "/items/{id}"));
}
BENCHMARK(BM_GateForAnAccount);

void BM_Utf8OfAKilobyte(benchmark::State& state) {
  std::string body(1024, 'a');
  body += "caf\xC3\xA9";
  for (auto _ : state) benchmark::DoNotOptimize(IsValidUtf8(body));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_Utf8OfAKilobyte);

}  // namespace
}  // namespace keel::http

BENCHMARK_MAIN();
