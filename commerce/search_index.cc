#include "commerce/search_index.h"

#include <spdlog/spdlog.h>

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
  return std::unique_ptr<SearchIndex>(new SearchIndex(std::move(db)));
}

Status SearchIndex::Upsert(const Item& item) { return UpsertMany({item}); }

Status SearchIndex::UpsertMany(const std::vector<Item>& items) {
  const std::string upsert = std::string("INSERT INTO docs(") + kDocCols +
                             ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT(item_id) DO "
                             "UPDATE SET version=excluded.version, seller_id=excluded.seller_id, "
                             "name=excluded.name, description=excluded.description, "
                             "price=excluded.price, currency=excluded.currency, "
                             "category=excluded.category, brand=excluded.brand, "
                             "status=excluded.status WHERE docs.version < excluded.version";
  return db_->Transact([&](SqlTxn& t) -> Status {
    for (const auto& item : items) {
      SqlParams p = {item.id,          item.version, item.seller_id, item.name,
                     item.description, item.price,   item.currency,  item.category,
                     item.brand,       item.status,  item.created_at};
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

  // The matched set as a subquery yielding (doc columns..., score); smaller score first.
  SqlParams p;
  auto param = [&](persistence::SqlValue v) {
    p.push_back(std::move(v));
    return "$" + std::to_string(p.size());
  };
  std::string filters = "d.status = 'active'";
  if (!q.category.empty()) filters += " AND d.category = " + param(q.category);
  if (!q.brand.empty()) filters += " AND d.brand = " + param(q.brand);
  if (q.min_price) filters += " AND d.price >= " + param(*q.min_price);
  if (q.max_price) filters += " AND d.price <= " + param(*q.max_price);

  std::string matched;
  const std::string cols =
      "d.item_id, d.seller_id, d.name, d.currency, d.category, d.brand, d.price";
  if (terms.empty()) {
    matched = "SELECT " + cols + ", -d.created_at AS score FROM docs d WHERE " + filters;
  } else if (db_->postgres()) {
    std::string tsq;
    for (const auto& t : terms) tsq += (tsq.empty() ? "'" : " & '") + t + "':*";
    std::string qp = param(tsq);
    matched = "SELECT " + cols + ", -CAST(ts_rank(d.tsv, to_tsquery('simple', " + qp +
              ")) * 1000000 AS BIGINT) AS score FROM docs d WHERE d.tsv @@ to_tsquery('simple', " +
              qp + ") AND " + filters;
  } else {
    // CROSS JOIN keeps the full-text match as the outer loop: SQLite would otherwise
    // walk a category or brand index and probe the FTS table row by row.
    std::string match;
    for (const auto& t : terms) match += (match.empty() ? "\"" : " \"") + t + "\"*";
    matched = "SELECT " + cols +
              ", CAST(bm25(docs_fts, 10.0, 4.0, 4.0, 1.0) * 1000000 AS INTEGER) AS score FROM "
              "docs_fts CROSS JOIN docs d ON d.rowid = docs_fts.rowid WHERE docs_fts MATCH " +
              param(match) + " AND " + filters;
  }

  SearchResult out;
  // Facets over the whole matched set (not the page).
  for (const char* facet : {"category", "brand"}) {
    KEEL_ASSIGN_OR_RETURN(
        SqlRows r,
        db_->Query(std::string("SELECT ") + facet + ", COUNT(*) FROM (" + matched + ") m WHERE " +
                       facet + " <> '' GROUP BY " + facet + " ORDER BY 2 DESC, 1 LIMIT 20",
                   p));
    auto& list = out.facets[facet];
    for (const auto& row : r) list.emplace_back(row.Text(0), row.Int(1));
  }

  SqlParams page_params = p;
  std::string page =
      "SELECT item_id, seller_id, name, currency, category, brand, price, score "
      "FROM (" +
      matched + ") m";
  if (after) {
    page_params.push_back(after->score);
    std::string s = "$" + std::to_string(page_params.size());
    page_params.push_back(after->item_id);
    std::string id = "$" + std::to_string(page_params.size());
    page += " WHERE (score > " + s + " OR (score = " + s + " AND item_id > " + id + "))";
  }
  page_params.push_back(static_cast<int64_t>(q.size + 1));
  page += " ORDER BY score, item_id LIMIT $" + std::to_string(page_params.size());
  KEEL_ASSIGN_OR_RETURN(SqlRows rows, db_->Query(page, page_params));
  for (size_t i = 0; i < rows.size() && static_cast<int>(i) < q.size; ++i) {
    const auto& r = rows[i];
    out.items.push_back(
        {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5), r.Int(6)});
  }
  if (static_cast<int>(rows.size()) > q.size) {
    const auto& last = rows[q.size - 1];
    out.next_cursor = EncodeCursor(fp, Cursor{last.Int(7), last.Text(0)});
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
