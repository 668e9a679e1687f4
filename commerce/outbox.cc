#include "commerce/outbox.h"

#include <algorithm>

namespace keel::commerce {

using persistence::SqlRows;
using persistence::SqlTxn;

const char* Outbox::kConsumersTable =
    "CREATE TABLE outbox_consumers(consumer TEXT PRIMARY KEY, seq BIGINT NOT NULL);"
    "CREATE INDEX outbox_by_time ON outbox(created_at);";

const char* Outbox::kAddQuantity =
    "ALTER TABLE outbox ADD COLUMN quantity BIGINT NOT NULL DEFAULT 0;";

Status Outbox::Append(SqlTxn& t, const std::string& item_id, int64_t version,
                      const std::string& kind, Millis now, int64_t quantity) {
  return t
      .Exec(
          "INSERT INTO outbox(item_id, version, kind, created_at, quantity) "
          "VALUES($1,$2,$3,$4,$5)",
          {item_id, version, kind, now, quantity})
      .status();
}

Result<OutboxBatch> Outbox::Read(const std::string& consumer, int limit) {
  KEEL_ASSIGN_OR_RETURN(SqlRows c, db_->Query("SELECT consumer, seq FROM outbox_consumers WHERE "
                                              "consumer IN ($1, '~pruned')",
                                              {consumer}));
  int64_t cursor = 0, pruned = 0;
  for (const auto& r : c) (r.Text(0) == consumer ? cursor : pruned) = r.Int(1);
  OutboxBatch batch;
  batch.gap = cursor < pruned;
  KEEL_ASSIGN_OR_RETURN(SqlRows r,
                        db_->Query("SELECT seq, item_id, version, kind, created_at, "
                                   "quantity FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
                                   {cursor, static_cast<int64_t>(limit)}));
  for (const auto& row : r) {
    batch.events.push_back(
        {row.Int(0), row.Text(1), row.Int(2), row.Text(3), row.Int(4), row.Int(5)});
  }
  return batch;
}

Status Outbox::Ack(const std::string& consumer, int64_t seq) {
  return db_->Transact([&](SqlTxn& t) {
    return t
        .Exec(
            "INSERT INTO outbox_consumers(consumer, seq) VALUES($1, $2) ON CONFLICT(consumer) "
            "DO UPDATE SET seq = excluded.seq WHERE outbox_consumers.seq < excluded.seq",
            {consumer, seq})
        .status();
  });
}

Status Outbox::SkipToEnd(const std::string& consumer) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT COALESCE(MAX(seq), 0) FROM outbox"));
  KEEL_ASSIGN_OR_RETURN(SqlRows p, db_->Query("SELECT seq FROM outbox_consumers WHERE consumer = "
                                              "'~pruned'"));
  return Ack(consumer, std::max(r[0].Int(0), p.empty() ? 0 : p[0].Int(0)));
}

Result<int64_t> Outbox::Prune(Millis before) {
  int64_t n = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(SqlRows top,
                          t.Query("SELECT MAX(seq) FROM outbox WHERE created_at < $1", {before}));
    if (top.empty() || top[0].IsNull(0)) return Status::Ok();
    const int64_t through = top[0].Int(0);
    KEEL_ASSIGN_OR_RETURN(n, t.Exec("DELETE FROM outbox WHERE seq <= $1", {through}));
    return t
        .Exec(
            "INSERT INTO outbox_consumers(consumer, seq) VALUES('~pruned', $1) ON "
            "CONFLICT(consumer) DO UPDATE SET seq = excluded.seq WHERE outbox_consumers.seq < "
            "excluded.seq",
            {through})
        .status();
  }));
  return n;
}

}  // namespace keel::commerce
