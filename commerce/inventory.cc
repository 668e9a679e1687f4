#include "commerce/inventory.h"

#include <algorithm>

#include "commerce/outbox.h"
#include "commerce/validation.h"

namespace keel::commerce {
namespace {

using persistence::SqlRow;
using persistence::SqlRows;
using persistence::SqlTxn;

const std::vector<std::string> kMigrations = {
    "CREATE TABLE stock(sku TEXT PRIMARY KEY, on_hand BIGINT NOT NULL CHECK (on_hand >= 0), "
    "committed BIGINT NOT NULL CHECK (committed >= 0 AND committed <= on_hand), supplied BIGINT "
    "NOT NULL CHECK (supplied >= 0));"
    "CREATE TABLE holds(hold_id TEXT PRIMARY KEY, sku TEXT NOT NULL, quantity BIGINT NOT NULL "
    "CHECK (quantity > 0), expires_at BIGINT NOT NULL, state TEXT NOT NULL, order_id TEXT NOT "
    "NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX holds_active ON holds(sku, state, expires_at);"
    "CREATE INDEX holds_by_state ON holds(state, expires_at);"
    "CREATE TABLE restocks(restock_id TEXT PRIMARY KEY, sku TEXT NOT NULL, quantity BIGINT NOT "
    "NULL, at BIGINT NOT NULL);",
    // Who holds what, for the per-buyer caps.
    "ALTER TABLE holds ADD COLUMN buyer_id TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX holds_by_buyer ON holds(buyer_id, state, expires_at);"
    "CREATE INDEX restocks_age ON restocks(at);",
    // Stock events for other services (outbox.h).
    std::string("CREATE TABLE outbox(seq ") +
        "SERIAL_PK, item_id TEXT NOT NULL, version BIGINT NOT NULL, kind TEXT NOT NULL, "
        "created_at BIGINT NOT NULL);" +
        Outbox::kConsumersTable,
    Outbox::kAddQuantity,
    // Hot SKUs: how many shard rows ("S#k") share the SKU's stock.
    "ALTER TABLE stock ADD COLUMN shards BIGINT NOT NULL DEFAULT 0;",
};

// Units held by active, unexpired holds of stock row s at time $2 (SQL expression).
constexpr const char* kHeld =
    "(SELECT COALESCE(SUM(h.quantity), 0) FROM holds h WHERE h.sku = s.sku AND h.state = "
    "'active' AND h.expires_at > CAST($2 AS BIGINT))";

// Refuses a reservation that would take the buyer past a cap. Holds this order has
// already (a retried or parallel line) count once. On PostgreSQL the buyer's
// reservations take turns (an advisory lock); SQLite's writers always do.
Status CheckBuyerLimits(SqlTxn& t, bool postgres, const std::vector<HoldRequest>& lines,
                        const std::string& order_id, const BuyerLimits& buyer, Millis now) {
  if (postgres) {
    KEEL_RETURN_IF_ERROR(
        t.Query("SELECT pg_advisory_xact_lock(hashtext('keel.buyer.' || $1))", {buyer.buyer_id})
            .status());
  }
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r,
      t.Query("SELECT COALESCE(SUM(CASE WHEN order_id <> $3 THEN quantity ELSE 0 END), 0), "
              "COUNT(DISTINCT CASE WHEN order_id <> $3 THEN order_id END) FROM holds "
              "WHERE buyer_id = $1 AND state = 'active' AND expires_at > $2",
              {buyer.buyer_id, now, order_id}));
  int64_t held = r.at(0).Int(0), orders = r.at(0).Int(1);
  // This order's own holds, made or about to be.
  KEEL_ASSIGN_OR_RETURN(SqlRows mine, t.Query("SELECT hold_id, quantity FROM holds WHERE "
                                              "order_id = $1 AND state = 'active'",
                                              {order_id}));
  int64_t own = 0;
  for (const auto& h : mine) own += h.Int(1);
  for (const auto& l : lines) {
    bool made = false;
    for (const auto& h : mine) made = made || h.Text(0) == l.hold_id;
    if (!made) own += l.quantity;
  }
  if (buyer.max_orders > 0 && orders >= buyer.max_orders) {
    return Status::FailedPrecondition("buyer " + buyer.buyer_id + " has " + std::to_string(orders) +
                                          " unpaid orders already (at most " +
                                          std::to_string(buyer.max_orders) + ")",
                                      "buyer_limit");
  }
  if (buyer.max_units > 0 && held + own > buyer.max_units) {
    return Status::FailedPrecondition("buyer " + buyer.buyer_id + " would hold " +
                                          std::to_string(held + own) + " units (at most " +
                                          std::to_string(buyer.max_units) + ")",
                                      "buyer_limit");
  }
  return Status::Ok();
}

// Inserts hold `l` on stock row `row` if that row has the units free right now;
// returns 1 when it did (0: not enough, or the hold id exists).
Result<int64_t> TryHold(SqlTxn& t, const std::string& row, const HoldRequest& l,
                        const std::string& order_id, Millis now, Millis expires_at,
                        const std::string& buyer_id) {
  return t.Exec(std::string("INSERT INTO holds(hold_id, sku, quantity, expires_at, state, "
                            "order_id, created_at, updated_at, buyer_id) "
                            "SELECT CAST($3 AS TEXT), s.sku, CAST($4 AS BIGINT), "
                            "CAST($5 AS BIGINT), 'active', CAST($6 AS TEXT), CAST($2 AS BIGINT), "
                            "CAST($2 AS BIGINT), CAST($7 AS TEXT) FROM stock s "
                            "WHERE s.sku = $1 AND s.on_hand - s.committed - ") +
                    kHeld + " >= CAST($4 AS BIGINT) ON CONFLICT(hold_id) DO NOTHING",
                {row, now, l.hold_id, l.quantity, expires_at, order_id, buyer_id});
}

// Units of stock row `row` free now.
Result<int64_t> FreeUnits(SqlTxn& t, const std::string& row, Millis now) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, t.Query(std::string("SELECT s.on_hand - s.committed - ") +
                                               kHeld + " FROM stock s WHERE s.sku = $1",
                                           {row, now}));
  return r.empty() ? 0 : std::max<int64_t>(0, r[0].Int(0));
}

