#pragma once
// The inventory service ("inventory" database). Per SKU: on_hand (units in the
// warehouse), committed (sold, not yet shipped) and supplied (every unit ever
// stocked). Holds reserve units for a while: a hold is active until it is committed,
// released, or its expires_at passes; an expired hold never reduces availability,
// even before the sweeper marks it expired.
//
//   available = on_hand - committed - sum(quantity of active, unexpired holds)
//
// Reserve, commit and release are each decided by one conditional statement (never
// a read, then a write) and are idempotent by hold id. On PostgreSQL, reserving first
// locks the SKU's stock row, because READ COMMITTED gives each statement its own
// snapshot and two reservations must not both count the same free units.
//
// Hold states:  active --commit--> committed --release--> released (units return)
//               active --release--> released;  active --expiry/sweep--> expired

#include <memory>
#include <string>
#include <vector>

#include "commerce/outbox.h"
#include "common/clock.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct HoldRequest {
  std::string hold_id;
  std::string sku;
  int64_t quantity = 0;
};

struct Hold {
  std::string hold_id, sku, state, order_id;
  int64_t quantity = 0;
  Millis expires_at = 0;
};

// Caps on what one buyer may hold at once (0: no cap), checked in the same
// transaction as each reservation, so racing checkouts cannot pass them together.
struct BuyerLimits {
  std::string buyer_id;    // "": no buyer, no caps
  int64_t max_units = 0;   // units in the buyer's active holds
  int64_t max_orders = 0;  // orders with active holds
};

struct StockLevel {
  std::string sku;
  int64_t on_hand = 0, committed = 0, held = 0, available = 0, supplied = 0;
};

class Inventory {
 public:
  static Result<std::unique_ptr<Inventory>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                                 Clock* clock);

  // Adds `quantity` units once per `restock_id` (a retried restock is not counted twice).
  Status Restock(const std::string& sku, int64_t quantity, const std::string& restock_id);
  struct RestockLine {
    std::string sku;
    int64_t quantity = 0;
    std::string restock_id;
  };
  // Many restocks in one transaction (seeding). A restock of a SKU that had a stock
  // row is announced in the inventory outbox (outbox()): "back_in_stock" when nothing
  // was available before it, else "restocked"; `version` is the units available after.
  Status RestockMany(const std::vector<RestockLine>& lines);
  // Reserves every line or none, each hold expiring ttl_ms from now. Lines whose hold
  // exists already are left as they are (idempotent). insufficient_stock names the
  // SKU and what is available; hold_not_active when a hold id was released or expired;
  // buyer_limit when the buyer's holds would pass a cap of `buyer`.
  Status Reserve(const std::vector<HoldRequest>& lines, const std::string& order_id, Millis ttl_ms,
                 const BuyerLimits& buyer = {});
  // active -> committed (units move to committed). Committing a committed hold is ok;
  // hold_expired when its time ran out; hold_not_active when released; not_found.
  Status Commit(const std::string& hold_id);
  // active -> released, or committed -> released with its units given back. Releasing
  // a released, expired or unknown hold is ok.
  Status Release(const std::string& hold_id);
  // Forgets restock ids recorded more than `older_than_ms` ago (a restock retried
  // after that counts again); returns how many.
  Result<int64_t> PruneRestocks(Millis older_than_ms);
  // Marks active holds past their expiry as expired; returns how many.
  Result<int64_t> SweepExpired();

  Result<StockLevel> Level(const std::string& sku);
  Result<Hold> GetHold(const std::string& hold_id);
  // Holds with state = `state` ("" for all), for audits and tests.
  Result<std::vector<Hold>> ListHolds(const std::string& state);
  Result<std::vector<StockLevel>> ListStock();
  // Stock events, for their consumers (outbox.h). Every change above is announced in
  // the transaction that makes it: restocks as said, and each hold's reservation,
  // commit ("sold"), release ("released", or "unsold" when committed) and expiry, with
  // its units in `quantity`. A repeat that changes nothing announces nothing.
  Outbox& outbox() { return outbox_; }

 private:
  Inventory(std::unique_ptr<persistence::SqlDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock), outbox_(db_.get()) {}
  std::unique_ptr<persistence::SqlDatabase> db_;
  Clock* clock_;
  Outbox outbox_;
};

}  // namespace keel::commerce
