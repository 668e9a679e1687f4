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

#include <map>
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

// Hot SKUs: stock split over shard rows, so concurrent reservations lock different
// rows. Shard k of SKU S is the stock row "S#k"; a hold on it names that row as its
// sku. The SKU's own row keeps what the shards cannot (units committed or held
// before it was split) and `shards`, their count. Availability is the sum of the
// rows. A SKU may not contain '#'.
std::string ShardSku(const std::string& sku, int64_t shard);
// "S" for "S#k", else the sku itself.
std::string BaseSku(const std::string& sku);
inline constexpr int64_t kMaxShards = 64;

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
  // Splits `sku`'s free units evenly over `shards` shard rows (2..kMaxShards), or, for
  // 0 or 1, gathers the shards' free units back into the SKU's row. Later restocks
  // are split the same way. not_found for a SKU with no stock row.
  Status SetShards(const std::string& sku, int64_t shards);
  // SKUs split into shards, with their shard counts.
  Result<std::map<std::string, int64_t>> HotSkus();
  // Reserves every line or none, each hold expiring ttl_ms from now. A hot SKU's
  // line takes its units from one shard row that has them (tried from a place chosen
  // by the hold id, skipping rows another reservation has locked), else from the
  // SKU's own row; a quantity more than any one row has left is insufficient_stock. Lines whose
  // hold exists already are left as they are (idempotent). insufficient_stock names the SKU and
  // what is available; hold_not_active when a hold id was released or expired; buyer_limit when the
  // buyer's holds would pass a cap of `buyer`.
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

  // The SKU's level: its row and its shard rows summed.
  Result<StockLevel> Level(const std::string& sku);
  Result<Hold> GetHold(const std::string& hold_id);
  // Holds with state = `state` ("" for all), for audits and tests.
  Result<std::vector<Hold>> ListHolds(const std::string& state);
  // Every stock row, shard rows apart (audits).
  Result<std::vector<StockLevel>> ListStock();
  // Stock events, for their consumers (outbox.h). Every change above is announced in
  // the transaction that makes it: restocks as said, and each hold's reservation,
  // commit ("sold"), release ("released", or "unsold" when committed) and expiry, with
  // its units in `quantity`. A repeat that changes nothing announces nothing.
  Outbox& outbox() { return outbox_; }

 private:
  Inventory(std::unique_ptr<persistence::SqlDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock), outbox_(db_.get()) {}
  // Takes one line's units from a shard row of hot `sku` (or its own row): true when
  // a hold was made.
  Result<bool> ReserveSharded(persistence::SqlTxn& t, const HoldRequest& l, int64_t shards,
                              const std::string& order_id, Millis expires_at,
                              const std::string& buyer_id);
  std::unique_ptr<persistence::SqlDatabase> db_;
  Clock* clock_;
  Outbox outbox_;
};

}  // namespace keel::commerce