// Moves `units` free units (and as many supplied) from stock row `from` to row `to`,
// making `to` when it is new.
Status MoveUnits(SqlTxn& t, const std::string& from, const std::string& to, int64_t units) {
  if (units <= 0) return Status::Ok();
  KEEL_RETURN_IF_ERROR(t.Exec("UPDATE stock SET on_hand = on_hand - $2, supplied = supplied - $2 "
                              "WHERE sku = $1",
                              {from, units})
                           .status());
  return t
      .Exec(
          "INSERT INTO stock(sku, on_hand, committed, supplied) VALUES($1,$2,0,$2) "
          "ON CONFLICT(sku) DO UPDATE SET on_hand = stock.on_hand + excluded.on_hand, "
          "supplied = stock.supplied + excluded.supplied",
          {to, units})
      .status();
}

// Gathers the free units of shards [from, to) of `sku` into its own row, then, with
// `shards` > 1, spreads its own row's free units evenly over shards [0, shards).
Status Rebalance(SqlTxn& t, const std::string& sku, int64_t from, int64_t to, int64_t shards,
                 Millis now) {
  for (int64_t k = from; k < to; ++k) {
    KEEL_ASSIGN_OR_RETURN(int64_t free, FreeUnits(t, ShardSku(sku, k), now));
    KEEL_RETURN_IF_ERROR(MoveUnits(t, ShardSku(sku, k), sku, free));
  }
  if (shards < 2) return Status::Ok();
  KEEL_ASSIGN_OR_RETURN(int64_t free, FreeUnits(t, sku, now));
  for (int64_t k = 0; k < shards; ++k) {
    KEEL_RETURN_IF_ERROR(
        MoveUnits(t, sku, ShardSku(sku, k), free / shards + (k < free % shards ? 1 : 0)));
  }
  return Status::Ok();
}

Hold ReadHold(const SqlRow& r) {
  return Hold{r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5)};
}

}  // namespace

std::string ShardSku(const std::string& sku, int64_t shard) {
  return sku + "#" + std::to_string(shard);
}

