#pragma once
// The payment-gateway simulator of SPEC section 5: Stripe's PaymentIntent and refund
// semantics over our JSON, a ledger in its own SQLite database, Idempotency-Key on
// every POST (http/idempotency), signed webhooks delivered at least once, and fault
// injection. It runs as `keel sim payments` or inside `keel serve`.
//
// PaymentIntent states (as Stripe's):
//   requires_payment_method ─confirm─> succeeded | requires_capture | requires_action
//        ▲  (declined: back here, payment_intent.payment_failed)
//   requires_confirmation ─confirm─> (as above)
//   requires_action ─3DS done (after three_ds_delay_ms)─> succeeded | requires_capture
//   requires_capture ─capture─> succeeded
//   any state but succeeded ─cancel─> canceled        (terminal: succeeded, canceled)
// At most one successful charge per intent; refunds sum to at most the amount received.
//
// Test payment methods: pm_card_visa succeeds, pm_card_chargeDeclined declines,
// pm_card_threeDSecure needs 3DS and completes by itself after three_ds_delay_ms,
// pm_card_threeDSecureAbandoned needs 3DS and never completes (the buyer walked away).

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "common/clock.h"
#include "http/idempotency.h"
#include "http/router.h"
#include "persistence/sql/sql_database.h"

namespace keel::sims {

struct PaymentFaults {
  double fail_rate = 0;           // a POST answers 500 before doing anything
  double decline_rate = 0;        // a good card is declined anyway
  double drop_response_rate = 0;  // a POST is carried out, then the connection dropped
  Millis latency_ms = 0;          // added to every reply, after the work is done
  int fail_next = 0;              // the next N POSTs answer 500 (deterministic, for tests)
  int drop_next = 0;              // the next N POSTs are carried out, reply dropped
  int drop_next_confirm = 0;      // the next N confirms are carried out, reply dropped
  // Webhooks.
  double duplicate_rate = 0;  // a delivered event is delivered once more
  Millis max_delay_ms = 0;    // each event waits a random 0..N ms first (so they reorder)
  Millis three_ds_delay_ms = 1'000;
};

struct PaymentsSimOptions {
  std::string webhook_url;     // "" keeps events pending until one is set
  std::string webhook_secret;  // "" uses (or creates) the one stored in the ledger
  std::string control_token;   // /v1/sim/* need it as a bearer token; "": those are off
  PaymentFaults faults;
  uint64_t seed = 0;  // 0: random
};

class PaymentsSim {
 public:
  // `ledger` is the simulator's own database ("payments_sim" service).
  static Result<std::unique_ptr<PaymentsSim>> Open(std::unique_ptr<persistence::SqlDatabase> ledger,
                                                   Clock* clock, PaymentsSimOptions options);
  ~PaymentsSim();
  // The gateway's endpoints, plus GET/POST /v1/sim/faults and POST /v1/sim/webhook.
  void AddRoutes(http::Router& router);
  // Starts the thread that delivers webhooks and completes 3DS; Stop() joins it.
  void Start();
  void Stop();
  // One pass of that thread's work (tests drive it by hand with a FakeClock).
  void RunOnce();

  const std::string& webhook_secret() const { return secret_; }
  void SetWebhookUrl(const std::string& url);
  PaymentFaults faults();
  void SetFaults(const PaymentFaults& f);

 private:
  PaymentsSim(std::unique_ptr<persistence::SqlDatabase> ledger, Clock* clock,
              PaymentsSimOptions options);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string secret_;
};

// One PaymentIntent as an auditor sees it.
struct LedgerIntent {
  std::string id, order_id, status, currency;  // order_id: metadata.order_id, or ""
  int64_t amount = 0, amount_received = 0, amount_refunded = 0;
};
// Every intent of a gateway, through its API (GET /v1/payment_intents, page by page).
Result<std::vector<LedgerIntent>> FetchLedger(const std::string& payments_url);
// Every intent in a gateway's ledger database (sqlite:DIR, service payments_sim), for
// a gateway that is down. not_found when DIR holds no ledger.
Result<std::vector<LedgerIntent>> ReadLedgerDir(const std::string& dir);

}  // namespace keel::sims
