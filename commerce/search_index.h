#pragma once
// Product search ("search" database), fed from the catalog outbox.
//   SQLite:      an FTS5 table ranked by bm25 (name weighs most, then brand and
//                category, then description).
//   PostgreSQL:  a generated, weighted tsvector with a GIN index, ranked by ts_rank.
// One results contract on both: every term of two or more characters is matched as a
// word prefix (so a word still being typed matches; a one-letter term matches only
// that whole word), filters by category, brand and price range, facet counts over the
// matched set, and an opaque keyset cursor (score, item id) that never repeats or
// skips an item while the index is unchanged. Without terms, results are newest first.
//
// The database matches and ranks; filters, facets and the page come from "doc values",
// an in-memory column copy of the docs table that every search first brings up to
// date by reading the rows whose `seq` is newer than the last one it saw. Writers are
// serialised and number their rows in commit order, so that read never misses one.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
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
  struct Doc {                        // what filters and facets read: kept small, scanned often
    int32_t category = 0, brand = 0;  // ids into dict_
    int64_t price = 0, created_at = 0;
    bool active = false;
  };
  struct DocText {  // what only the page reads
    std::string item_id, seller_id, name, currency;
  };
  explicit SearchIndex(std::unique_ptr<persistence::SqlDatabase> db) : db_(std::move(db)) {}
  // Applies the docs rows written since the last refresh to the doc values.
  Status Refresh();
  int32_t Intern(const std::string& value);  // callers hold mu_ exclusively

  std::unique_ptr<persistence::SqlDatabase> db_;
  std::mutex refresh_mu_;  // one refresh at a time
  std::shared_mutex mu_;   // guards everything below
  int64_t last_seq_ = -1;
  std::vector<Doc> docs_;
  std::vector<DocText> texts_;                     // parallel to docs_
  std::unordered_map<int64_t, uint32_t> slot_of_;  // doc number (rowid / doc_no) -> docs_
  std::vector<std::string> dict_;                  // category and brand values
  std::unordered_map<std::string, int32_t> dict_ids_;
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
