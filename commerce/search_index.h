#pragma once
// Product search ("search" database), fed from the catalog outbox.
//   SQLite:      an FTS5 table ranked by bm25 (name weighs most, then brand and
//                category, then description).
//   PostgreSQL:  a generated, weighted tsvector with a GIN index, ranked by ts_rank.
// One results contract on both: every term is matched as a word prefix (so a word
// still being typed matches), filters by category, brand and price range, facet
// counts over the matched set, and an opaque keyset cursor (score, item id) that
// never repeats or skips an item while the index is unchanged. Without terms,
// results are newest first.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commerce/catalog.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct SearchQuery {
  std::string term;
  std::string category, brand;
  std::optional<int64_t> min_price, max_price;
  int size = 20;  // 1..100
  std::string cursor;
};

struct SearchHit {
  std::string item_id, seller_id, name, currency, category, brand;
  int64_t price = 0;
};

struct SearchResult {
  std::vector<SearchHit> items;
  std::string next_cursor;  // "" on the last page
  // facet name ("category", "brand") -> (value, count), most frequent first.
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> facets;
};

class SearchIndex {
 public:
  static Result<std::unique_ptr<SearchIndex>> Open(std::unique_ptr<persistence::SqlDatabase> db);
  // Idempotent and order-proof: an older version of an item never replaces a newer one.
  Status Upsert(const Item& item);
  // Several in one transaction.
  Status UpsertMany(const std::vector<Item>& items);
  // validation_failed (size, price range) or invalid_cursor.
  Result<SearchResult> Search(const SearchQuery& q);
  // The words of a query as the index matches them (lower-case, at most 8).
  static std::vector<std::string> Terms(std::string_view text);

 private:
  explicit SearchIndex(std::unique_ptr<persistence::SqlDatabase> db) : db_(std::move(db)) {}
  std::unique_ptr<persistence::SqlDatabase> db_;
};

// Drains the catalog outbox into the index on a background thread (at least once;
// Upsert makes repeats harmless). In process, a catalog write wakes it at once;
// writes by other processes are picked up by polling every `poll_ms`.
class SearchIndexer {
 public:
  SearchIndexer(Catalog* catalog, SearchIndex* index, Millis poll_ms = 100)
      : catalog_(catalog), index_(index), poll_ms_(poll_ms) {}
  ~SearchIndexer() { Stop(); }
  void Start();
  void Stop();
  // One pass; returns how many events it applied.
  Result<int> RunOnce();

 private:
  Catalog* catalog_;
  SearchIndex* index_;
  Millis poll_ms_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace keel::commerce