std::string BaseSku(const std::string& sku) { return sku.substr(0, sku.find('#')); }

Result<std::unique_ptr<Inventory>> Inventory::Open(std::unique_ptr<persistence::SqlDatabase> db,
                                                   Clock* clock) {
  std::vector<std::string> migrations = kMigrations;
  for (std::string& m : migrations) {
    if (auto at = m.find("SERIAL_PK"); at != std::string::npos) {
      m.replace(at, 9,
                db->postgres() ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT");
    }
  }
  KEEL_RETURN_IF_ERROR(db->Migrate(migrations));
  return std::unique_ptr<Inventory>(new Inventory(std::move(db), clock));
}

Status Inventory::Restock(const std::string& sku, int64_t quantity, const std::string& restock_id) {
  return RestockMany({{sku, quantity, restock_id}});
}

Status Inventory::RestockMany(const std::vector<RestockLine>& lines) {
  for (const auto& l : lines) {
    KEEL_RETURN_IF_ERROR(CheckRange("quantity", l.quantity, 0, kMaxQuantity));
    if (l.sku.find('#') != std::string::npos) return FieldError("sku", "may not contain '#'");
  }
  return db_->Transact([&](SqlTxn& t) -> Status {
    for (const auto& l : lines) {
      KEEL_ASSIGN_OR_RETURN(int64_t fresh,
                            t.Exec("INSERT INTO restocks(restock_id, sku, quantity, at) "
                                   "VALUES($1,$2,$3,$4) ON CONFLICT(restock_id) DO NOTHING",
                                   {l.restock_id, l.sku, l.quantity, clock_->Now()}));
      if (fresh == 0) continue;  // applied before
      KEEL_ASSIGN_OR_RETURN(SqlRows had, t.Query("SELECT 1 FROM stock WHERE sku = $1", {l.sku}));
      KEEL_RETURN_IF_ERROR(
          t.Exec("INSERT INTO stock(sku, on_hand, committed, supplied) VALUES($1,$2,0,$2) "
                 "ON CONFLICT(sku) DO UPDATE SET on_hand = stock.on_hand + excluded.on_hand, "
                 "supplied = stock.supplied + excluded.supplied",
                 {l.sku, l.quantity})
              .status());
      if (had.empty() || l.quantity == 0) continue;  // a new SKU: nobody waits for it
      KEEL_ASSIGN_OR_RETURN(SqlRows hot,
                            t.Query("SELECT shards FROM stock WHERE sku = $1", {l.sku}));
      const int64_t shards = hot[0].Int(0);
      if (shards > 1) KEEL_RETURN_IF_ERROR(Rebalance(t, l.sku, 0, 0, shards, clock_->Now()));
      // The row is ours until commit: what is available now, and was before.
      int64_t after = 0;
      for (int64_t k = -1; k < std::max<int64_t>(shards, 0); ++k) {
        KEEL_ASSIGN_OR_RETURN(int64_t free,
                              FreeUnits(t, k < 0 ? l.sku : ShardSku(l.sku, k), clock_->Now()));
        after += free;
      }
      const bool from_zero = after - l.quantity <= 0 && after > 0;
      KEEL_RETURN_IF_ERROR(Outbox::Append(
          t, l.sku, after, from_zero ? "back_in_stock" : "restocked", clock_->Now(), l.quantity));
    }
    return Status::Ok();
  });
}

Result<int64_t> Inventory::PruneRestocks(Millis older_than_ms) {
  int64_t pruned = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(
        pruned, t.Exec("DELETE FROM restocks WHERE at < $1", {clock_->Now() - older_than_ms}));
    return Status::Ok();
  }));
  return pruned;
}

