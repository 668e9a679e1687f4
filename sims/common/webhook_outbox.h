#pragma once
// A simulator's webhooks as a transactional outbox: an event is written in the same
// transaction as the state change it reports, then a delivery pass POSTs it to the
// receiver, signed (http/webhook_signature), until the receiver answers 2xx. Every
// event therefore arrives at least once. Faults make delivery realistic: an event
// may be delivered twice (same event id) or wait a random delay first, so events
// arrive out of order. Failed deliveries back off 0.2 s, doubling to 30 s.

#include <atomic>
#include <mutex>
#include <random>
#include <string>

#include "common/clock.h"
#include "common/json.h"
#include "http/router.h"
#include "persistence/sql/sql_database.h"

namespace keel::sims {

// The outbox table; each simulator puts it in its first migration.
extern const char* const kWebhookOutboxSchema;

struct WebhookFaults {
  double duplicate_rate = 0;  // a delivered event is delivered once more
  Millis max_delay_ms = 0;    // each event waits a random 0..N ms first
};

class WebhookOutbox {
 public:
  // `db` holds kWebhookOutboxSchema and outlives the outbox.
  WebhookOutbox(persistence::SqlDatabase* db, Clock* clock, std::string secret, uint64_t seed);

  // Adds event {id, object:"event", type, created, data:{object}} inside `t`; returns its id.
  Result<std::string> Add(persistence::SqlTxn& t, const std::string& type,
                          const json::object& object);
  // One delivery pass over the events due now; returns early when `stop` is set.
  void DeliverDue(const std::atomic<bool>& stop);

  // "" keeps events waiting until a URL is set. Thread-safe.
  void SetUrl(const std::string& url);
  void SetFaults(const WebhookFaults& f);
  const std::string& secret() const { return secret_; }

 private:
  bool Roll(double rate);
  Millis Delay();

  persistence::SqlDatabase* db_;
  Clock* clock_;
  std::string secret_;
  std::mutex mu_;  // guards url_, faults_, rng_
  std::string url_;
  WebhookFaults faults_;
  std::mt19937_64 rng_;
};

// Reads the simulator's webhook secret from its `settings` table, storing `given`
// when it is not empty, or a new random one when none is stored yet.
Result<std::string> LoadWebhookSecret(persistence::SqlDatabase& db, const std::string& given);

// A simulator's control routes (/v1/sim/*: faults, webhook URL) need
// `Authorization: Bearer <control token>`: 401 without, 403 for a wrong one, and 403
// control_disabled when the simulator was started without a token.
http::RouteFn ControlRoute(std::string control_token, http::RouteFn fn);

// POST /v1/sim/webhook {url}: points a simulator's webhooks at `url` (validated).
void AddWebhookUrlRoute(http::Router& router, const std::string& control_token,
                        std::function<void(const std::string&)> set_url);

// A random object id with `prefix` ("pi_", "evt_", "shp_").
std::string NewObjectId(const char* prefix);

}  // namespace keel::sims
