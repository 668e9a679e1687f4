// Stored history: bytes as a history batch (the store's decoder), as a history file
// (the JSON `keel workflow replay --file` reads; the seeds are tests/testdata), or as
// a serialized proto, and, when they decode, replayed against the shop's and the
// demo's workflow code. A mutated history must end in an error (nondeterminism,
// corruption), never a crash.

#include <google/protobuf/stubs/logging.h>

#include "engine/replayer.h"
#include "examples/demo_saga.h"
#include "persistence/history_codec.h"
#include "workflows/commerce_workflows.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static keel::Registry* registry = [] {
    google::protobuf::SetLogHandler(nullptr);  // mutated strings are expected, not news
    auto* r = new keel::Registry();
    keel::examples::RegisterDemo(*r, nullptr);
    keel::workflows::RegisterCommerceWorkflows(*r);
    return r;
  }();
  std::vector<keel::proto::HistoryEvent> events;
  keel::Status s = keel::persistence::DecodeHistoryBatch(
      std::string_view(reinterpret_cast<const char*>(data), size), 1, &events);
  keel::proto::History h;
  if (s.ok()) {
    for (auto& e : events) *h.add_events() = std::move(e);
  } else if (size > 0 && data[0] == '{') {
    auto parsed = keel::ParseHistoryJson(std::string(reinterpret_cast<const char*>(data), size));
    if (!parsed.ok()) return 0;
    h = std::move(parsed).value();
  } else if (!h.ParseFromArray(data, static_cast<int>(size))) {
    return 0;  // none of the three
  }
  if (h.events_size() > 2000) return 0;
  (void)keel::ReplayHistory(*registry, h);
  return 0;
}
