#pragma once
// Product search ("search" database), fed from the catalog outbox.
//   SQLite:      an FTS5 table ranked by bm25 (name weighs most, then brand and
//                category, then description and attribute values).
//   PostgreSQL:  a generated, weighted tsvector with a GIN index, ranked by ts_rank.
// One results contract on both:
// - Every term of two or more characters is matched as a word prefix (so a word still
//   being typed matches; a one-letter term matches only that whole word). A term with
//   synonyms (SetSynonyms) matches any of them. A term that matches no word of the
//   index, nor do its synonyms, is replaced by the index word within MaxEditsFor(term)
//   edits (search_text.h), and the result says so in `corrected`.
// - Filters: category, brand, price range, minimum rating, attribute values.
// - Facets over the matched set: category, brand, price ranges (kPriceBuckets) and
//   rating ("4 and up": kRatingFacets).
// - Sorts: relevance (kRanking: text score blended with rating and recent sales;
//   newest first without terms), price_asc, price_desc, rating, newest, popular.
// - An opaque keyset cursor (sort key, item id) that never repeats or skips an item
//   while the index is unchanged.
//
// The database matches and ranks; filters, facets, sorts and the page come from "doc
// values", an in-memory column copy of the docs table that every search first brings
// up to date by reading the rows whose `seq` is newer than the last one it saw.
// Writers are serialised and number their rows in commit order, so that read never
// misses one.

#include <atomic>
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
#include "commerce/search_text.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct SearchQuery {
  std::string term;
  std::string category, brand;
  std::optional<int64_t> min_price, max_price;
  int size = 20;  // 1..100
  std::string cursor;
  std::string sort;                   // "" = relevance
  std::optional<int64_t> min_rating;  // 1..5
  // (attribute, value) pairs, all of which an item's attributes must have; values
  // compare as text, case-insensitively (true, 42 and "black" are "true", "42", "black").
  std::vector<std::pair<std::string, std::string>> attributes;
};

struct SearchHit {
  std::string item_id, seller_id, name, currency, category, brand;
  int64_t price = 0;
  int64_t rating_x100 = 0, review_count = 0;
  double trending = 0;  // as last set by SetSignals
};

// How relevance ranks a match, in one place: the text score (normalised so the best
// match of the query is 1) weighs kText, the business signal kBusiness. The business
// signal is kRating * rating / 5 * confidence (review_count / (review_count +
// kRatingPrior): a lone 5-star review counts for less than fifty) plus kSales *
// recent sales / the most any item sold (SetPopularity).
struct Ranking {
  static constexpr double kText = 0.7, kBusiness = 0.3;
  static constexpr double kRating = 0.5, kSales = 0.5, kRatingPrior = 3;
};

// Price facet buckets, in minor units: [from, to), the last one open-ended.
inline constexpr int64_t kPriceBuckets[] = {0, 1000, 2500, 5000, 10000, 25000, 50000};
// Rating facets: items rated at least N stars, for these N.
inline constexpr int64_t kRatingFacets[] = {4, 3, 2, 1};

struct PriceFacet {
  int64_t from = 0, to = -1;  // to: -1 = no upper bound
  int64_t count = 0;
};

struct SearchResult {
  std::vector<SearchHit> items;
  std::string next_cursor;  // "" on the last page
  // facet name ("category", "brand") -> (value, count), most frequent first.
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> facets;
  std::vector<PriceFacet> prices;                    // buckets with a match, cheapest first
  std::vector<std::pair<int64_t, int64_t>> ratings;  // (min stars, count), kRatingFacets order
  std::map<std::string, std::string> corrected;      // typed term -> the word searched for
};

class SearchIndex {
 public:
  static Result<std::unique_ptr<SearchIndex>> Open(std::unique_ptr<persistence::SqlDatabase> db);
  // Idempotent and order-proof: an older version of an item never replaces a newer one.
  Status Upsert(const Item& item);
  // Several in one transaction.
  Status UpsertMany(const std::vector<Item>& items);
  // validation_failed (size, price range, sort, rating, attributes) or invalid_cursor.
  Result<SearchResult> Search(const SearchQuery& q);
  // Up to `size` (1..20) completions of `prefix` (1..100 bytes), from the completions
  // last built (RebuildCompletionsIfStale; the first call builds them).
  Result<std::vector<Suggestion>> Suggest(const std::string& prefix, int size);
  // The words of a query as the index matches them (lower-case, at most 8).
  static std::vector<std::string> Terms(std::string_view text);