Status Inventory::Reserve(const std::vector<HoldRequest>& lines, const std::string& order_id,
                          Millis ttl_ms, const BuyerLimits& buyer) {
  if (lines.empty()) return FieldError("lines", "must not be empty");
  for (const auto& l : lines) {
    KEEL_RETURN_IF_ERROR(CheckRange("quantity", l.quantity, 1, kMaxQuantity));
    KEEL_RETURN_IF_ERROR(CheckText("hold_id", l.hold_id, 1, 200));
  }
  // A fixed lock order, so two multi-SKU reservations cannot deadlock.
  std::vector<HoldRequest> sorted = lines;
  std::sort(sorted.begin(), sorted.end(),
            [](const HoldRequest& a, const HoldRequest& b) { return a.sku < b.sku; });
  const bool capped = !buyer.buyer_id.empty() && (buyer.max_units > 0 || buyer.max_orders > 0);
  return db_->Transact([&](SqlTxn& t) -> Status {
    const Millis now = clock_->Now();
    if (capped)
      KEEL_RETURN_IF_ERROR(CheckBuyerLimits(t, db_->postgres(), sorted, order_id, buyer, now));
    for (const auto& l : sorted) {
      KEEL_ASSIGN_OR_RETURN(SqlRows hot,
                            t.Query("SELECT shards FROM stock WHERE sku = $1", {l.sku}));
      const int64_t shards = hot.empty() ? 0 : hot[0].Int(0);
      bool made = false;
      if (shards > 1) {
        KEEL_ASSIGN_OR_RETURN(made,
                              ReserveSharded(t, l, shards, order_id, now + ttl_ms, buyer.buyer_id));
      } else {
        if (db_->postgres()) {
          KEEL_RETURN_IF_ERROR(
              t.Query("SELECT sku FROM stock WHERE sku = $1 FOR UPDATE", {l.sku}).status());
        }
        // The decision: insert the hold only if enough units are free right now.
        KEEL_ASSIGN_OR_RETURN(int64_t n,
                              TryHold(t, l.sku, l, order_id, now, now + ttl_ms, buyer.buyer_id));
        made = n == 1;
      }
      if (made) {
        KEEL_RETURN_IF_ERROR(Outbox::Append(t, l.sku, 0, "reserved", now, l.quantity));
        continue;
      }
      KEEL_ASSIGN_OR_RETURN(
          SqlRows h,
          t.Query("SELECT state, expires_at FROM holds WHERE hold_id = $1", {l.hold_id}));
      if (!h.empty()) {
        if (h[0].Text(0) == "committed" || (h[0].Text(0) == "active" && h[0].Int(1) > now)) {
          continue;  // reserved before: idempotent
        }
        return Status::FailedPrecondition("hold " + l.hold_id + " is " + h[0].Text(0),
                                          "hold_not_active");
      }
      int64_t available = 0;
      for (int64_t k = -1; k < shards; ++k) {
        KEEL_ASSIGN_OR_RETURN(int64_t free, FreeUnits(t, k < 0 ? l.sku : ShardSku(l.sku, k), now));
        available += free;
      }
      return Status::FailedPrecondition("not enough stock of " + l.sku + ": " +
                                            std::to_string(available) + " available, " +
                                            std::to_string(l.quantity) + " requested",
                                        "insufficient_stock");
    }
    return Status::Ok();
  });
}

Status Inventory::Commit(const std::string& hold_id) {
  return db_->Transact([&](SqlTxn& t) -> Status {
    const Millis now = clock_->Now();
    KEEL_ASSIGN_OR_RETURN(SqlRows moved,
                          t.Query("UPDATE holds SET state = 'committed', updated_at = $2 WHERE "
                                  "hold_id = $1 AND state = 'active' AND expires_at > $2 "
                                  "RETURNING sku, quantity",
                                  {hold_id, now}));
    if (!moved.empty()) {
      KEEL_RETURN_IF_ERROR(t.Exec("UPDATE stock SET committed = committed + $2 WHERE sku = $1",
                                  {moved[0].Text(0), moved[0].Int(1)})
                               .status());
      return Outbox::Append(t, BaseSku(moved[0].Text(0)), 0, "sold", now, moved[0].Int(1));
    }
    KEEL_ASSIGN_OR_RETURN(
        SqlRows h, t.Query("SELECT state, expires_at FROM holds WHERE hold_id = $1", {hold_id}));
    if (h.empty()) return Status::NotFound("no hold " + hold_id, "not_found");
    const std::string state = h[0].Text(0);
    if (state == "committed") return Status::Ok();
    if (state == "expired" || (state == "active" && h[0].Int(1) <= now)) {
      return Status::FailedPrecondition("hold " + hold_id + " expired", "hold_expired");
    }
    return Status::FailedPrecondition("hold " + hold_id + " is " + state, "hold_not_active");
  });
}

