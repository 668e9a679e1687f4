#include "commerce/signals.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "common/metrics.h"

namespace keel::commerce {
namespace {

using persistence::SqlRows;
using persistence::SqlTxn;

const std::vector<std::string> kMigrations = {
    // ord: the view's time in ms * 4096 + its arrival within that ms (newest first).
    "CREATE TABLE recent_views(user_id TEXT NOT NULL, item_id TEXT NOT NULL, viewed_at BIGINT "
    "NOT NULL, ord BIGINT NOT NULL, PRIMARY KEY(user_id, item_id));"
    "CREATE INDEX recent_views_newest ON recent_views(user_id, ord DESC);"
    "CREATE TABLE view_counts(day BIGINT NOT NULL, item_id TEXT NOT NULL, views BIGINT NOT NULL, "
    "PRIMARY KEY(day, item_id));",
    // Units sold, from the inventory outbox, and how far each reader of it has applied.
    "CREATE TABLE sales_counts(day BIGINT NOT NULL, item_id TEXT NOT NULL, units BIGINT NOT "
    "NULL, PRIMARY KEY(day, item_id));"
    "CREATE TABLE applied(consumer TEXT PRIMARY KEY, seq BIGINT NOT NULL);",
};

Counter& Dropped() {
  static Counter& c = Metrics::Global().GetCounter(
      "keel_views_dropped_total", "Item views not recorded: the queue was full.", {});
  return c;
}

}  // namespace

Result<std::unique_ptr<Signals>> Signals::Open(std::unique_ptr<persistence::SqlDatabase> db,
                                               Clock* clock) {
  KEEL_RETURN_IF_ERROR(db->Migrate(kMigrations));
  Dropped();  // in /metrics from the start, at 0
  return std::unique_ptr<Signals>(new Signals(std::move(db), clock));
}

void Signals::RecordView(const std::string& user_id, const std::string& item_id) {
  const Millis now = clock_->Now();
  std::lock_guard<std::mutex> l(mu_);
  auto it = counts_.find(item_id);
  if (it == counts_.end() && counts_.size() >= kMaxQueued) {
    Dropped().Inc();
    return;
  }
  if (it == counts_.end()) it = counts_.emplace(item_id, 0).first;
  ++it->second;
  if (user_id.empty()) return;
  if (queued_.size() >= kMaxQueued) {
    Dropped().Inc();
    return;
  }
  within_ms_ = now == last_ms_ ? std::min<int64_t>(within_ms_ + 1, 4095) : 0;
  last_ms_ = now;
  queued_.push_back({user_id, item_id, now, now * 4096 + within_ms_});
}

Result<int64_t> Signals::Flush(bool counts_now) {
  std::deque<View> views;
  std::unordered_map<std::string, int64_t> counts;
  {
    std::lock_guard<std::mutex> l(mu_);
    views.swap(queued_);
    if (counts_now || clock_->Now() - counts_written_at_ >= kCountsEveryMs) {
      counts.swap(counts_);
      counts_written_at_ = clock_->Now();
    }
  }
  if (views.empty() && counts.empty()) return 0;
  if (counts.size() > kMaxCountsWritten) {  // the long tail does not trend
    std::vector<std::pair<int64_t, std::string>> top;
    for (auto& [item, n] : counts) top.emplace_back(-n, item);
    std::nth_element(top.begin(), top.begin() + kMaxCountsWritten, top.end());
    for (size_t i = kMaxCountsWritten; i < top.size(); ++i) {
      Dropped().Inc(-top[i].first);
      counts.erase(top[i].second);
    }
  }
  const int64_t today = clock_->Now() / 86'400'000;
  std::set<std::string> users;
  for (const auto& v : views) users.insert(v.user_id);
  int64_t total = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    total = 0;
    for (const auto& v : views) {
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO recent_views(user_id, item_id, viewed_at, ord) "
                                  "VALUES($1,$2,$3,$4) ON CONFLICT(user_id, item_id) DO UPDATE SET "
                                  "viewed_at = excluded.viewed_at, ord = excluded.ord",
                                  {v.user_id, v.item_id, v.at, v.ord})
                               .status());
    }
    for (const auto& [item, n] : counts) {
      total += n;
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO view_counts(day, item_id, views) VALUES($1,$2,$3) "
                                  "ON CONFLICT(day, item_id) DO UPDATE SET views = "
                                  "view_counts.views + excluded.views",
                                  {today, item, n})
                               .status());
    }
    // Each buyer keeps the kRecentPerBuyer newest.
    for (const auto& u : users) {
      KEEL_RETURN_IF_ERROR(
          t.Exec("DELETE FROM recent_views WHERE user_id = $1 AND item_id NOT IN (SELECT item_id "
                 "FROM recent_views WHERE user_id = $1 ORDER BY ord DESC LIMIT $2)",
                 {u, int64_t{kRecentPerBuyer}})
              .status());
    }
    return Status::Ok();
  }));
  return total;
}

