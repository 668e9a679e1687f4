#pragma once
// What buyers look at and buy ("activity" database): each signed-in buyer's recently
// viewed items, views per item and day (anyone's), and units sold per item and day,
// for popularity and trending. Sales come from the inventory outbox (ApplySales). A view is
// recorded in memory on the request's path (RecordView: a lock, a counter and for a buyer a push,
// never a database write) and written by Flush(), which the shop's background thread
// runs every second: buyers' views at once, per-item counts every kCountsEveryMs, of
// the kMaxCountsWritten most viewed items. Past kMaxQueued items or buyer views
// waiting, views are dropped; dropped and unwritten views are counted
// (keel_views_dropped_total), so a flood grows neither memory nor writes. A view not
// yet flushed is lost with its process: these are signals, not records.

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "commerce/outbox.h"
#include "common/clock.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct DailyCount {
  std::string item_id;
  int64_t day = 0, count = 0;  // day: days since the epoch, UTC
};

// The rows of `sql`, a query of (item_id, day, count) taking the first day as $1.
Result<std::vector<DailyCount>> QueryDailyCounts(persistence::SqlDatabase& db, std::string_view sql,
                                                 int64_t since_day);

class Signals {
 public:
  static constexpr size_t kMaxQueued = 10'000;
  static constexpr int kRecentPerBuyer = 50;  // recently viewed items kept per buyer
  static constexpr Millis kCountsEveryMs = 10'000;
  static constexpr size_t kMaxCountsWritten = 2'000;

  static Result<std::unique_ptr<Signals>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                               Clock* clock);
  // `user_id` "" for an anonymous view (counted, not remembered).
  void RecordView(const std::string& user_id, const std::string& item_id);
  // Writes the buyers' views recorded so far and, when `counts_now` or every
  // kCountsEveryMs, the per-item counts; returns how many views it wrote.
  Result<int64_t> Flush(bool counts_now = true);
  // A buyer's most recently viewed item ids, newest first, at most `limit`.
  Result<std::vector<std::string>> RecentlyViewed(const std::string& user_id, int limit);
  // Views per item and day, from `since_day` on.
  Result<std::vector<DailyCount>> ViewsSince(int64_t since_day);
  // Deletes view counts of days before `views_before` and sales of days before
  // `sales_before`.
  Status PruneCounts(int64_t views_before, int64_t sales_before);

  // Adds the units of the "sold" events (less "unsold") to their item's count for the
  // event's day. Exactly once: `consumer`'s cursor is kept here, in the transaction
  // that adds the counts, and events at or before it are skipped. Returns how many
  // events were new.
  Result<int64_t> ApplySales(const std::string& consumer, const std::vector<OutboxEvent>& events);
  // Units sold per item and day, from `since_day` on.
  Result<std::vector<DailyCount>> SalesSince(int64_t since_day);

 private:
  Signals(std::unique_ptr<persistence::SqlDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}
  struct View {
    std::string user_id, item_id;
    Millis at;
    int64_t ord;  // at * 4096 + arrival within the ms: newest first, ties kept in order
  };
  std::unique_ptr<persistence::SqlDatabase> db_;
  Clock* clock_;
  std::mutex mu_;
  std::deque<View> queued_;                          // buyers' views
  std::unordered_map<std::string, int64_t> counts_;  // views per item
  Millis counts_written_at_ = 0;
  Millis last_ms_ = 0;     // of the last buyer's view
  int64_t within_ms_ = 0;  // its arrival within that ms
};

}  // namespace keel::commerce
