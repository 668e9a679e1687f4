#include "commerce/search_index.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "commerce/auth.h"
#include "commerce/validation.h"
#include "common/json.h"

namespace keel::commerce {
namespace {

using persistence::SqlParams;
using persistence::SqlRows;
using persistence::SqlTxn;

constexpr const char* kDocCols =
    "item_id, version, seller_id, name, description, price, currency, category, brand, status, "
    "created_at, rating_x100, review_count, attributes";

// What the index matches of an item's description: the text and its attribute values.
std::string IndexedDescription(const Item& item) {
  std::string out = item.description;
  auto attrs = ParseJson(item.attributes);
  if (!attrs.ok() || !attrs->is_object()) return out;
  for (const auto& [k, v] : attrs->as_object()) {
    if (v.is_string()) out += "\n" + std::string(v.as_string());
  }
  return out;
}

// An attribute value as filters compare it: scalars as lower-case text.
std::optional<std::string> AttributeText(const json::value& v) {
  std::string s;
  if (v.is_string()) {
    s = std::string(v.as_string());
  } else if (v.is_bool() || v.is_number()) {
    s = json::serialize(v);
  } else {
    return std::nullopt;
  }
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Ratings and attributes as doc values; synonyms, one row of JSON groups and a version.
constexpr const char* kRatingAndAttributes =
    "ALTER TABLE docs ADD COLUMN rating_x100 BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE docs ADD COLUMN review_count BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE docs ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';";
constexpr const char* kSynonymsTable =
    "CREATE TABLE synonyms(id BIGINT PRIMARY KEY, version BIGINT NOT NULL, groups TEXT NOT NULL);";

std::vector<std::string> Migrations(bool postgres) {
  if (postgres) {
    return {
        "CREATE TABLE docs(item_id TEXT PRIMARY KEY, version BIGINT NOT NULL, seller_id TEXT NOT "
        "NULL, name TEXT NOT NULL, description TEXT NOT NULL, price BIGINT NOT NULL, currency "
        "TEXT NOT NULL, category TEXT NOT NULL, brand TEXT NOT NULL, status TEXT NOT NULL, "
        "created_at BIGINT NOT NULL, tsv tsvector GENERATED ALWAYS AS ("
        "setweight(to_tsvector('simple', name), 'A') || "
        "setweight(to_tsvector('simple', brand || ' ' || category), 'B') || "
        "setweight(to_tsvector('simple', description), 'C')) STORED);"
        "CREATE INDEX docs_tsv ON docs USING GIN(tsv);"
        "CREATE INDEX docs_newest ON docs(created_at DESC, item_id);"
        "CREATE INDEX docs_category ON docs(category);"
        "CREATE INDEX docs_brand ON docs(brand);",
        // Doc values: a stable number per doc and a commit-ordered change sequence.
        "ALTER TABLE docs ADD COLUMN doc_no BIGSERIAL;"
        "ALTER TABLE docs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;"
        "CREATE INDEX docs_seq ON docs(seq);"
        "DROP INDEX docs_newest; DROP INDEX docs_category; DROP INDEX docs_brand;",
        kRatingAndAttributes,
        kSynonymsTable,
    };
  }
  return {
      "CREATE TABLE docs(rowid INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE, version BIGINT "
      "NOT NULL, seller_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, price "
      "BIGINT NOT NULL, currency TEXT NOT NULL, category TEXT NOT NULL, brand TEXT NOT NULL, "
      "status TEXT NOT NULL, created_at BIGINT NOT NULL);"
      "CREATE INDEX docs_newest ON docs(created_at DESC, item_id);"
      "CREATE INDEX docs_category ON docs(category);"
      "CREATE INDEX docs_brand ON docs(brand);"
      "CREATE VIRTUAL TABLE docs_fts USING fts5(name, brand, category, description, "
      "tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3');",
      // Doc values: a commit-ordered change sequence.
      "ALTER TABLE docs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
      "CREATE INDEX docs_seq ON docs(seq);"
      "DROP INDEX docs_newest; DROP INDEX docs_category; DROP INDEX docs_brand;",
      kRatingAndAttributes,
      kSynonymsTable,
  };
}

// FNV-1a: a stable fingerprint of what a cursor was made for.
uint64_t Fingerprint(const SearchQuery& q, const std::vector<std::vector<std::string>>& groups) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xFF) * 1099511628211ull;
  };
  for (const auto& g : groups) {
    for (const auto& t : g) mix(t);
    mix("&");
  }
  mix("|");
  mix(q.category);
  mix(q.brand);
  mix(q.min_price ? std::to_string(*q.min_price) : "-");
  mix(q.max_price ? std::to_string(*q.max_price) : "-");
  mix(q.sort);
  mix(q.min_rating ? std::to_string(*q.min_rating) : "-");
  for (const auto& [k, v] : q.attributes) {
    mix(k);
    mix(v);
  }
  return h;
}