Result<std::vector<std::string>> Signals::RecentlyViewed(const std::string& user_id, int limit) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT item_id FROM recent_views WHERE user_id = "
                                              "$1 ORDER BY ord DESC LIMIT $2",
                                              {user_id, static_cast<int64_t>(limit)}));
  std::vector<std::string> out;
  for (const auto& row : r) out.push_back(row.Text(0));
  return out;
}

Result<std::vector<DailyCount>> QueryDailyCounts(persistence::SqlDatabase& db, std::string_view sql,
                                                 int64_t since_day) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db.Query(sql, {since_day}));
  std::vector<DailyCount> out;
  for (const auto& row : r) out.push_back({row.Text(0), row.Int(1), row.Int(2)});
  return out;
}

Result<std::vector<DailyCount>> Signals::ViewsSince(int64_t since_day) {
  return QueryDailyCounts(*db_, "SELECT item_id, day, views FROM view_counts WHERE day >= $1",
                          since_day);
}

Status Signals::PruneCounts(int64_t views_before, int64_t sales_before) {
  return db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_RETURN_IF_ERROR(t.Exec("DELETE FROM view_counts WHERE day < $1", {views_before}).status());
    return t.Exec("DELETE FROM sales_counts WHERE day < $1", {sales_before}).status();
  });
}

Result<int64_t> Signals::ApplySales(const std::string& consumer,
                                    const std::vector<OutboxEvent>& events) {
  int64_t fresh = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    fresh = 0;
    // The cursor row, locked: two processes applying the same events take turns.
    KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO applied(consumer, seq) VALUES($1, 0) "
                                "ON CONFLICT(consumer) DO NOTHING",
                                {consumer})
                             .status());
    KEEL_ASSIGN_OR_RETURN(SqlRows c,
                          t.Query(std::string("SELECT seq FROM applied WHERE consumer = $1") +
                                      (db_->postgres() ? " FOR UPDATE" : ""),
                                  {consumer}));
    int64_t cursor = c.at(0).Int(0);
    for (const auto& e : events) {
      if (e.seq <= cursor) continue;
      cursor = e.seq;
      ++fresh;
      const int64_t units = e.kind == "sold" ? e.quantity : e.kind == "unsold" ? -e.quantity : 0;
      if (units == 0) continue;
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO sales_counts(day, item_id, units) "
                                  "VALUES($1,$2,$3) ON CONFLICT(day, item_id) DO UPDATE SET "
                                  "units = sales_counts.units + excluded.units",
                                  {e.created_at / 86'400'000, e.item_id, units})
                               .status());
    }
    return t.Exec("UPDATE applied SET seq = $2 WHERE consumer = $1", {consumer, cursor}).status();
  }));
  return fresh;
}

Result<std::vector<DailyCount>> Signals::SalesSince(int64_t since_day) {
  return QueryDailyCounts(*db_, "SELECT item_id, day, units FROM sales_counts WHERE day >= $1",
                          since_day);
}

}  // namespace keel::commerce
