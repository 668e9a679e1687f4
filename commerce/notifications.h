#pragma once
// Buyer notifications ("notifications" database): one row per order event, keyed by
// the event id the workflow derives (order id + event type), so a notification
// activity that runs twice records one notification.

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct Notification {
  std::string event_id, user_id, order_id, type, message;
  Millis created_at = 0;
};

class Notifications {
 public:
  static Result<std::unique_ptr<Notifications>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                                     Clock* clock);
  // Records `n` once per event_id; `*created` says whether this call recorded it.
  Status Add(Notification n, bool* created = nullptr);
  // A user's notifications, newest first, at most `limit`, older than `before_seq`
  // (0: from the newest). Returns them with the seq of the last one (the next cursor).
  Result<std::pair<std::vector<Notification>, int64_t>> List(const std::string& user_id,
                                                             int64_t before_seq, int limit);
  // Every notification of `order_id`, oldest first (audits, tests).
  Result<std::vector<Notification>> ForOrder(const std::string& order_id);
  // How many notifications of `type` each order has (those with any), in one query.
  Result<std::vector<std::pair<std::string, int64_t>>> CountByOrder(const std::string& type);

 private:
  Notifications(std::unique_ptr<persistence::SqlDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}
  std::unique_ptr<persistence::SqlDatabase> db_;
  Clock* clock_;
};

}  // namespace keel::commerce
