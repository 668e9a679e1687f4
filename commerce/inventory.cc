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

Hold ReadHold(const SqlRow& r) {
  return Hold{r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5)};
}

}  // namespace

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
      // The row is ours until commit: what is available now, and was before.
      KEEL_ASSIGN_OR_RETURN(SqlRows now, t.Query(std::string("SELECT s.on_hand - s.committed - ") +
                                                     kHeld + " FROM stock s WHERE s.sku = $1",
                                                 {l.sku, clock_->Now()}));
      const int64_t after = std::max<int64_t>(0, now[0].Int(0));
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
      if (db_->postgres()) {
        KEEL_RETURN_IF_ERROR(
            t.Query("SELECT sku FROM stock WHERE sku = $1 FOR UPDATE", {l.sku}).status());
      }
      // The decision: insert the hold only if enough units are free right now.
      KEEL_ASSIGN_OR_RETURN(
          int64_t n,
          t.Exec(std::string("INSERT INTO holds(hold_id, sku, quantity, expires_at, state, "
                             "order_id, created_at, updated_at, buyer_id) "
                             "SELECT CAST($3 AS TEXT), s.sku, CAST($4 AS BIGINT), "
                             "CAST($5 AS BIGINT), 'active', CAST($6 AS TEXT), CAST($2 AS BIGINT), "
                             "CAST($2 AS BIGINT), CAST($7 AS TEXT) FROM stock s "
                             "WHERE s.sku = $1 AND s.on_hand - s.committed - ") +
                     kHeld + " >= CAST($4 AS BIGINT) ON CONFLICT(hold_id) DO NOTHING",
                 {l.sku, now, l.hold_id, l.quantity, now + ttl_ms, order_id, buyer.buyer_id}));
      if (n == 1) {
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
      KEEL_ASSIGN_OR_RETURN(SqlRows lv, t.Query(std::string("SELECT s.on_hand - s.committed - ") +
                                                    kHeld + " FROM stock s WHERE s.sku = $1",
                                                {l.sku, now}));
      int64_t available = lv.empty() ? 0 : lv[0].Int(0);
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
      return Outbox::Append(t, moved[0].Text(0), 0, "sold", now, moved[0].Int(1));
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
      return Outbox::Append(t, sold[0].Text(0), 0, "unsold", now, sold[0].Int(1));
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows held,
                          t.Query("UPDATE holds SET state = 'released', updated_at = $2 WHERE "
                                  "hold_id = $1 AND state = 'active' RETURNING sku, quantity",
                                  {hold_id, now}));
    if (held.empty()) return Status::Ok();
    return Outbox::Append(t, held[0].Text(0), 0, "released", now, held[0].Int(1));
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
      KEEL_RETURN_IF_ERROR(Outbox::Append(t, g.Text(0), 0, "expired", now, g.Int(1)));
    }
    return Status::Ok();
  }));
  return n;
}

Result<StockLevel> Inventory::Level(const std::string& sku) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r,
                        db_->Query(std::string("SELECT s.sku, s.on_hand, s.committed, ") + kHeld +
                                       ", s.supplied FROM stock s WHERE s.sku = $1",
                                   {sku, clock_->Now()}));
  if (r.empty()) return StockLevel{sku, 0, 0, 0, 0, 0};
  StockLevel l{r[0].Text(0), r[0].Int(1), r[0].Int(2), r[0].Int(3), 0, r[0].Int(4)};
  l.available = std::max<int64_t>(0, l.on_hand - l.committed - l.held);
  return l;
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
