#pragma once
// The carrier simulator of SPEC section 6: shipments with tracking numbers, moved
// along their tracking states by the simulator's own clock and reported to the shop
// by signed webhooks (sims/common/webhook_outbox: at least once, optionally
// duplicated or delayed and so reordered). Its ledger is its own SQLite database.
//
// Tracking states, one step every step_ms / speed:
//   label_created -> in_transit -> out_for_delivery -> delivered
//   any step may instead end in `exception` (exception_rate); label_created -cancel-> cancelled
// delivered, exception and cancelled are terminal. `paused` stops every shipment
// where it is (tests use it to act before a parcel leaves).
//
// POST /v1/shipments {reference, address{name,line1,city,postal_code,country}, metadata}
// is idempotent twice over: by Idempotency-Key (http/idempotency) and by `reference`
// (the shop's order id): a second shipment for one reference returns the first.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "http/router.h"
#include "persistence/sql/sql_database.h"

namespace keel::sims {

struct CarrierFaults {
  double speed = 1.0;         // tracking runs this many times faster than real carriers
  Millis step_ms = 20'000;    // time between tracking steps at speed 1
  double exception_rate = 0;  // a step ends the journey in `exception` instead
  bool paused = false;        // no shipment moves while set
  double duplicate_rate = 0;  // webhooks, as in the payment simulator
  Millis max_delay_ms = 0;
};

struct CarrierSimOptions {
  std::string webhook_url;     // "" keeps events pending until one is set
  std::string webhook_secret;  // "" uses (or creates) the one stored in the ledger
  std::string control_token;   // /v1/sim/* need it as a bearer token; "": those are off
  CarrierFaults faults;
  uint64_t seed = 0;
};

class CarrierSim {
 public:
  // `ledger` is the simulator's own database ("carrier_sim" service).
  static Result<std::unique_ptr<CarrierSim>> Open(std::unique_ptr<persistence::SqlDatabase> ledger,
                                                  Clock* clock, CarrierSimOptions options);
  ~CarrierSim();
  // POST/GET /v1/shipments, POST /v1/shipments/{id}/cancel, GET/POST /v1/sim/faults,
  // POST /v1/sim/webhook.
  void AddRoutes(http::Router& router);
  // The thread that advances shipments and delivers webhooks.
  void Start();
  void Stop();
  void RunOnce();

  const std::string& webhook_secret() const;
  void SetWebhookUrl(const std::string& url);
  CarrierFaults faults();
  void SetFaults(const CarrierFaults& f);

 private:
  CarrierSim() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::sims