Status Inventory::Release(const std::string& hold_id) {
  return db_->Transact([&](SqlTxn& t) -> Status {
    const Millis now = clock_->Now();
    // Two conditional transitions; at most one of them matches.
    KEEL_ASSIGN_OR_RETURN(SqlRows sold,
                          t.Query("UPDATE holds SET state = 'released', updated_at = $2 WHERE "
                                  "hold_id = $1 AND state = 'committed' RETURNING sku, quantity",
                                  {hold_id, now}));
    if (!sold.empty()) {
      KEEL_RETURN_IF_ERROR(t.Exec("UPDATE stock SET committed = committed - $2 WHERE sku = $1",
                                  {sold[0].Text(0), sold[0].Int(1)})
                               .status());
      return Outbox::Append(t, BaseSku(sold[0].Text(0)), 0, "unsold", now, sold[0].Int(1));
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows held,
                          t.Query("UPDATE holds SET state = 'released', updated_at = $2 WHERE "
                                  "hold_id = $1 AND state = 'active' RETURNING sku, quantity",
                                  {hold_id, now}));
    if (held.empty()) return Status::Ok();
    return Outbox::Append(t, BaseSku(held[0].Text(0)), 0, "released", now, held[0].Int(1));
  });
}

Result<int64_t> Inventory::SweepExpired() {
  int64_t n = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    const Millis now = clock_->Now();
    KEEL_ASSIGN_OR_RETURN(SqlRows gone,
                          t.Query("UPDATE holds SET state = 'expired', updated_at = $1 WHERE "
                                  "state = 'active' AND expires_at <= $1 RETURNING sku, quantity",
                                  {now}));
    n = static_cast<int64_t>(gone.size());
    for (const auto& g : gone) {
      KEEL_RETURN_IF_ERROR(Outbox::Append(t, BaseSku(g.Text(0)), 0, "expired", now, g.Int(1)));
    }
    return Status::Ok();
  }));
  return n;
}

Result<StockLevel> Inventory::Level(const std::string& sku) {
  // The SKU's row and its shard rows ("S#0" .. sort between "S#" and "S$").
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r, db_->Query(std::string("SELECT s.on_hand, s.committed, ") + kHeld +
                                ", s.supplied FROM stock s WHERE s.sku = $1 OR (s.sku > $3 AND "
                                "s.sku < $4)",
                            {sku, clock_->Now(), sku + "#", sku + "$"}));
  StockLevel l{sku, 0, 0, 0, 0, 0};
  for (const auto& row : r) {
    l.on_hand += row.Int(0);
    l.committed += row.Int(1);
    l.held += row.Int(2);
    l.supplied += row.Int(3);
    l.available += std::max<int64_t>(0, row.Int(0) - row.Int(1) - row.Int(2));
  }
  return l;
}

Status Inventory::SetShards(const std::string& sku, int64_t shards) {
  KEEL_RETURN_IF_ERROR(CheckRange("shards", shards, 0, kMaxShards));
  return db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(SqlRows r,
                          t.Query(std::string("SELECT shards FROM stock WHERE sku = $1") +
                                      (db_->postgres() ? " FOR UPDATE" : ""),
                                  {sku}));
    if (r.empty()) return Status::NotFound("no stock of " + sku, "not_found");
    const int64_t had = r[0].Int(0), want = shards < 2 ? 0 : shards;
    if (db_->postgres()) {  // the shard rows too, in order: no reservation is halfway
      KEEL_RETURN_IF_ERROR(t.Query("SELECT sku FROM stock WHERE sku > $1 AND sku < $2 ORDER BY "
                                   "sku FOR UPDATE",
                                   {sku + "#", sku + "$"})
                               .status());
    }
    // All back to the SKU's row, then spread over the new count.
    KEEL_RETURN_IF_ERROR(Rebalance(t, sku, 0, had, want, clock_->Now()));
    return t.Exec("UPDATE stock SET shards = $2 WHERE sku = $1", {sku, want}).status();
  });
}