struct Cursor {
  int64_t key = 0;
  std::string item_id;
};

std::string EncodeCursor(uint64_t fp, const Cursor& c) {
  return Base64UrlEncode("c1|" + std::to_string(fp) + "|" + std::to_string(c.key) + "|" +
                         c.item_id);
}

Result<Cursor> DecodeCursor(const std::string& text, uint64_t fp) {
  const Status bad = Status::InvalidArgument(
      "cursor is not one this search returned (the query or filters changed?)", "invalid_cursor");
  if (text.size() > 512) return bad;
  auto raw = Base64UrlDecode(text);
  if (!raw.ok()) return bad;
  const std::string& s = raw.value();
  size_t a = s.find('|'), b = s.find('|', a + 1), c = s.find('|', b + 1);
  if (a == std::string::npos || b == std::string::npos || c == std::string::npos ||
      s.substr(0, a) != "c1" || s.substr(a + 1, b - a - 1) != std::to_string(fp)) {
    return bad;
  }
  Cursor cur;
  cur.key = std::strtoll(s.substr(b + 1, c - b - 1).c_str(), nullptr, 10);
  cur.item_id = s.substr(c + 1);
  return cur;
}

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const std::set<std::string> kSorts = {"",       "relevance", "price_asc", "price_desc",
                                      "rating", "newest",    "popular"};

