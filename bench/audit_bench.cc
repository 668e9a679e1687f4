// How long `keel audit` takes on a big shop: plants N confirmed orders (each with its
// line, status history, committed hold, notification, payment in the gateway's
// ledger, and checkout run with its snapshot) and times audit::Audit.
//   build/bench/keel_audit_bench [--db URL] [--orders N]
// Without --db: a fresh temporary SQLite dir. Prints one line:
//   orders=N plant_s=P audit_s=A violations=V

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "audit/audit.h"
#include "common/temp_dir.h"
#include "engine/payload.h"
#include "persistence/open_store.h"
#include "sims/payments/payments_sim.h"
#include "workflows/commerce_workflows.h"

using namespace keel;

namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

Status Plant(const std::string& url, const std::string& ledger_dir, persistence::Store& store,
             int n, Millis now) {
  KEEL_ASSIGN_OR_RETURN(auto inventory, persistence::OpenSqlDatabase(url, "inventory"));
  KEEL_ASSIGN_OR_RETURN(auto orders, persistence::OpenSqlDatabase(url, "orders"));
  KEEL_ASSIGN_OR_RETURN(auto notes, persistence::OpenSqlDatabase(url, "notifications"));
  KEEL_ASSIGN_OR_RETURN(auto ledger,
                        persistence::OpenSqlDatabase("sqlite:" + ledger_dir, "payments_sim"));
  const int kSkus = 1000;
  KEEL_RETURN_IF_ERROR(inventory->Transact([&](persistence::SqlTxn& t) -> Status {
    for (int s = 0; s < kSkus; ++s) {
      const int64_t units = n / kSkus + 1;
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO stock(sku, on_hand, committed, supplied) "
                                  "VALUES($1,$2,$2,$2)",
                                  {"sku-" + std::to_string(s), units})
                               .status());
    }
    for (int i = 0; i < n; ++i) {
      const std::string id = "ord-" + std::to_string(1'000'000 + i);
      KEEL_RETURN_IF_ERROR(
          t.Exec("INSERT INTO holds(hold_id, sku, quantity, expires_at, state, "
                 "order_id, created_at, updated_at) VALUES($1,$2,1,$3,"
                 "'committed',$4,$5,$5)",
                 {id + "/sku", "sku-" + std::to_string(i % kSkus), now + 60'000, id, now})
              .status());
    }
    return Status::Ok();
  }));
  KEEL_RETURN_IF_ERROR(orders->Transact([&](persistence::SqlTxn& t) -> Status {
    for (int i = 0; i < n; ++i) {
      const std::string id = "ord-" + std::to_string(1'000'000 + i);
      KEEL_RETURN_IF_ERROR(
          t.Exec("INSERT INTO orders(order_id, buyer_id, status, currency, subtotal, shipping, "
                 "tax, total, cart_id, idempotency_key, workflow_id, shipping_address, "
                 "created_at, updated_at, status_reason) VALUES($1,'buyer','confirmed','USD',"
                 "1000,0,0,1000,$2,$3,$4,'{}',$5,$5,'paid')",
                 {id, "cart-" + std::to_string(i), "key-" + id, workflows::CheckoutWorkflowId(id),
                  now})
              .status());
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO order_lines(order_id, item_id, quantity, "
                                  "unit_price) VALUES($1,$2,1,1000)",
                                  {id, "sku-" + std::to_string(i % kSkus)})
                               .status());
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO order_events(order_id, seq, from_status, "
                                  "to_status, reason, at) VALUES($1,1,'','pending_payment',"
                                  "'created',$2),($1,2,'pending_payment','confirmed','paid',$2)",
                                  {id, now})
                               .status());
    }
    return Status::Ok();
  }));
  KEEL_RETURN_IF_ERROR(notes->Transact([&](persistence::SqlTxn& t) -> Status {
    for (int i = 0; i < n; ++i) {
      const std::string id = "ord-" + std::to_string(1'000'000 + i);
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO notifications(seq, event_id, user_id, order_id, "
                                  "type, message, created_at) VALUES($1,$2,'buyer',$3,"
                                  "'order_confirmed','ok',$4)",
                                  {int64_t{i + 1}, id + "/order_confirmed", id, now})
                               .status());
    }
    return Status::Ok();
  }));
  KEEL_RETURN_IF_ERROR(ledger->Transact([&](persistence::SqlTxn& t) -> Status {
    for (int i = 0; i < n; ++i) {
      const std::string id = "ord-" + std::to_string(1'000'000 + i);
      KEEL_RETURN_IF_ERROR(
          t.Exec("INSERT INTO intents(id, seq, amount, currency, payment_method, capture_method, "
                 "status, amount_received, metadata, created) VALUES($1,$2,1000,'usd',"
                 "'pm_card_visa','automatic','succeeded',1000,$3,1)",
                 {"pi_" + id, int64_t{i + 1}, R"({"order_id":")" + id + R"("})"})
              .status());
    }
    return Status::Ok();
  }));
  return store.Transact([&](persistence::Txn& t) -> Status {
    for (int i = 0; i < n; ++i) {
      const std::string id = "ord-" + std::to_string(1'000'000 + i);
      persistence::ExecutionRow r;
      r.workflow_id = workflows::CheckoutWorkflowId(id);
      r.run_id = "run-" + id;
      r.workflow_type = workflows::kCheckoutWorkflow;
      r.task_queue = kDefaultWorkflowQueue;
      r.status = persistence::ExecutionStatus::kCompleted;
      r.version = 1;
      r.next_event_id = 2;
      r.start_time = now;
      r.close_time = now;
      proto::HistoryEvent e;
      e.set_event_id(1);
      auto* st = e.mutable_workflow_execution_started();
      st->set_workflow_type(r.workflow_type);
      json::value in = json::object{
          {"order_id", id},
          {"lines", json::array{json::object{{"item_id", "sku-" + std::to_string(i % kSkus)},
                                             {"quantity", 1},
                                             {"unit_price", 1000}}}}};
      *st->mutable_input() = ToPayload(in);
      KEEL_RETURN_IF_ERROR(t.InsertExecution(r));
      KEEL_RETURN_IF_ERROR(t.AppendHistory(r.run_id, {e}));
    }
    return Status::Ok();
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  int n = 100'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--db")) url = argv[i + 1];
    if (!std::strcmp(argv[i], "--orders")) n = std::atoi(argv[i + 1]);
  }
  auto tmp = TempDir::Create("keel-audit-bench").value();
  if (url.empty()) url = "sqlite:" + tmp.path() + "/shop";
  const std::string ledger_dir = tmp.path() + "/ledger";
  Clock* clock = SystemClock::Default();
  auto shop = commerce::Shop::Open(url, clock);
  auto store = persistence::OpenStore(url, {});
  auto ledger = persistence::OpenSqlDatabase("sqlite:" + ledger_dir, "payments_sim");
  if (!shop.ok() || !store.ok() || !ledger.ok()) {
    std::fprintf(stderr, "cannot open the shop at %s\n", url.c_str());
    return 1;
  }
  (void)sims::PaymentsSim::Open(std::move(ledger).value(), clock, {});  // the ledger's schema
  auto t0 = std::chrono::steady_clock::now();
  if (Status s = Plant(url, ledger_dir, **store, n, clock->Now()); !s.ok()) {
    std::fprintf(stderr, "planting: %s\n", s.ToString().c_str());
    return 1;
  }
  const double plant_s = Since(t0);
  audit::AuditOptions o;
  o.payments_ledger_dir = ledger_dir;
  o.engine = store->get();
  t0 = std::chrono::steady_clock::now();
  auto report = audit::Audit(**shop, o);
  const double audit_s = Since(t0);
  if (!report.ok()) {
    std::fprintf(stderr, "audit: %s\n", report.status().ToString().c_str());
    return 1;
  }
  std::printf("orders=%lld plant_s=%.1f audit_s=%.2f violations=%zu\n",
              static_cast<long long>(report->orders), plant_s, audit_s, report->violations.size());
  for (size_t i = 0; i < report->violations.size() && i < 5; ++i) {
    std::printf("%s\n", audit::ToString(report->violations[i]).c_str());
  }
  return report->violations.empty() ? 0 : 1;
}
