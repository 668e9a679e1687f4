#include "commerce/search_index.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "commerce/auth.h"
#include "commerce/validation.h"

namespace keel::commerce {
namespace {

using persistence::SqlParams;
using persistence::SqlRows;
using persistence::SqlTxn;

constexpr const char* kDocCols =
    "item_id, version, seller_id, name, description, price, currency, category, brand, status, "
    "created_at";

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
  };
}

// FNV-1a: a stable fingerprint of what a cursor was made for.
uint64_t Fingerprint(const SearchQuery& q, const std::vector<std::string>& terms) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xFF) * 1099511628211ull;
  };
  for (const auto& t : terms) mix(t);
  mix("|");
  mix(q.category);
  mix(q.brand);
  mix(q.min_price ? std::to_string(*q.min_price) : "-");
  mix(q.max_price ? std::to_string(*q.max_price) : "-");
  return h;
}

struct Cursor {
  int64_t score = 0;
  std::string item_id;
};

std::string EncodeCursor(uint64_t fp, const Cursor& c) {
  return Base64UrlEncode("c1|" + std::to_string(fp) + "|" + std::to_string(c.score) + "|" +
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
  cur.score = std::strtoll(s.substr(b + 1, c - b - 1).c_str(), nullptr, 10);
  cur.item_id = s.substr(c + 1);
  return cur;
}

}  // namespace

std::vector<std::string> SearchIndex::Terms(std::string_view text) {
  std::vector<std::string> terms;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty() && terms.size() < 8) terms.push_back(cur.substr(0, 40));
    cur.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      cur.push_back(static_cast<char>(std::tolower(c)));
    } else {
      flush();
    }
  }
  flush();
  return terms;
}

Result<std::unique_ptr<SearchIndex>> SearchIndex::Open(
    std::unique_ptr<persistence::SqlDatabase> db) {
  KEEL_RETURN_IF_ERROR(db->Migrate(Migrations(db->postgres())));
  std::unique_ptr<SearchIndex> index(new SearchIndex(std::move(db)));
  KEEL_RETURN_IF_ERROR(index->Refresh());  // load the doc values now, not on the first search
  return index;
}

Status SearchIndex::Upsert(const Item& item) { return UpsertMany({item}); }

Status SearchIndex::UpsertMany(const std::vector<Item>& items) {
  const std::string upsert = std::string("INSERT INTO docs(") + kDocCols +
                             ", seq) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON "
                             "CONFLICT(item_id) DO UPDATE SET version=excluded.version, "
                             "seller_id=excluded.seller_id, name=excluded.name, "
                             "description=excluded.description, price=excluded.price, "
                             "currency=excluded.currency, category=excluded.category, "
                             "brand=excluded.brand, status=excluded.status, seq=excluded.seq "
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
      SqlParams p = {item.id,          item.version, item.seller_id,  item.name,
                     item.description, item.price,   item.currency,   item.category,
                     item.brand,       item.status,  item.created_at, ++seq};
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
                                  {rowid, item.name, item.brand, item.category, item.description})
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
                          "created_at, status FROM docs WHERE seq > $1 ORDER BY seq";
  KEEL_ASSIGN_OR_RETURN(SqlRows rows, db_->Query(sql, {since}));
  if (rows.empty()) return Status::Ok();
  std::unique_lock<std::shared_mutex> w(mu_);
  for (const auto& r : rows) {
    auto [it, added] = slot_of_.emplace(r.Int(0), static_cast<uint32_t>(docs_.size()));
    if (added) {
      docs_.emplace_back();
      texts_.emplace_back();
    }
    Doc& d = docs_[it->second];
    texts_[it->second] = {r.Text(2), r.Text(3), r.Text(4), r.Text(5)};
    d.category = Intern(r.Text(6));
    d.brand = Intern(r.Text(7));
    d.price = r.Int(8);
    d.created_at = r.Int(9);
    d.active = r.Text(10) == "active";
    last_seq_ = std::max(last_seq_, r.Int(1));
  }
  return Status::Ok();
}