Status CheckQuery(const SearchQuery& q) {
  KEEL_RETURN_IF_ERROR(CheckRange("size", q.size, 1, 100));
  if (q.min_price && q.max_price && *q.min_price > *q.max_price) {
    return FieldError("min_price", "must not exceed max_price");
  }
  KEEL_RETURN_IF_ERROR(CheckText("term", q.term, 0, 200));
  if (!kSorts.count(q.sort)) {
    return FieldError("sort",
                      "must be relevance, price_asc, price_desc, rating, newest or popular");
  }
  if (q.min_rating) KEEL_RETURN_IF_ERROR(CheckRange("min_rating", *q.min_rating, 1, 5));
  if (q.attributes.size() > 5) return FieldError("attr", "at most 5 attribute filters");
  for (const auto& [k, v] : q.attributes) {
    KEEL_RETURN_IF_ERROR(CheckText("attr." + k, k, 1, 64));
    KEEL_RETURN_IF_ERROR(CheckText("attr." + k, v, 1, 200));
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> SearchIndex::Terms(std::string_view text) { return SplitWords(text, 8); }

Result<std::unique_ptr<SearchIndex>> SearchIndex::Open(
    std::unique_ptr<persistence::SqlDatabase> db) {
  KEEL_RETURN_IF_ERROR(db->Migrate(Migrations(db->postgres())));
  std::unique_ptr<SearchIndex> index(new SearchIndex(std::move(db)));
  KEEL_RETURN_IF_ERROR(index->Refresh());  // load the doc values now, not on the first search
  KEEL_RETURN_IF_ERROR(index->ReloadSynonymsIfStale());
  return index;
}

Status SearchIndex::Upsert(const Item& item) { return UpsertMany({item}); }

Status SearchIndex::UpsertMany(const std::vector<Item>& items) {
  const std::string upsert =
      std::string("INSERT INTO docs(") + kDocCols +
      ", seq) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON "
      "CONFLICT(item_id) DO UPDATE SET version=excluded.version, "
      "seller_id=excluded.seller_id, name=excluded.name, description=excluded.description, "
      "price=excluded.price, currency=excluded.currency, category=excluded.category, "
      "brand=excluded.brand, status=excluded.status, rating_x100=excluded.rating_x100, "
      "review_count=excluded.review_count, attributes=excluded.attributes, seq=excluded.seq "
      "WHERE docs.version < excluded.version";
  return db_->Transact([&](SqlTxn& t) -> Status {
    // Writers take turns (SQLite: BEGIN IMMEDIATE; PostgreSQL: this lock), so seq
    // numbers are handed out in commit order and Refresh() never skips a row.
    if (db_->postgres()) {
      KEEL_RETURN_IF_ERROR(
          t.Exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.docs'))", {})
              .status());
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows top, t.Query("SELECT COALESCE(MAX(seq), 0) FROM docs"));
    int64_t seq = top[0].Int(0);
    for (const auto& item : items) {
      const std::string description = IndexedDescription(item);
      SqlParams p = {
          item.id,         item.version,       item.seller_id,    item.name,       description,
          item.price,      item.currency,      item.category,     item.brand,      item.status,
          item.created_at, item.rating_x100(), item.review_count, item.attributes, ++seq};
      if (db_->postgres()) {
        KEEL_RETURN_IF_ERROR(t.Exec(upsert, p).status());
        continue;
      }
      KEEL_ASSIGN_OR_RETURN(SqlRows r, t.Query(upsert + " RETURNING rowid", p));
      if (r.empty()) continue;  // an older or equal version: nothing to do
      int64_t rowid = r[0].Int(0);
      KEEL_RETURN_IF_ERROR(t.Exec("DELETE FROM docs_fts WHERE rowid=$1", {rowid}).status());
      KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO docs_fts(rowid, name, brand, category, "
                                  "description) VALUES($1,$2,$3,$4,$5)",
                                  {rowid, item.name, item.brand, item.category, description})
                               .status());
    }
    return Status::Ok();
  });
}

int32_t SearchIndex::Intern(const std::string& value) {
  auto [it, added] = dict_ids_.emplace(value, static_cast<int32_t>(dict_.size()));
  if (added) dict_.push_back(value);
  return it->second;
}

Status SearchIndex::Refresh() {
  std::lock_guard<std::mutex> one(refresh_mu_);
  int64_t since;
  {
    std::shared_lock<std::shared_mutex> r(mu_);
    since = last_seq_;
  }
  const std::string sql = std::string("SELECT ") + (db_->postgres() ? "doc_no" : "rowid") +
                          ", seq, item_id, seller_id, name, currency, category, brand, price, "
                          "created_at, status, rating_x100, review_count, attributes, "
                          "description FROM docs WHERE seq > $1 ORDER BY seq";
  KEEL_ASSIGN_OR_RETURN(SqlRows rows, db_->Query(sql, {since}));
  if (rows.empty()) return Status::Ok();
  std::unique_lock<std::shared_mutex> w(mu_);
  for (const auto& r : rows) {
    auto [it, added] = slot_of_.emplace(r.Int(0), static_cast<uint32_t>(docs_.size()));
    if (added) {
      docs_.emplace_back();
      texts_.emplace_back();
      attrs_.emplace_back();
    }
    const uint32_t slot = it->second;
    Doc& d = docs_[slot];
    texts_[slot] = {r.Text(2), r.Text(3), r.Text(4), r.Text(5)};
    slot_of_item_[texts_[slot].item_id] = slot;
    d.category = Intern(r.Text(6));
    d.brand = Intern(r.Text(7));
    d.price = r.Int(8);
    d.created_at = r.Int(9);
    d.active = r.Text(10) == "active";
    d.rating_x100 = static_cast<int32_t>(r.Int(11));
    d.review_count = static_cast<int32_t>(r.Int(12));
    auto pop = popularity_.find(texts_[slot].item_id);
    d.popularity = pop == popularity_.end() ? 0.0f : static_cast<float>(pop->second);
    auto hot = trending_.find(texts_[slot].item_id);
    d.trending = hot == trending_.end() ? 0.0f : static_cast<float>(hot->second);
    attrs_[slot].clear();
    if (auto attrs = ParseJson(r.Text(13)); attrs.ok() && attrs->is_object()) {
      for (const auto& [k, v] : attrs->as_object()) {
        if (auto text = AttributeText(v)) {
          attrs_[slot].emplace_back(Intern("attr:" + std::string(k)), Intern(*text));
        }
      }
    }
    for (int col : {4, 6, 7, 14}) {
      for (const auto& word : SplitWords(r.Text(col), 200)) vocabulary_.Add(word);
    }
    last_seq_ = std::max(last_seq_, r.Int(1));
  }
  completions_stale_ = true;
  return Status::Ok();
}

void SearchIndex::SetSignals(const std::unordered_map<std::string, double>& popularity,
                             const std::unordered_map<std::string, double>& trending) {
  std::unique_lock<std::shared_mutex> w(mu_);
  if (popularity_ == popularity && trending_ == trending) return;
  popularity_ = popularity;
  trending_ = trending;
  max_popularity_ = 0;
  for (auto& d : docs_) d.popularity = d.trending = 0;
  for (const auto& [item_id, v] : popularity_) {
    max_popularity_ = std::max(max_popularity_, v);
    if (auto it = slot_of_item_.find(item_id); it != slot_of_item_.end()) {
      docs_[it->second].popularity = static_cast<float>(v);
    }
  }
  for (const auto& [item_id, v] : trending_) {
    if (auto it = slot_of_item_.find(item_id); it != slot_of_item_.end()) {
      docs_[it->second].trending = static_cast<float>(v);
    }
  }
  completions_stale_ = true;
}

SearchHit SearchIndex::HitLocked(uint32_t slot) const {
  const Doc& d = docs_[slot];
  const DocText& t = texts_[slot];
  return {t.item_id,      t.seller_id, t.name,        t.currency,     dict_[d.category],
          dict_[d.brand], d.price,     d.rating_x100, d.review_count, d.trending};
}

std::vector<SearchHit> SearchIndex::Trending(const std::string& category, size_t size) {
  if (!Refresh().ok()) spdlog::warn("trending: the index could not refresh; answering from memory");
  std::shared_lock<std::shared_mutex> r(mu_);
  auto cat = dict_ids_.find(category);
  if (!category.empty() && cat == dict_ids_.end()) return {};
  std::vector<uint32_t> slots;
  for (uint32_t slot = 0; slot < docs_.size(); ++slot) {
    const Doc& d = docs_[slot];
    if (d.active && d.trending > 0 && (category.empty() || d.category == cat->second)) {
      slots.push_back(slot);
    }
  }
  auto before = [&](uint32_t a, uint32_t b) {
    if (docs_[a].trending != docs_[b].trending) return docs_[a].trending > docs_[b].trending;
    return texts_[a].item_id < texts_[b].item_id;
  };
  const size_t n = std::min(size, slots.size());
  std::partial_sort(slots.begin(), slots.begin() + static_cast<ptrdiff_t>(n), slots.end(), before);
  std::vector<SearchHit> out;
  for (size_t i = 0; i < n; ++i) out.push_back(HitLocked(slots[i]));
  return out;
}

std::vector<SearchHit> SearchIndex::Lookup(const std::vector<std::string>& item_ids) {
  if (!Refresh().ok()) spdlog::warn("lookup: the index could not refresh; answering from memory");
  std::shared_lock<std::shared_mutex> r(mu_);
  std::vector<SearchHit> out;
  for (const auto& id : item_ids) {
    auto it = slot_of_item_.find(id);
    if (it != slot_of_item_.end() && docs_[it->second].active) out.push_back(HitLocked(it->second));
  }
  return out;
}

std::vector<std::vector<std::string>> SearchIndex::Expand(
    const std::vector<std::string>& terms, std::map<std::string, std::string>* corrected) {
  std::shared_lock<std::shared_mutex> r(mu_);
  std::vector<std::vector<std::string>> groups;
  auto with_synonyms = [&](const std::string& t) {
    std::vector<std::string> g{t};
    if (auto it = synonyms_.find(t); it != synonyms_.end()) {
      g.insert(g.end(), it->second.begin(), it->second.end());
    }
    return g;
  };
  for (const auto& t : terms) {
    std::vector<std::string> g = with_synonyms(t);
    bool matches = false;
    for (const auto& w : g) matches = matches || vocabulary_.Matches(w);
    if (!matches) {
      if (auto fixed = vocabulary_.Correct(t)) {
        (*corrected)[t] = *fixed;
        g = with_synonyms(*fixed);
      }
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

Result<SqlRows> SearchIndex::Match(const std::vector<std::vector<std::string>>& groups, bool rank) {
  std::string query;
  const bool pg = db_->postgres();
  for (const auto& g : groups) {
    std::string alt;
    for (const auto& t : g) {
      const bool prefix = t.size() > 1;
      if (!alt.empty()) alt += pg ? " | " : " OR ";
      alt += pg ? "'" + t + (prefix ? "':*" : "'") : "\"" + t + (prefix ? "\"*" : "\"");
    }
    if (!query.empty()) query += pg ? " & " : " AND ";
    query += "(" + alt + ")";
  }
  // Ranking costs about a microsecond a match (bm25's per-row lookups, ts_rank reading
  // each tsvector); a sort that ignores it skips it.
  const char* sql =
      pg ? (rank ? "SELECT doc_no, -CAST(ts_rank(tsv, to_tsquery('simple', $1)) * 1000000 AS "
                   "BIGINT) FROM docs WHERE tsv @@ to_tsquery('simple', $1)"
                 : "SELECT doc_no, 0 FROM docs WHERE tsv @@ to_tsquery('simple', $1)")
         : (rank ? "SELECT rowid, CAST(bm25(docs_fts, 10.0, 4.0, 4.0, 1.0) * 1000000 AS INTEGER) "
                   "FROM docs_fts WHERE docs_fts MATCH $1"
                 : "SELECT rowid, 0 FROM docs_fts WHERE docs_fts MATCH $1");
  if (!pg) return db_->Query(sql, {query});
  // A prepared statement run often goes to PostgreSQL's generic plan, which cannot see
  // the query text and scans every tsvector (40 ms instead of 5): plan each one. And a
  // broad prefix ("pro", 13% of 100k docs) is planned as a scan of every tsvector, 45
  // ms against 26 through the GIN index: take the index always.
  SqlRows rows;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_RETURN_IF_ERROR(t.Exec("SET LOCAL plan_cache_mode = force_custom_plan").status());
    KEEL_RETURN_IF_ERROR(t.Exec("SET LOCAL enable_seqscan = off").status());
    KEEL_ASSIGN_OR_RETURN(rows, t.Query(sql, {query}));
    return Status::Ok();
  }));
  return rows;
}

Result<SearchResult> SearchIndex::Search(const SearchQuery& q) {
  KEEL_RETURN_IF_ERROR(CheckQuery(q));
  KEEL_RETURN_IF_ERROR(Refresh());
  KEEL_RETURN_IF_ERROR(ReloadSynonymsIfStale());
  SearchResult out;
  const std::vector<std::vector<std::string>> groups = Expand(Terms(q.term), &out.corrected);
  const uint64_t fp = Fingerprint(q, groups);
  std::optional<Cursor> after;
  if (!q.cursor.empty()) {
    KEEL_ASSIGN_OR_RETURN(Cursor c, DecodeCursor(q.cursor, fp));
    after = c;
  }
  // The database matches and ranks: (doc number, text score), smaller score first.
  std::optional<SqlRows> ranked;
  if (!groups.empty()) {
    KEEL_ASSIGN_OR_RETURN(SqlRows r, Match(groups, q.sort.empty() || q.sort == "relevance"));
    ranked = std::move(r);
  }
  int64_t best_raw = 0;
  if (ranked) {
    for (const auto& r : *ranked) best_raw = std::min(best_raw, r.Int(1));
  }

  // Filters, facets, sort keys and the page from the doc values.
  std::shared_lock<std::shared_mutex> read(mu_);
  auto id_of = [&](const std::string& v) -> int32_t {
    auto it = dict_ids_.find(v);
    return it == dict_ids_.end() ? -2 : it->second;
  };
  const int32_t category = q.category.empty() ? -1 : id_of(q.category);
  const int32_t brand = q.brand.empty() ? -1 : id_of(q.brand);
  std::vector<std::pair<int32_t, int32_t>> want_attrs;
  for (const auto& [k, v] : q.attributes) {
    want_attrs.emplace_back(id_of("attr:" + k), id_of(*AttributeText(json::value(v))));
  }
  const std::string sort =
      q.sort.empty() || q.sort == "relevance" ? (ranked ? "relevance" : "newest") : q.sort;
  auto key_of = [&](const Doc& d, int64_t raw) -> int64_t {
    if (sort == "price_asc") return d.price;
    if (sort == "price_desc") return -d.price;
    if (sort == "newest") return -d.created_at;
    if (sort == "rating") return -(int64_t{d.rating_x100} * 100000 + d.review_count);
    if (sort == "popular") return -std::llround(double{d.popularity} * 1000);
    const double text = best_raw < 0 ? static_cast<double>(raw) / best_raw : 1.0;
    const double confidence = d.review_count / (d.review_count + Ranking::kRatingPrior);
    const double business =
        Ranking::kRating * d.rating_x100 / 500.0 * confidence +
        Ranking::kSales * (max_popularity_ > 0 ? d.popularity / max_popularity_ : 0);
    return -std::llround(1e6 * (Ranking::kText * text + Ranking::kBusiness * business));
  };
  constexpr size_t kBuckets = std::size(kPriceBuckets);
  std::vector<int64_t> categories(dict_.size()), brands(dict_.size()), prices(kBuckets),
      ratings(std::size(kRatingFacets));
  struct Candidate {
    int64_t key;
    uint32_t slot;
  };
  std::vector<Candidate> page;
  auto consider = [&](uint32_t slot, int64_t raw) {
    const Doc& d = docs_[slot];
    if (!d.active || (category != -1 && d.category != category) ||
        (brand != -1 && d.brand != brand) || (q.min_price && d.price < *q.min_price) ||
        (q.max_price && d.price > *q.max_price) ||
        (q.min_rating && d.rating_x100 < *q.min_rating * 100)) {
      return;
    }
    for (const auto& want : want_attrs) {
      const auto& have = attrs_[slot];
      if (std::find(have.begin(), have.end(), want) == have.end()) return;
    }
    ++categories[d.category];
    ++brands[d.brand];
    ++prices[std::upper_bound(std::begin(kPriceBuckets), std::end(kPriceBuckets), d.price) -
             std::begin(kPriceBuckets) - 1];
    for (size_t i = 0; i < std::size(kRatingFacets); ++i) {
      if (d.rating_x100 >= kRatingFacets[i] * 100) ++ratings[i];
    }
    const int64_t key = key_of(d, raw);
    if (after &&
        (key < after->key || (key == after->key && texts_[slot].item_id <= after->item_id))) {
      return;
    }
    page.push_back({key, slot});
  };
  if (ranked) {
    for (const auto& r : *ranked) {
      auto it = slot_of_.find(r.Int(0));
      if (it != slot_of_.end()) consider(it->second, r.Int(1));  // else: newer than us
    }
  } else {
    for (uint32_t slot = 0; slot < docs_.size(); ++slot) consider(slot, 0);
  }

  auto facet = [&](const std::vector<int64_t>& counts) {
    std::vector<std::pair<std::string, int64_t>> list;
    for (size_t id = 0; id < counts.size(); ++id) {
      if (counts[id] > 0 && !dict_[id].empty()) list.emplace_back(dict_[id], counts[id]);
    }
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (list.size() > 20) list.resize(20);
    return list;
  };
  out.facets["category"] = facet(categories);
  out.facets["brand"] = facet(brands);
  for (size_t i = 0; i < kBuckets; ++i) {
    if (prices[i] == 0) continue;
    out.prices.push_back(
        {kPriceBuckets[i], i + 1 < kBuckets ? kPriceBuckets[i + 1] : -1, prices[i]});
  }
  for (size_t i = 0; i < std::size(kRatingFacets); ++i) {
    out.ratings.emplace_back(kRatingFacets[i], ratings[i]);
  }

  auto before = [&](const Candidate& a, const Candidate& b) {
    return a.key != b.key ? a.key < b.key : texts_[a.slot].item_id < texts_[b.slot].item_id;
  };
  const size_t want = static_cast<size_t>(q.size) + 1;  // one more says "there is a next page"
  if (page.size() > want) {
    std::partial_sort(page.begin(), page.begin() + static_cast<ptrdiff_t>(want), page.end(),
                      before);
    page.resize(want);
  } else {
    std::sort(page.begin(), page.end(), before);
  }
  for (size_t i = 0; i < page.size() && static_cast<int>(i) < q.size; ++i) {
    out.items.push_back(HitLocked(page[i].slot));
  }
  if (page.size() > static_cast<size_t>(q.size)) {
    const auto& last = page[q.size - 1];
    out.next_cursor = EncodeCursor(fp, Cursor{last.key, texts_[last.slot].item_id});
  }
  return out;
}

Status SearchIndex::ReloadSynonymsIfStale() {
  {
    std::shared_lock<std::shared_mutex> r(mu_);
    if (SteadyMs() - synonyms_checked_ms_ < kSynonymsRecheckMs) return Status::Ok();
  }
  KEEL_ASSIGN_OR_RETURN(SqlRows rows,
                        db_->Query("SELECT version, groups FROM synonyms WHERE id=1"));
  std::unique_lock<std::shared_mutex> w(mu_);
  synonyms_checked_ms_ = SteadyMs();
  const int64_t version = rows.empty() ? 0 : rows[0].Int(0);
  if (version == synonyms_version_) return Status::Ok();
  synonyms_version_ = version;
  synonyms_.clear();
  auto groups = ParseJson(rows.empty() ? "[]" : rows[0].Text(1));
  if (!groups.ok() || !groups->is_array()) return Status::Ok();
  for (const auto& g : groups->as_array()) {
    if (!g.is_array()) continue;
    for (const auto& a : g.as_array()) {
      for (const auto& b : g.as_array()) {
        if (a != b) synonyms_[std::string(a.as_string())].push_back(std::string(b.as_string()));
      }
    }
  }
  return Status::Ok();
}

Status SearchIndex::SetSynonyms(const SynonymGroups& groups) {
  if (groups.size() > 500) return FieldError("groups", "at most 500 groups");
  json::array all;
  for (size_t i = 0; i < groups.size(); ++i) {
    const std::string field = "groups[" + std::to_string(i) + "]";
    if (groups[i].size() < 2 || groups[i].size() > 10) {
      return FieldError(field, "must list 2 to 10 words");
    }
    json::array g;
    for (const auto& w : groups[i]) {
      KEEL_RETURN_IF_ERROR(CheckText(field, w, 1, 40));
      auto words = SplitWords(w, 2);
      if (words.size() != 1 || words[0] != w) {
        return FieldError(field, "\"" + w + "\" must be one lower-case word of letters and digits");
      }
      g.push_back(json::value(w));
    }
    all.push_back(std::move(g));
  }
  const std::string body = json::serialize(all);
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) {
    return t
        .Exec(
            "INSERT INTO synonyms(id, version, groups) VALUES(1, 1, $1) ON CONFLICT(id) DO "
            "UPDATE SET version = synonyms.version + 1, groups = excluded.groups",
            {body})
        .status();
  }));
  {
    std::unique_lock<std::shared_mutex> w(mu_);
    synonyms_checked_ms_ = -kSynonymsRecheckMs;  // read them back now
  }
  return ReloadSynonymsIfStale();
}

