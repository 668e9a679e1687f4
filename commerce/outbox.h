#pragma once
// A transactional outbox with many readers. A service writes an event row in the
// same transaction as the change it announces (Append); each consumer reads the rows
// after its own durable cursor and acknowledges what it applied (at least once: a
// consumer must make a repeat harmless). No consumer's acknowledgement deletes
// anything: rows older than the retention window are pruned instead, and a consumer
// whose cursor fell behind a prune is told so (`gap`) and must resynchronise from
// the source of truth.
//
// Tables, in the owning service's database: `outbox(seq, item_id, version, kind,
// created_at, quantity)` and `outbox_consumers(consumer, seq)`; the consumer "~pruned" holds the
// last seq pruned.

#include <string>
#include <vector>

#include "common/clock.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct OutboxEvent {
  int64_t seq = 0;
  std::string item_id;
  // The item's version (catalog); units available after (restocks); 0 (hold events).
  int64_t version = 0;
  // Catalog: item_created | item_updated | price_changed | item_rated.
  // Inventory: restocked | back_in_stock, and per hold reserved | sold (committed) |
  // unsold (a committed hold given back) | released | expired.
  std::string kind;
  Millis created_at = 0;
  int64_t quantity = 0;  // units restocked or of the hold (inventory)
};

struct OutboxBatch {
  std::vector<OutboxEvent> events;  // oldest first
  bool gap = false;                 // events this consumer never read were pruned
};

class Outbox {
 public:
  // The migration that makes the consumers' table (the outbox table is the service's).
  static const char* kConsumersTable;
  static constexpr Millis kRetentionMs = 7LL * 24 * 3600 * 1000;

  explicit Outbox(persistence::SqlDatabase* db) : db_(db) {}
  // The migration that adds `quantity` to an outbox made before it.
  static const char* kAddQuantity;

  static Status Append(persistence::SqlTxn& t, const std::string& item_id, int64_t version,
                       const std::string& kind, Millis now, int64_t quantity = 0);
  // Up to `limit` events after `consumer`'s cursor (from the start for a new consumer).
  Result<OutboxBatch> Read(const std::string& consumer, int limit);
  // Moves `consumer`'s cursor to `seq` (never back).
  Status Ack(const std::string& consumer, int64_t seq);
  // Moves `consumer`'s cursor to the newest event (after a resynchronisation).
  Status SkipToEnd(const std::string& consumer);
  // Deletes events created before `before`; returns how many.
  Result<int64_t> Prune(Millis before);

 private:
  persistence::SqlDatabase* db_;
};

}  // namespace keel::commerce