Result<SearchResult> SearchIndex::Search(const SearchQuery& q) {
  KEEL_RETURN_IF_ERROR(CheckRange("size", q.size, 1, 100));
  if (q.min_price && q.max_price && *q.min_price > *q.max_price) {
    return FieldError("min_price", "must not exceed max_price");
  }
  KEEL_RETURN_IF_ERROR(CheckText("term", q.term, 0, 200));
  std::vector<std::string> terms = Terms(q.term);
  uint64_t fp = Fingerprint(q, terms);
  std::optional<Cursor> after;
  if (!q.cursor.empty()) {
    KEEL_ASSIGN_OR_RETURN(Cursor c, DecodeCursor(q.cursor, fp));
    after = c;
  }

  KEEL_RETURN_IF_ERROR(Refresh());

  // The database matches and ranks: (doc number, score), smaller score first.
  std::optional<SqlRows> ranked;
  if (!terms.empty()) {
    std::string sql, query;
    if (db_->postgres()) {
      for (const auto& t : terms) {
        query += (query.empty() ? "'" : " & '") + t + (t.size() > 1 ? "':*" : "'");
      }
      sql =
          "SELECT doc_no, -CAST(ts_rank(tsv, to_tsquery('simple', $1)) * 1000000 AS BIGINT) "
          "FROM docs WHERE tsv @@ to_tsquery('simple', $1)";
    } else {
      for (const auto& t : terms) {
        query += (query.empty() ? "\"" : " \"") + t + (t.size() > 1 ? "\"*" : "\"");
      }
      sql =
          "SELECT rowid, CAST(bm25(docs_fts, 10.0, 4.0, 4.0, 1.0) * 1000000 AS INTEGER) FROM "
          "docs_fts WHERE docs_fts MATCH $1";
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query(sql, {query}));
    ranked = std::move(r);
  }

  // Filters, facets and the page from the doc values.
  std::shared_lock<std::shared_mutex> read(mu_);
  auto id_of = [&](const std::string& v) -> int32_t {
    auto it = dict_ids_.find(v);
    return it == dict_ids_.end() ? -2 : it->second;
  };
  const int32_t category = q.category.empty() ? -1 : id_of(q.category);
  const int32_t brand = q.brand.empty() ? -1 : id_of(q.brand);
  std::vector<int64_t> categories(dict_.size()), brands(dict_.size());
  struct Candidate {
    int64_t score;
    uint32_t slot;
  };
  std::vector<Candidate> page;
  auto consider = [&](uint32_t slot, int64_t score) {
    const Doc& d = docs_[slot];
    if (!d.active || (category != -1 && d.category != category) ||
        (brand != -1 && d.brand != brand) || (q.min_price && d.price < *q.min_price) ||
        (q.max_price && d.price > *q.max_price)) {
      return;
    }
    ++categories[d.category];
    ++brands[d.brand];
    if (after && (score < after->score ||
                  (score == after->score && texts_[slot].item_id <= after->item_id))) {
      return;
    }
    page.push_back({score, slot});
  };
  if (ranked) {
    for (const auto& r : *ranked) {
      auto it = slot_of_.find(r.Int(0));
      if (it != slot_of_.end()) consider(it->second, r.Int(1));  // else: newer than us
    }
  } else {
    for (uint32_t slot = 0; slot < docs_.size(); ++slot) consider(slot, -docs_[slot].created_at);
  }

  SearchResult out;
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

  auto before = [&](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score < b.score : texts_[a.slot].item_id < texts_[b.slot].item_id;
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
    const Doc& d = docs_[page[i].slot];
    const DocText& t = texts_[page[i].slot];
    out.items.push_back(
        {t.item_id, t.seller_id, t.name, t.currency, dict_[d.category], dict_[d.brand], d.price});
  }
  if (page.size() > static_cast<size_t>(q.size)) {
    const auto& last = page[q.size - 1];
    out.next_cursor = EncodeCursor(fp, Cursor{last.score, texts_[last.slot].item_id});
  }
  return out;
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
  KEEL_ASSIGN_OR_RETURN(std::vector<OutboxEvent> events, catalog_->PendingEvents(512));
  if (events.empty()) return 0;
  std::set<std::string> seen;
  std::vector<std::string> ids;
  for (const auto& e : events) {
    if (seen.insert(e.item_id).second) ids.push_back(e.item_id);  // the row has every version
  }
  KEEL_ASSIGN_OR_RETURN(std::vector<Item> items, catalog_->GetMany(ids));
  KEEL_RETURN_IF_ERROR(index_->UpsertMany(items));
  KEEL_RETURN_IF_ERROR(catalog_->AckEvents(events.back().seq));
  return static_cast<int>(events.size());
}

}  // namespace keel::commerce
