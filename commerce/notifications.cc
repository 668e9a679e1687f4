#include "commerce/notifications.h"

#include "commerce/validation.h"

namespace keel::commerce {
namespace {

using persistence::SqlRow;
using persistence::SqlRows;
using persistence::SqlTxn;

const std::vector<std::string> kMigrations = {
    "CREATE TABLE notifications(seq BIGINT NOT NULL UNIQUE, event_id TEXT PRIMARY KEY, user_id "
    "TEXT NOT NULL, order_id TEXT NOT NULL, type TEXT NOT NULL, message TEXT NOT NULL, "
    "created_at BIGINT NOT NULL);"
    "CREATE INDEX notifications_by_user ON notifications(user_id, seq);"
    "CREATE INDEX notifications_by_order ON notifications(order_id, seq);",
};

constexpr const char* kCols = "event_id, user_id, order_id, type, message, created_at, seq";

Notification Read(const SqlRow& r) {
  return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5)};
}

}  // namespace

Result<std::unique_ptr<Notifications>> Notifications::Open(
    std::unique_ptr<persistence::SqlDatabase> db, Clock* clock) {
  KEEL_RETURN_IF_ERROR(db->Migrate(kMigrations));
  return std::unique_ptr<Notifications>(new Notifications(std::move(db), clock));
}

Status Notifications::Add(Notification n, bool* created) {
  KEEL_RETURN_IF_ERROR(CheckText("event_id", n.event_id, 1, 200));
  KEEL_RETURN_IF_ERROR(CheckText("type", n.type, 1, 64));
  KEEL_RETURN_IF_ERROR(CheckText("message", n.message, 0, 1000));
  bool made = false;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    made = false;
    if (db_->postgres()) {
      // Serializes writers so seq follows commit order (readers page by it).
      KEEL_RETURN_IF_ERROR(
          t.Query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.notifications'))")
              .status());
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows seen,
                          t.Query("SELECT 1 FROM notifications WHERE event_id = $1", {n.event_id}));
    if (!seen.empty()) return Status::Ok();
    KEEL_ASSIGN_OR_RETURN(
        int64_t rows,
        t.Exec("INSERT INTO notifications(seq, event_id, user_id, order_id, type, message, "
               "created_at) SELECT COALESCE(MAX(seq), 0) + 1, CAST($1 AS TEXT), CAST($2 AS "
               "TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS BIGINT) "
               "FROM notifications",
               {n.event_id, n.user_id, n.order_id, n.type, n.message, clock_->Now()}));
    made = rows == 1;
    return Status::Ok();
  }));
  if (created) *created = made;
  return Status::Ok();
}

Result<std::pair<std::vector<Notification>, int64_t>> Notifications::List(
    const std::string& user_id, int64_t before_seq, int limit) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows rows,
      db_->Query(std::string("SELECT ") + kCols +
                     " FROM notifications WHERE user_id = $1 AND seq < $2 ORDER BY seq DESC "
                     "LIMIT $3",
                 {user_id, before_seq > 0 ? before_seq : INT64_MAX, int64_t{limit} + 1}));
  std::vector<Notification> out;
  int64_t next = 0;
  for (size_t i = 0; i < rows.size() && static_cast<int>(i) < limit; ++i) {
    out.push_back(Read(rows[i]));
    if (static_cast<int>(rows.size()) > limit) next = rows[i].Int(6);
  }
  return std::make_pair(std::move(out), next);
}

Result<std::vector<Notification>> Notifications::ForOrder(const std::string& order_id) {
  KEEL_ASSIGN_OR_RETURN(SqlRows rows, db_->Query(std::string("SELECT ") + kCols +
                                                     " FROM notifications WHERE order_id = $1 "
                                                     "ORDER BY seq",
                                                 {order_id}));
  std::vector<Notification> out;
  for (const auto& r : rows) out.push_back(Read(r));
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> Notifications::CountByOrder(
    const std::string& type) {
  KEEL_ASSIGN_OR_RETURN(persistence::SqlRows rows,
                        db_->Query("SELECT order_id, COUNT(*) FROM notifications WHERE type = $1 "
                                   "GROUP BY order_id",
                                   {type}));
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& r : rows) out.emplace_back(r.Text(0), r.Int(1));
  return out;
}

}  // namespace keel::commerce