Result<SearchIndex::SynonymGroups> SearchIndex::Synonyms() {
  KEEL_ASSIGN_OR_RETURN(SqlRows rows, db_->Query("SELECT groups FROM synonyms WHERE id=1"));
  SynonymGroups out;
  auto groups = ParseJson(rows.empty() ? "[]" : rows[0].Text(0));
  if (!groups.ok() || !groups->is_array()) return out;
  for (const auto& g : groups->as_array()) {
    auto& list = out.emplace_back();
    for (const auto& w : g.as_array()) list.emplace_back(w.as_string());
  }
  return out;
}

void SearchIndex::RebuildCompletionsIfStale() {
  std::lock_guard<std::mutex> one(completions_mu_);  // one rebuild at a time
  if (Status s = Refresh(); !s.ok()) spdlog::warn("completions: {}", s.ToString());
  std::vector<Completions::Source> sources;
  {
    std::shared_lock<std::shared_mutex> r(mu_);
    if (completions_ &&
        (!completions_stale_ || SteadyMs() - completions_built_ms_ < kCompletionsRebuildMs)) {
      return;
    }
    std::unordered_map<int32_t, int64_t> named;  // brand and category ids -> items
    for (uint32_t slot = 0; slot < docs_.size(); ++slot) {
      const Doc& d = docs_[slot];
      if (!d.active) continue;
      ++named[d.brand];
      ++named[d.category];
      const double confidence = d.review_count / (d.review_count + Ranking::kRatingPrior);
      sources.push_back({texts_[slot].name, "item", texts_[slot].item_id,
                         d.popularity + d.rating_x100 / 500.0 * confidence});
    }
    for (uint32_t slot = 0; slot < docs_.size() && !named.empty(); ++slot) {
      for (int32_t id : {docs_[slot].category, docs_[slot].brand}) {
        auto it = named.find(id);
        if (it == named.end() || dict_[id].empty()) continue;
        const char* kind = id == docs_[slot].category ? "category" : "brand";
        sources.push_back({dict_[id], kind, "", static_cast<double>(it->second)});
        named.erase(it);
      }
    }
  }
  auto built = std::make_shared<Completions>();
  built->Build(std::move(sources));
  std::unique_lock<std::shared_mutex> w(mu_);
  completions_ = std::move(built);
  completions_stale_ = false;
  completions_built_ms_ = SteadyMs();
}

