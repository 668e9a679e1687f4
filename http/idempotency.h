#pragma once
// Idempotency-Key handling, Stripe's rules, shared by the storefront API and the
// payment-gateway simulator. A key is scoped (to a caller, or to an endpoint) and
// remembers the first response to a request:
// - the same key and the same request replays that response (errors included), with
//   the header Idempotent-Replayed: true;
// - the same key and another request is 400 idempotency_error;
// - a key whose first request is still running is 409 idempotency_key_in_use (a key
//   left running by a process that died is taken over after a minute);
// - a 5xx is not remembered: nothing happened, so a retry runs again; nor is a reply
//   with Retry-After (429, or 409 checkout_in_progress): it asks for that retry;
// - keys are kept 24 h, then pruned by Prune();
// - a request is remembered by its fingerprint: an HMAC-SHA256 under a key this
//   database keeps (made once, random), of the request with its secret fields
//   ("password", "cardNo", at any depth of a JSON body) left out. So the table holds
//   nothing a password could be guessed back from.

#include <atomic>
#include <functional>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "http/server.h"
#include "persistence/sql/sql_database.h"

namespace keel::http {

class IdempotencyKeys {
 public:
  static constexpr Millis kKeepMs = 24 * 3600 * 1000;
  static constexpr Millis kStaleInFlightMs = 60'000;

  // The table is created in `db` on first use (CREATE IF NOT EXISTS, so it can share
  // a database that has versioned migrations of its own).
  IdempotencyKeys(persistence::SqlDatabase* db, Clock* clock) : db_(db), clock_(clock) {}
  // Runs `run` at most once per (scope, key, request). An empty key just runs it.
  // `request` is what must match on reuse (for example the method, path and body).
  Response Run(const std::string& scope, const std::string& key, std::string_view request,
               const std::function<Response()>& run);
  // Deletes keys older than kKeepMs; returns how many.
  Result<int64_t> Prune();
  // The fingerprint Run stores for `request` (for tests).
  Result<std::string> Fingerprint(std::string_view request);

 private:
  Status EnsureSchema();
  persistence::SqlDatabase* db_;
  Clock* clock_;
  std::mutex mu_;    // guards key_
  std::string key_;  // the HMAC key, once loaded
  std::atomic<bool> ready_{false};
};

// Hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace keel::http
