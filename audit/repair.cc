#include "audit/repair.h"

#include "engine/engine.h"
#include "engine/payload.h"
#include "workflows/commerce_workflows.h"

namespace keel::audit {
namespace {

// The payment intent a checkout's history shows it made, or "".
std::string IntentOf(const proto::History& h) {
  for (const auto& e : h.events()) {
    if (!e.has_activity_task_completed()) continue;
    auto v = FromPayload(e.activity_task_completed().result());
    if (!v.ok() || !v->is_object()) continue;
    const json::value* id = v->as_object().if_contains("intent_id");
    if (id && id->is_string() && !id->as_string().empty()) return std::string(id->as_string());
  }
  return "";
}

}  // namespace

Result<std::vector<std::string>> Repair(commerce::Shop& shop, persistence::Store& engine,
                                        const AuditOptions& opt) {
  std::vector<std::string> done;
  KEEL_ASSIGN_OR_RETURN(int64_t swept, shop.inventory().SweepExpired());
  if (swept > 0) done.push_back("marked " + std::to_string(swept) + " expired holds expired");

  Registry registry;  // the client engine only starts runs; it runs no code
  auto client = MakeClientEngine(&engine, &registry);
  const Millis now = shop.clock()->Now();
  std::string after;
  for (;;) {
    KEEL_ASSIGN_OR_RETURN(auto page, shop.orders().ReadPage(after, 1000));
    if (page.empty()) break;
    after = page.back().order_id;
    for (const auto& o : page) {
      if (o.status != "pending_payment" ||
          now <= o.created_at + opt.payment_window_ms + opt.liveness_bound_ms) {
        continue;
      }
      const std::string saga = workflows::CheckoutWorkflowId(o.order_id);
      KEEL_ASSIGN_OR_RETURN(auto run, engine.ReadCurrentExecution(saga));
      if (run && run->status == persistence::ExecutionStatus::kRunning) {
        done.push_back("order " + o.order_id + ": left to its running checkout " + saga +
                       " (its window timer expires it once a worker runs)");
        continue;
      }
      std::string intent;
      if (run) {
        KEEL_ASSIGN_OR_RETURN(auto events, engine.ReadHistory(run->run_id, 1));
        proto::History h;
        for (auto& e : events) *h.add_events() = std::move(e);
        intent = IntentOf(h);
      }
      workflows::OrderExpiryInput expiry{
          o.order_id, o.buyer_id, intent, {}, "expired by keel audit --repair: its checkout ended"};
      for (const auto& l : o.lines)
        expiry.hold_ids.push_back(workflows::HoldId(o.order_id, l.item_id));
      if (!o.promo_code.empty()) expiry.promo_code = o.promo_code;
      StartWorkflowRequest start;
      start.workflow_id = workflows::OrderExpiryWorkflowId(o.order_id);
      start.workflow_type = workflows::kOrderExpiryWorkflow;
      start.task_queue = kDefaultWorkflowQueue;
      start.reuse_policy = proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE;
      start.identity = "keel-audit-repair";
      start.input = Encode(expiry);
      auto started = client->history().StartWorkflow(start);
      if (!started.ok() && started.status().reason() != "workflow_id_reuse_rejected") {
        return started.status();
      }
      done.push_back("order " + o.order_id + ": started " + start.workflow_id +
                     (started.ok() && started->started ? "" : " (already started)") +
                     (intent.empty() ? "" : ", voiding payment " + intent));
    }
  }
  return done;
}

}  // namespace keel::audit