Result<std::vector<Suggestion>> SearchIndex::Suggest(const std::string& prefix, int size) {
  KEEL_RETURN_IF_ERROR(CheckText("prefix", prefix, 1, 100));
  KEEL_RETURN_IF_ERROR(CheckRange("size", size, 1, 20));
  std::shared_ptr<const Completions> c;
  {
    std::shared_lock<std::shared_mutex> r(mu_);
    c = completions_;
  }
  if (!c) {  // the first request builds them; later ones never wait for a rebuild
    RebuildCompletionsIfStale();
    std::shared_lock<std::shared_mutex> r(mu_);
    c = completions_;
  }
  return c->Find(prefix, static_cast<size_t>(size));
}

void SearchIndexer::Start() {
  stop_ = false;
  thread_ = std::thread([this] {
    while (!stop_) {
      auto n = RunOnce();
      if (!n.ok()) {
        spdlog::warn("search indexer: {}", n.status().ToString());
        catalog_->WaitForEvents(1000);
      } else if (n.value() == 0) {
        catalog_->WaitForEvents(poll_ms_);
      }
    }
  });
}

void SearchIndexer::Stop() {
  stop_ = true;
  catalog_->NotifyEvents();
  if (thread_.joinable()) thread_.join();
}

Result<int> SearchIndexer::RunOnce() {
  KEEL_ASSIGN_OR_RETURN(OutboxBatch batch, catalog_->outbox().Read(kConsumer, 512));
  if (batch.gap) {
    // Events this index never saw were pruned: index every item again, then go on
    // from the newest event.
    spdlog::warn("search indexer: behind the outbox's retention; indexing every item again");
    std::string after;
    for (;;) {
      KEEL_ASSIGN_OR_RETURN(std::vector<Item> items, catalog_->ListAll(after, 1000));
      if (items.empty()) break;
      KEEL_RETURN_IF_ERROR(index_->UpsertMany(items));
      after = items.back().id;
    }
    KEEL_RETURN_IF_ERROR(catalog_->outbox().SkipToEnd(kConsumer));
    return 1;
  }
  const auto& events = batch.events;
  if (events.empty()) return 0;
  std::set<std::string> seen;
  std::vector<std::string> ids;
  for (const auto& e : events) {
    if (seen.insert(e.item_id).second) ids.push_back(e.item_id);  // the row has every version
  }
  KEEL_ASSIGN_OR_RETURN(std::vector<Item> items, catalog_->GetMany(ids));
  KEEL_RETURN_IF_ERROR(index_->UpsertMany(items));
  KEEL_RETURN_IF_ERROR(catalog_->outbox().Ack(kConsumer, events.back().seq));
  return static_cast<int>(events.size());
}

}  // namespace keel::commerce