  // Synonym groups: each a list of 2-10 single words that match one another. Stored
  // in the search database, replacing the groups before; every index instance (every
  // process) applies them within kSynonymsRecheckMs, with no rebuild.
  using SynonymGroups = std::vector<std::vector<std::string>>;
  static constexpr int64_t kSynonymsRecheckMs = 1000;
  Status SetSynonyms(const SynonymGroups& groups);
  Result<SynonymGroups> Synonyms();

  // Per item id: recent sales (popularity: the relevance blend and sort=popular) and
  // what is trending (Trending), each on any scale (Shop feeds decayed counts). Items
  // not named have none.
  void SetSignals(const std::unordered_map<std::string, double>& popularity,
                  const std::unordered_map<std::string, double>& trending);
  // The `size` most trending active items, of `category` ("" = any).
  std::vector<SearchHit> Trending(const std::string& category, size_t size);
  // The active items among `item_ids`, in the order given.
  std::vector<SearchHit> Lookup(const std::vector<std::string>& item_ids);

 private:
  struct Doc {                        // what filters and facets read: kept small, scanned often
    int32_t category = 0, brand = 0;  // ids into dict_
    int64_t price = 0, created_at = 0;
    int32_t rating_x100 = 0, review_count = 0;
    float popularity = 0, trending = 0;
    bool active = false;
  };
  struct DocText {  // what only the page reads
    std::string item_id, seller_id, name, currency;
  };
  explicit SearchIndex(std::unique_ptr<persistence::SqlDatabase> db) : db_(std::move(db)) {}
  // Applies the docs rows written since the last refresh to the doc values.
  Status Refresh();
  int32_t Intern(const std::string& value);  // callers hold mu_ exclusively
  // The query's terms, each with its synonyms, typos corrected (into `corrected`).
  std::vector<std::vector<std::string>> Expand(const std::vector<std::string>& terms,
                                               std::map<std::string, std::string>* corrected);
  // (doc number, text score: smaller is better) of the docs matching every group.
  // `rank` false: every score is 0 (for sorts that do not use it).
  Result<persistence::SqlRows> Match(const std::vector<std::vector<std::string>>& groups,
                                     bool rank);
  Status ReloadSynonymsIfStale();

 public:
  // Rebuilds the completions from the doc values when they changed and the last build
  // is kCompletionsRebuildMs old; Shop's background thread calls it every second, so
  // completions follow the catalog within a few seconds and no request waits for it.
  void RebuildCompletionsIfStale();

 private:
  std::unique_ptr<persistence::SqlDatabase> db_;
  std::mutex refresh_mu_;  // one refresh at a time
  std::shared_mutex mu_;   // guards everything below
  int64_t last_seq_ = -1;
  std::vector<Doc> docs_;
  std::vector<DocText> texts_;                     // parallel to docs_
  std::unordered_map<int64_t, uint32_t> slot_of_;  // doc number (rowid / doc_no) -> docs_
  std::vector<std::string> dict_;                  // category, brand and attribute text
  std::unordered_map<std::string, int32_t> dict_ids_;
  // Per doc: (attribute name, lower-case value) ids into dict_; read only by filters.
  std::vector<std::vector<std::pair<int32_t, int32_t>>> attrs_;
  std::unordered_map<std::string, uint32_t> slot_of_item_;
  SearchHit HitLocked(uint32_t slot) const;                        // callers hold mu_
  std::unordered_map<std::string, double> popularity_, trending_;  // by item id, as last set
  double max_popularity_ = 0;
  Vocabulary vocabulary_;
  std::map<std::string, std::vector<std::string>> synonyms_;  // word -> the others
  int64_t synonyms_version_ = -1;
  int64_t synonyms_checked_ms_ = -kSynonymsRecheckMs;  // steady clock
  // Completions, rebuilt from the doc values at most every kCompletionsRebuildMs.
  static constexpr int64_t kCompletionsRebuildMs = 5000;
  std::mutex completions_mu_;
  std::shared_ptr<const Completions> completions_;
  bool completions_stale_ = true;  // under mu_
  int64_t completions_built_ms_ = 0;
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
  static constexpr const char* kConsumer = "search";  // its cursor in the catalog outbox

 private:
  Catalog* catalog_;
  SearchIndex* index_;
  Millis poll_ms_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace keel::commerce