Result<std::map<std::string, int64_t>> Inventory::HotSkus() {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT sku, shards FROM stock WHERE shards > 1"));
  std::map<std::string, int64_t> out;
  for (const auto& row : r) out[row.Text(0)] = row.Int(1);
  return out;
}

Result<bool> Inventory::ReserveSharded(SqlTxn& t, const HoldRequest& l, int64_t shards,
                                       const std::string& order_id, Millis expires_at,
                                       const std::string& buyer_id) {
  const Millis now = clock_->Now();
  KEEL_ASSIGN_OR_RETURN(SqlRows had,
                        t.Query("SELECT 1 FROM holds WHERE hold_id = $1", {l.hold_id}));
  if (!had.empty()) return false;  // made before: the caller sorts out what it is
  // From a place picked by the hold id, so buyers spread over the shards; the SKU's
  // own row last. PostgreSQL: the first pass skips rows another reservation has
  // locked, the second waits only for those, and only when they show the units free
  // (a row another reservation holds and found short is no use): so two reservations
  // rarely wait for each other's rows.
  const int64_t start = static_cast<int64_t>(std::hash<std::string>{}(l.hold_id) % shards);
  std::vector<std::string> rows;
  for (int64_t i = 0; i < shards; ++i) rows.push_back(ShardSku(l.sku, (start + i) % shards));
  rows.push_back(l.sku);
  std::vector<std::string> skipped;
  for (const auto& row : rows) {
    if (db_->postgres()) {
      KEEL_ASSIGN_OR_RETURN(
          SqlRows mine,
          t.Query("SELECT sku FROM stock WHERE sku = $1 FOR UPDATE SKIP LOCKED", {row}));
      if (mine.empty()) {
        skipped.push_back(row);
        continue;
      }
    }
    KEEL_ASSIGN_OR_RETURN(int64_t n, TryHold(t, row, l, order_id, now, expires_at, buyer_id));
    if (n == 1) return true;
  }
  for (const auto& row : skipped) {
    KEEL_ASSIGN_OR_RETURN(int64_t free, FreeUnits(t, row, now));
    if (free < l.quantity) continue;
    KEEL_RETURN_IF_ERROR(
        t.Query("SELECT sku FROM stock WHERE sku = $1 FOR UPDATE", {row}).status());
    KEEL_ASSIGN_OR_RETURN(int64_t n, TryHold(t, row, l, order_id, now, expires_at, buyer_id));
    if (n == 1) return true;
  }
  return false;
}

Result<Hold> Inventory::GetHold(const std::string& hold_id) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT hold_id, sku, state, order_id, quantity, "
                                              "expires_at FROM holds WHERE hold_id = $1",
                                              {hold_id}));
  if (r.empty()) return Status::NotFound("no hold " + hold_id, "not_found");
  return ReadHold(r[0]);
}

Result<std::vector<Hold>> Inventory::ListHolds(const std::string& state) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r, db_->Query("SELECT hold_id, sku, state, order_id, quantity, expires_at FROM "
                            "holds WHERE CAST($1 AS TEXT) = '' OR state = $1 ORDER BY hold_id",
                            {state}));
  std::vector<Hold> out;
  for (const auto& row : r) out.push_back(ReadHold(row));
  return out;
}

Result<std::vector<StockLevel>> Inventory::ListStock() {
  KEEL_ASSIGN_OR_RETURN(SqlRows r,
                        db_->Query(std::string("SELECT s.sku, s.on_hand, s.committed, ") + kHeld +
                                       ", s.supplied FROM stock s "
                                       "WHERE CAST($1 AS TEXT) = '' ORDER BY s.sku",
                                   {std::string(), clock_->Now()}));
  std::vector<StockLevel> out;
  for (const auto& row : r) {
    StockLevel l{row.Text(0), row.Int(1), row.Int(2), row.Int(3), 0, row.Int(4)};
    l.available = std::max<int64_t>(0, l.on_hand - l.committed - l.held);
    out.push_back(l);
  }
  return out;
}

}  // namespace keel::commerce
